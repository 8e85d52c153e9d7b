"""Bearer tokens for tests: one development key per test session, and tokens signed with it.

    from tests.auth import ADMIN, auth_header, token
    client.get("/api/definitions", headers=auth_header("carla", roles=["modeler"]))
    httpx.post(url, headers=ADMIN, json=...)

Services started by tests verify against `jwks_file()`: `tests/integration/conftest.py` puts it
in the environment (`LANEWAY_JWT_JWKS_FILE`) for the whole session, and the e2e harness passes
it to every service it starts. An in-process app gets `verifier()` on `app.state.verifier`.
The key lives in a temporary directory removed when the test process ends.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from laneway.auth import AuthSettings, TokenVerifier
from laneway.auth.dev import JWKS_FILE, ensure_dev_key, issue_token

__all__ = [
    "ADMIN",
    "ADMIN_TOKEN",
    "auth_env",
    "auth_header",
    "jwks_file",
    "key_dir",
    "signing_key",
    "token",
    "verifier",
]


@functools.cache
def key_dir() -> Path:
    """The session's key directory (created on first use, removed at exit)."""
    directory = Path(tempfile.mkdtemp(prefix="laneway-test-jwt-"))
    atexit.register(shutil.rmtree, directory, True)
    ensure_dev_key(directory)
    return directory


def signing_key() -> Path:
    """The private key tokens are signed with."""
    return ensure_dev_key(key_dir())


def jwks_file() -> Path:
    """The public keys services verify with (LANEWAY_JWT_JWKS_FILE)."""
    return key_dir() / JWKS_FILE


def auth_env() -> dict[str, str]:
    """The environment a service started by a test needs to verify the tests' tokens."""
    return {"LANEWAY_JWT_JWKS_FILE": str(jwks_file())}


@functools.cache
def verifier() -> TokenVerifier:
    """A verifier for an app built in process (`app.state.verifier = verifier()`)."""
    return TokenVerifier(AuthSettings(jwks_file=jwks_file()))


def token(user: str, *, personas: Iterable[str] = (), roles: Iterable[str] = (),
          groups: Iterable[str] = (), kind: str = "human", ttl_s: float = 3600) -> str:
    """A token for `user` signed with the session's key (valid for an hour)."""
    return issue_token(signing_key(), user=user, personas=tuple(personas), roles=tuple(roles),
                       groups=tuple(groups), kind=kind, ttl_s=ttl_s)


def auth_header(user: str, *, personas: Iterable[str] = (), roles: Iterable[str] = (),
                groups: Iterable[str] = (), kind: str = "human") -> dict[str, str]:
    """`{"Authorization": "Bearer <token>"}` for `user`."""
    return {"Authorization": "Bearer " + token(user, personas=personas, roles=roles,
                                               groups=groups, kind=kind)}


# Signed at import (a key for the session is created then); valid for a day, longer than any
# test session.
ADMIN_TOKEN = token("admin", roles=["admin"], ttl_s=24 * 3600)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
"""Headers of a principal `admin` holding the role `admin` (every role)."""
