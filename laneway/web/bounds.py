"""Bounds on the numbers and keyed ids a client sends, shared by every route.

A number the route's schema lets through must also fit where it goes: PostgreSQL's `bigint`
(an `OFFSET`, a sequence number, a task key) and Avro's `long` (versions, retries, a message's
time-to-live in milliseconds) hold at most 2^63 - 1. Past it the store or the encoder raises
far from the request, and the client got a 500. Every integer and number of a route's
parameters and bodies is bounded (tests/unit/test_api_bounds.py holds every route to it), so
an out-of-range value is FastAPI's 422 naming the field.
"""

from __future__ import annotations

__all__ = ["MAX_INT", "MAX_TTL_S", "keyed_id"]

MAX_INT = 2**63 - 1
"""The largest integer PostgreSQL's `bigint` and Avro's `long` hold."""
MAX_TTL_S = 2**53 // 1000
"""The longest time-to-live in seconds (about 285,000 years): its milliseconds are an integer
a float holds exactly (2^53), so the bound compares exactly and the product fits a `long`."""


def keyed_id(value: str) -> tuple[str, int] | None:
    """(instance id, key) of an id `<instanceId>:<key>` (a task's or an incident's), or None
    when it is not one: the key is ASCII digits within `MAX_INT` (`str.isdigit` takes "²",
    which `int` refuses)."""
    instance_id, _, key = value.rpartition(":")
    if not instance_id or not key or not key.isascii() or not key.isdigit():
        return None
    # a key of more digits than MAX_INT has is over it (and no 4,300-digit `int()` error)
    number = int(key) if len(key) <= 19 else MAX_INT + 1
    return (instance_id, number) if number <= MAX_INT else None
