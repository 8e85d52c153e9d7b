"""What the codec raises."""

from __future__ import annotations


class CodecError(Exception):
    """Base of the codec's errors."""


class EncodeError(CodecError):
    """A value cannot be written: `path` names where in the record it is (`value.items[2]`)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


class DecodeError(CodecError):
    """Bytes that are no record of a known schema.

    `reason` is a short stable code, for the dead-letter headers and for metrics:
    `bad-marker`, `unknown-fingerprint`, `truncated`, `corrupt`, `trailing-bytes`,
    `wrong-schema`; `detail` says more in words. `fingerprint` is the writer schema's
    fingerprint (hex, as written) when the header could be read.
    """

    def __init__(self, reason: str, detail: str = "", fingerprint: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.fingerprint = fingerprint
