"""BPMN 2.0 XML: parse into the immutable model, validate, export with changes.

`parse` refuses what cannot be read safely or consistently (malformed XML, entities, duplicate
ids, dangling references) with a `DiagramError`; `validate` reports what a modeler should fix
before running a diagram; `export` writes the original XML back with only the given changes.
"""

from laneway.bpmn._api import parse, parse_file
from laneway.bpmn._export import Change, SetAttribute, SetText, export
from laneway.bpmn._validate import validate
from laneway.bpmn._xml import (
    LANEWAY_NS,
    MAX_ATTRIBUTES,
    MAX_BYTES,
    MAX_DEPTH,
    MAX_ELEMENTS,
    MAX_PROCESSES,
    STORED_LIMITS,
    Limits,
)

__all__ = [
    "LANEWAY_NS",
    "MAX_ATTRIBUTES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "MAX_PROCESSES",
    "STORED_LIMITS",
    "Change",
    "Limits",
    "SetAttribute",
    "SetText",
    "export",
    "parse",
    "parse_file",
    "validate",
]
