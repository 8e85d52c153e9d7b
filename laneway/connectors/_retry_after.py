"""A far side's asked-for wait (`Retry-After`, or a body's `retry_after`), as seconds."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

__all__ = ["retry_after_s"]

_SECONDS = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?")


def retry_after_s(headers: Mapping[str, str], body_value: object = None,
                  now: float | None = None) -> float | None:
    """Seconds to wait: a number in the body (Discord's `retry_after`) first, else the
    `Retry-After` header as seconds or an HTTP date; None when neither says (or says nonsense).
    The runtime bounds it by the element's longest backoff."""
    if isinstance(body_value, int | float) and not isinstance(body_value, bool) \
            and math.isfinite(body_value) and body_value >= 0:
        return float(body_value)
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), "").strip()
    if not raw:
        return None
    if _SECONDS.fullmatch(raw):
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
