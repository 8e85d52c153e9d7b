"""Principals proven by JWT: settings, verification and errors (docs/people.md, "Principals").

    settings = AuthSettings.from_env()         # exactly one key source, else SettingsError
    verifier = TokenVerifier(settings)          # one per process
    principal = verifier.verify(token)          # or AuthError(reason)

FastAPI dependencies live in `laneway.auth.http`, the development key and `issue_token` in
`laneway.auth.dev`.
"""

from laneway.auth._errors import AuthError, KeySourceError
from laneway.auth._keys import KEY_SET_ALGORITHMS
from laneway.auth._settings import (
    KEY_SOURCE_VARIABLES,
    AuthSettings,
    check_https_url,
    max_lifetime_s,
)
from laneway.auth._verify import SECRET_ALGORITHMS, TokenVerifier

__all__ = [
    "KEY_SET_ALGORITHMS",
    "KEY_SOURCE_VARIABLES",
    "SECRET_ALGORITHMS",
    "AuthError",
    "AuthSettings",
    "KeySourceError",
    "TokenVerifier",
    "check_https_url",
    "max_lifetime_s",
]
