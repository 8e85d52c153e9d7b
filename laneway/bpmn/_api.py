"""`parse` and `parse_file`."""

from __future__ import annotations

import os

from laneway.bpmn._reader import Reader
from laneway.bpmn._xml import MAX_BYTES, check_root, load
from laneway.model import Definitions
from laneway.problems import DiagramError, UnreadableInput


def parse(data: bytes, file: str = "<memory>") -> Definitions:
    """Read a BPMN 2.0 document into the model.

    Raises `DiagramError` listing every problem found: malformed XML (with its line), a DOCTYPE
    declaring entities, a root other than BPMN `definitions`, an input over the size or depth
    limit, duplicate ids or references to ids that do not exist.
    """
    tree = load(data, file)
    root = tree.getroot()
    check_root(root, file)
    reader = Reader(root, file)
    definitions = reader.read(data)
    if reader.problems:
        raise DiagramError(sorted(reader.problems, key=lambda p: p.line))
    return definitions


def parse_file(path: str | os.PathLike[str]) -> Definitions:
    """Read and parse a BPMN file; raises `UnreadableInput` if the file cannot be read."""
    try:
        with open(path, "rb") as fh:
            # One byte over the limit is enough for parse to refuse it with the right message.
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UnreadableInput(f"Cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc
    return parse(data, os.fspath(path))
