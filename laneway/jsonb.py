"""Values as PostgreSQL's `jsonb` stores them: what every service writing record values into
`jsonb` columns shares (the audit log, the worklist's tasks)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["jsonb_safe"]


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
