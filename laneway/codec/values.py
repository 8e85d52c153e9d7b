"""JSON-like Python values <-> the `dev.laneway.Value` Avro type.

`Value` is a record around one union (`null|boolean|long|double|string|array|map`), so a
value is written as `{"v": (branch, datum)}`: naming the branch (fastavro's tuple notation)
keeps a bool a bool and a whole float a double, and spares fastavro from trying branches.
Ints must fit a signed 64-bit long; map keys must be strings; values nest at most
`MAX_DEPTH` deep. Anything else raises EncodeError naming where it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from laneway.codec.errors import EncodeError

MAX_DEPTH = 64
_MIN = -(1 << 63)
_MAX = (1 << 63) - 1
_NULL: dict[str, Any] = {"v": None}
_TRUE: dict[str, Any] = {"v": ("boolean", True)}
_FALSE: dict[str, Any] = {"v": ("boolean", False)}


class _Bad(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.segments: list[str] = []


def to_avro_map(values: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A `map<Value>` datum for fastavro; `path` names the field for errors."""
    try:
        return _map(values, 1)
    except _Bad as bad:
        raise EncodeError(bad.message, path + "".join(reversed(bad.segments))) from None
    except RecursionError:
        raise EncodeError("nested too deeply", path) from None


def from_avro_map(datum: Mapping[str, Any]) -> dict[str, Any]:
    """The Python dict of a `map<Value>` fastavro read."""
    return {k: _unwrap(x) for k, x in datum.items()}


def _unwrap(node: Mapping[str, Any]) -> Any:
    v = node["v"]
    t = type(v)
    if t is dict:
        return {k: _unwrap(x) for k, x in v.items()}
    if t is list:
        return [_unwrap(x) for x in v]
    return v


def _wrap(v: Any, depth: int) -> dict[str, Any]:
    t = type(v)
    if t is str:
        return {"v": ("string", v)}
    if t is int:
        if _MIN <= v <= _MAX:
            return {"v": ("long", v)}
        raise _Bad(f"integer {v} does not fit a 64-bit long")
    if t is bool:
        return _TRUE if v else _FALSE
    if t is float:
        return {"v": ("double", v)}
    if v is None:
        return _NULL
    if t is dict:
        return {"v": ("map", _map(v, depth + 1))}
    if t is list or t is tuple:
        return {"v": ("array", _list(v, depth + 1))}
    # subclasses (StrEnum, IntEnum) and other mappings
    if isinstance(v, bool):
        return _TRUE if v else _FALSE
    if isinstance(v, str):
        return {"v": ("string", str(v))}
    if isinstance(v, int):
        return _wrap(int(v), depth)
    if isinstance(v, float):
        return {"v": ("double", float(v))}
    if isinstance(v, Mapping):
        return {"v": ("map", _map(v, depth + 1))}
    if isinstance(v, list | tuple):
        return {"v": ("array", _list(v, depth + 1))}
    raise _Bad(f"cannot encode a {t.__name__} (only JSON-like values: None, bool, int, "
               "float, str, list, dict with str keys)")


def _map(m: Mapping[Any, Any], depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise _Bad(f"nested deeper than {MAX_DEPTH}")
    out: dict[str, Any] = {}
    for k, x in m.items():
        if type(k) is not str:
            if not isinstance(k, str):
                raise _Bad(f"map key {k!r} is a {type(k).__name__}, not a str")
            k = str(k)
        try:
            out[k] = _wrap(x, depth)
        except _Bad as bad:
            bad.segments.append(_key(k))
            raise
    return out


def _list(items: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
    if depth > MAX_DEPTH:
        raise _Bad(f"nested deeper than {MAX_DEPTH}")
    out: list[Any] = []
    for i, x in enumerate(items):
        try:
            out.append(_wrap(x, depth))
        except _Bad as bad:
            bad.segments.append(f"[{i}]")
            raise
    return out


def _key(k: str) -> str:
    return f".{k}" if k.isidentifier() else f"[{json.dumps(k)}]"
