"""Headers of a record sent to the dead-letter topic: why, and where it came from."""

from __future__ import annotations

from collections.abc import Iterable

from laneway.codec.errors import DecodeError, EncodeError
from laneway.limits import DEFAULT_MAX_RECORD_BYTES, TooLarge, record_size

Headers = list[tuple[str, str | bytes | None]]

PREFIX = "laneway.dlq."
MAX_ERROR_BYTES = 2048


def dead_letter_headers(error: BaseException, topic: str, partition: int,
                        offset: int) -> list[tuple[str, bytes]]:
    """The Kafka headers for a record no consumer could decode or handle.

    `reason` is the DecodeError's code (`bad-marker`, `unknown-fingerprint`, `truncated`,
    `corrupt`, `trailing-bytes`, `wrong-schema`), `encode-error` for an EncodeError,
    `too-large` for a record over the size limit (`laneway.limits.TooLarge`) and
    `unhandled` for anything else; `error` is the message (at most 2 KiB of UTF-8);
    `exception` the error's class; `topic`, `partition` and `offset` where the record was
    read; `fingerprint` the writer schema's fingerprint (hex) when the header could be read.
    """
    if isinstance(error, DecodeError):
        reason = error.reason
    elif isinstance(error, EncodeError):
        reason = "encode-error"
    elif isinstance(error, TooLarge):
        reason = "too-large"
    else:
        # an error may name its own reason (laneway.agencies.Refused: `unknown-agency`...)
        named = getattr(error, "dead_letter_reason", None)
        reason = named if isinstance(named, str) else "unhandled"
    cls = type(error)
    headers = [
        (PREFIX + "reason", reason.encode()),
        (PREFIX + "error", _clip(str(error) or cls.__name__)),
        (PREFIX + "exception", f"{cls.__module__}.{cls.__qualname__}".encode()),
        (PREFIX + "topic", topic.encode()),
        (PREFIX + "partition", str(partition).encode()),
        (PREFIX + "offset", str(offset).encode()),
    ]
    if isinstance(error, DecodeError) and error.fingerprint:
        headers.append((PREFIX + "fingerprint", error.fingerprint.encode()))
    return headers


def fit_dead_letter(key: bytes | None, value: bytes | None, headers: Headers,
                    limit: int = DEFAULT_MAX_RECORD_BYTES
                    ) -> tuple[bytes | None, bytes | None, Headers]:
    """The dead letter as sent: the record unchanged with `headers` (the original's, then the
    reasons) when it fits in `limit` bytes, else without its value and the original's headers
    (a record close to the limit is over it with the reasons added, and a dead letter the
    topic refuses would stop its consumer like the record did). What was left out is named
    in the header `dropped`; the reason, topic, partition and offset say where to find it."""
    if record_size(key, value, headers) <= limit:
        return key, value, headers
    ours = [(k, v) for k, v in headers if k.startswith(PREFIX)]
    dropped = f"value and headers, {record_size(key, value, headers)} bytes".encode()
    kept_key = key if key is not None and len(key) <= 1024 else None
    return kept_key, None, [*ours, (PREFIX + "dropped", dropped)]


def read_dead_letter_headers(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    """The dead-letter headers of a record as a dict without the prefix (for tools and tests);
    other headers are left out."""
    return {k[len(PREFIX):]: (v or b"").decode("utf-8", "replace")
            for k, v in headers if k.startswith(PREFIX)}


def _clip(text: str) -> bytes:
    data = text.encode("utf-8", "replace")
    if len(data) <= MAX_ERROR_BYTES:
        return data
    return data[: MAX_ERROR_BYTES - 3].decode("utf-8", "ignore").encode() + b"..."
