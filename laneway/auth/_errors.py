"""Why a bearer token was refused."""

from __future__ import annotations

__all__ = ["AuthError", "KeySourceError"]


class AuthError(Exception):
    """A token was refused; `reason` says why in one line (safe to show the caller: it never
    contains the token or a key)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeySourceError(AuthError):
    """The keys could not be loaded (JWKS URL unreachable, file unreadable): not the caller's
    fault, so the HTTP layer answers 503 rather than 401."""
