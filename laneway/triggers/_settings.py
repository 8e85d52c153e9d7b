"""Reading a trigger's settings: the helpers every built-in type uses, for plugins too."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["whole_number"]

# ASCII digits only, and few of them: `int()` also takes '²'-free Unicode digits, '+5',
# '5_000' and a number of a million digits (slow to convert), none of which a setting means
_DIGITS = re.compile(r"[0-9]{1,18}")


def whole_number(settings: Mapping[str, str], name: str, default: int, low: int,
                 high: int) -> int:
    """The setting `name` (by local name) as a whole number from `low` to `high`, `default`
    when the diagram does not set it; raises ValueError saying what was expected."""
    raw = settings.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise ValueError(f"Expected laneway:{name} to be a whole number from {low} to {high}, "
                         f"but got {raw[:20]!r}")
    return int(text)
