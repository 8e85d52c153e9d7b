"""How large a record and a command's variables may be, shared by every producer.

Kafka refuses a record over its topic's `max.message.bytes` (and librdkafka refuses one over
the producer's `message.max.bytes`, 1,000,000 by default, before it leaves the process). A
refused record is no answer a client can act on: retried, it fails again. So every Laneway
producer measures what it writes first, and what is too large is refused where it is made —
a 413 at the API, a rejection in the engine, a shortened dead letter — never sent to fail.

The stack creates every topic with `TOPIC_MAX_MESSAGE_BYTES` stated (Kafka's own default,
written down so the limit is a contract and not an accident of the broker's version); the
record limit defaults below it, leaving room for the record's headers and batch framing.
See docs/limits.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "DEFAULT_MAX_VARIABLES_BYTES",
    "TOPIC_MAX_MESSAGE_BYTES",
    "TooLarge",
    "json_size",
    "record_size",
    "variables_too_large",
]

TOPIC_MAX_MESSAGE_BYTES = 1_048_588
"""`max.message.bytes` of every Laneway topic (scripts/stack/topics.py): Kafka's default."""

DEFAULT_MAX_RECORD_BYTES = 1_000_000
"""The largest record (key, value and headers) any Laneway service produces
(`LANEWAY_MAX_RECORD_BYTES`): librdkafka's own producer limit, 48 KiB under the topics'."""

DEFAULT_MAX_VARIABLES_BYTES = 256 * 1024
"""The largest variables one command may carry, as compact JSON (`LANEWAY_MAX_VARIABLES_BYTES`):
a quarter of a record, so a start, a task completion and a message can all meet in one
instance's snapshot before it nears the record limit."""


class TooLarge(ValueError):
    """A value or a record is larger than its limit. Not retryable: the same input fails the
    same way; the API answers 413."""


def record_size(key: bytes | None, value: bytes | None,
                headers: Iterable[tuple[str, str | bytes | None]] | None = None) -> int:
    """The bytes a record takes against the producer's limit: key, value and headers."""
    size = len(key or b"") + len(value or b"")
    for name, data in headers or ():
        size += len(name) + len(data or b"")
    return size


def json_size(value: Any) -> int:
    """The size of `value` as compact UTF-8 JSON (what a client sent, near enough)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                          default=str).encode("utf-8", "replace"))


def variables_too_large(value: Mapping[str, Any], limit: int) -> str | None:
    """Why the command value's `variables` are over `limit` bytes of JSON, or None. Only the
    variables are measured: they are what grows an instance's state."""
    variables = value.get("variables")
    if not variables:
        return None
    size = json_size(variables)
    if size <= limit:
        return None
    return f"Expected variables of at most {limit} bytes of JSON, but they are {size} bytes"
