"""`parse` and `parse_file`."""

from __future__ import annotations

import os

from laneway.bpmn._reader import Reader
from laneway.bpmn._xml import Limits, check_root, load
from laneway.model import Definitions
from laneway.problems import DiagramError, UnreadableInput


def parse(data: bytes, file: str = "<memory>", limits: Limits | None = None) -> Definitions:
    """Read a BPMN 2.0 document into the model.

    Raises `DiagramError` listing every problem found: malformed XML (with its line), a
    DOCTYPE, a root other than BPMN `definitions`, an input over one of `limits` (size,
    elements, depth, processes; default `Limits()`), duplicate ids or references to ids that
    do not exist. Nothing else: the time and memory it takes grow linearly with the input.
    """
    limits = limits or Limits()
    loaded = load(data, file, limits)
    root = loaded.tree.getroot()
    check_root(root, file)
    reader = Reader(root, file, loaded.prefixes, limits)
    definitions = reader.read(data)
    if reader.problems:
        raise DiagramError(sorted(reader.problems, key=lambda p: p.line))
    return definitions


def parse_file(path: str | os.PathLike[str], limits: Limits | None = None) -> Definitions:
    """Read and parse a BPMN file; raises `UnreadableInput` if the file cannot be read."""
    limits = limits or Limits()
    try:
        with open(path, "rb") as fh:
            # One byte over the limit is enough for parse to refuse it with the right message.
            data = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        raise UnreadableInput(f"Cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc
    return parse(data, os.fspath(path), limits)
