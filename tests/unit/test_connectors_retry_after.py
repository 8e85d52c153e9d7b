"""Reading a far side's asked-for wait: Retry-After as seconds or an HTTP date, a body's
retry_after first; nonsense is no wait."""

from __future__ import annotations

import math

from laneway.connectors import retry_after_s

NOW = 1_800_000_000.0


def test_seconds_a_date_and_a_body_value_are_read() -> None:
    assert retry_after_s({"Retry-After": "3"}) == 3.0
    assert retry_after_s({"retry-after": "1.5"}) == 1.5
    # an HTTP date 30 s after now; one already past is no wait at all
    date = retry_after_s({"Retry-After": "Thu, 01 Jan 1970 00:00:30 GMT"}, now=0.0)
    assert date == 30.0
    assert retry_after_s({"Retry-After": "Thu, 01 Jan 1970 00:00:30 GMT"}, now=NOW) == 0.0
    assert retry_after_s({"Retry-After": "9"}, body_value=1.25) == 1.25  # the body first


def test_nonsense_is_no_wait() -> None:
    for value in ("", "soon", "-1", "1e9", "NaN", "9" * 20):
        assert retry_after_s({"Retry-After": value}) is None, value
    assert retry_after_s({}) is None
    for body in (math.nan, math.inf, -1, True, "3"):
        assert retry_after_s({}, body_value=body) is None, body
