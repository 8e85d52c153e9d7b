"""Values as PostgreSQL's `jsonb` stores them: what every service writing record values into
`jsonb` columns shares (the audit log, the worklist's tasks)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MAX_DEPTH", "jsonb_safe", "unstorable"]

MAX_DEPTH = 64
"""How deeply values may nest: deeper than any form or variable needs, shallow enough that no
recursive reader (Python's, PostgreSQL's) meets its own limit."""


def jsonb_safe(value: Any) -> Any:
    """`value` as PostgreSQL's `jsonb` can store it and give back unchanged.

    jsonb refuses NaN and the infinities and the character U+0000; the codec allows them.
    They are stored as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` and U+FFFD, so the
    log keeps the record (lossily, for these values only) instead of refusing it.
    """
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {jsonb_safe(k): jsonb_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonb_safe(v) for v in value]
    return value


def unstorable(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why `value` cannot be kept as it was given, or None when it can: a string (or key) with
    U+0000 or a lone surrogate (JSON's `"\\ud800"` reads as one; it is no character, UTF-8
    cannot encode it, and PostgreSQL refuses it), a number that is NaN or infinite (JSON has
    neither; PostgreSQL refuses both), or nesting deeper than `max_depth`. The reason names
    where, as `a.b[2]`. Iterative, so a hostile depth costs no recursion."""
    if value is None or _flat(value):
        return None  # what nearly every command carries, checked without the walk below
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            flaw = _text_flaw(item)
            if flaw is not None:
                return f"{_at(where)} holds {flaw}"
        elif isinstance(item, float):
            if math.isnan(item) or math.isinf(item):
                return f"{_at(where)} is {item!r}, not a finite number"
        elif isinstance(item, dict | list | tuple):
            if depth >= max_depth:
                return f"{_at(where)} nests deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key, inner in item.items():
                    flaw = _text_flaw(key) if isinstance(key, str) else None
                    if flaw is not None:
                        return f"a key in {_at(where)} holds {flaw}"
                    stack.append((inner, f"{where}.{key}" if where else str(key), depth + 1))
            else:
                stack.extend((inner, f"{where}[{i}]", depth + 1) for i, inner in enumerate(item))
    return None


def _flat(value: Any) -> bool:
    """Whether `value` is an object of booleans, integers, nulls and ASCII strings without
    U+0000, under such keys: storable at a glance (every engine command is checked)."""
    if type(value) is not dict:
        return False
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            if "\x00" in item or not item.isascii():
                return False
        elif kind is not bool and kind is not int and item is not None:
            return False
        if type(key) is not str or "\x00" in key or not key.isascii():
            return False
    return True


def _text_flaw(text: str) -> str | None:
    """What in `text` no store keeps, or None."""
    if "\x00" in text:
        return "the character U+0000"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate (U+D800 to U+DFFF), which is no character"
    return None


def _at(where: str) -> str:
    # a hostile path (thousands of levels, a megabyte key) must not become the whole answer
    if not where:
        return "the value"
    # the path may hold the very surrogate refused: escaped, so the answer can be encoded
    where = where.encode("utf-8", "backslashreplace").decode("utf-8")
    return where if len(where) <= 80 else f"{where[:77]}..."
