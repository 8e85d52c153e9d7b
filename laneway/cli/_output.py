"""What the command line prints: problems, records as JSON lines, and what a run waits on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from laneway.diagram_check import in_order
from laneway.problems import Problem
from laneway.records import Record, RecordKind

# The fields of a record a reader of `laneway run` needs; the rest (record id, token and scope
# ids, principal) is the same on every line of a local run or only matters inside the engine.
_RECORD_FIELDS = ("instanceId", "intent", "elementId", "elementType", "timestamp", "value")


def print_problems(problems: Iterable[Problem], out: TextIO) -> int:
    """Print problems sorted by file then line, each once; return how many were printed."""
    unique = in_order(list(problems))
    for problem in unique:
        # One line per problem, always: libxml2's messages quote the offending source text,
        # newlines included.
        print(" ".join(str(problem).split()), file=out)
    return len(unique)


def record_line(record: Record) -> str:
    """One record as one line of compact JSON (a rejection says so in `kind`)."""
    full = record.to_dict()
    data = {name: full[name] for name in _RECORD_FIELDS}
    if record.kind != RecordKind.EVENT:
        data["kind"] = record.kind.value
    return json.dumps(data, separators=(",", ":"), default=_plain)


def _plain(value: object) -> Any:
    # Record values are JSON-like but may hold read-only mappings or tuples from the model.
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^job of type 'decision' at '(?P<gateway>[^']*)'"),
     "give --jobs decision='{{\"flows\": [{flows}]}}' naming the flows to take"),
    (re.compile(r"^decision job of type '(?P<type>[^']*)' at '(?P<gateway>[^']*)'"),
     "give --jobs {type}='{{\"flows\": [{flows}]}}' naming the flows to take"),
    (re.compile(r"^job of type '(?P<type>[^']*)' at '[^']*' \(a (?P<lang>\S+) script\)"),
     "a worker runs {lang}: give --jobs {type}=JSON with the variables the script sets"),
    (re.compile(r"^job of type '(?P<type>[^']*)' "), "give --jobs {type}=JSON or --jobs auto"),
    (re.compile(r"^user task '(?P<id>[^']*)'"), "give --complete {id}=JSON"),
    (re.compile(r"^message '(?P<name>[^']*)' with key '(?P<key>[^']*)'"),
     "give --message {name}:{key}=JSON"),
    (re.compile(r"^message '(?P<name>[^']*)'"), "give --message {name}=JSON"),
    (re.compile(r"^signal '(?P<name>[^']*)'"), "give --signal {name}"),
    (re.compile(r"^timer "), "give --timers instant, or wait with --timers real"),
    (re.compile(r"^condition '"),
     "it is looked at when the variables it reads change: set them with --var, or from a task "
     "or job's answer"),
    (re.compile(r"^gateway '[^']*' joining"),
     "a join waits for flows that did not arrive; check the diagram"),
)


def waiting_line(what: str, outgoing: Mapping[str, list[str]] | None = None,
                 activities: Mapping[str, list[str]] | None = None) -> str:
    """`waiting: <what LocalRunner.waiting_on says> (<which option provides it>)`.

    `outgoing` (element id -> outgoing flow ids) lets the hint for a decision job name the
    flows the gateway could take; `activities` (ad-hoc subprocess id -> the activities a
    choice may start) the activities of an ad-hoc subprocess's.
    """
    for pattern, hint in _HINTS:
        match = pattern.match(what)
        if match:
            fields = match.groupdict()
            if "gateway" in fields and fields["gateway"] in (activities or {}):
                ids = ", ".join(json.dumps(a) for a in (activities or {})[fields["gateway"]])
                kind = fields.get("type", "decision")
                return (f"waiting: {what} (give --jobs {kind}='{{\"activities\": [{ids}], "
                        f"\"done\": false}}' naming the activities to start, or "
                        f"'{{\"done\": true}}')")
            if "gateway" in fields:
                flows = (outgoing or {}).get(fields["gateway"]) or ["FLOW_ID"]
                fields["flows"] = ", ".join(json.dumps(f) for f in flows)
            return f"waiting: {what} ({hint.format(**fields)})"
    return f"waiting: {what}"
