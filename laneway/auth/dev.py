"""The development key: an ES256 key pair for the local stack, and tokens signed with it.

`make up` calls `ensure_dev_key(var/dev/jwt)` and points the services at its `jwks.json`;
`laneway token` and the tests sign with `signing-key.json` through `issue_token`. Never use
this key outside a developer's machine or a test: whoever reads the file can be anyone.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from laneway.auth._settings import DEFAULT_AUDIENCE, DEFAULT_ISSUER, MIN_SECRET_BYTES

__all__ = [
    "DEFAULT_SIGNING_KEY",
    "JWKS_FILE",
    "SIGNING_KEY_FILE",
    "ensure_dev_key",
    "issue_secret_token",
    "issue_token",
    "load_signing_key",
]

SIGNING_KEY_FILE = "signing-key.json"
JWKS_FILE = "jwks.json"
DEFAULT_SIGNING_KEY = Path("var/dev/jwt") / SIGNING_KEY_FILE
"""Where `make up` keeps the signing key, under the repository: what `laneway token` and the
console's development sign-in sign with unless `LANEWAY_DEV_KEY_FILE` names another file."""
DEFAULT_TTL_S = 8 * 3600
KINDS = ("human", "agent")


def ensure_dev_key(directory: Path) -> Path:
    """Create once an ES256 key pair in `directory` and return the signing key's path.

    `signing-key.json` is the private JWK (with a `kid`, mode 0600); `jwks.json` the public
    JWKS the services verify with. Calling it again keeps the key (tokens already issued stay
    valid) and only rewrites `jwks.json` if it does not match the signing key. Safe when two
    processes race: the first key written wins.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    signing = directory / SIGNING_KEY_FILE
    if not signing.exists():
        key = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"},
                                 auto_kid=True)
        _write_new(signing, json.dumps(key.as_dict(private=True), indent=2) + "\n")
    key = load_signing_key(signing)
    public = json.dumps(KeySet([key]).as_dict(private=False), indent=2) + "\n"
    jwks = directory / JWKS_FILE
    try:
        current = jwks.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    if current != public:
        _write_replace(jwks, public, mode=0o644)
    return signing


def load_signing_key(signing_key_file: Path) -> ECKey:
    """The private key in `signing_key_file`. Raises OSError when it cannot be read and
    ValueError when it is not a private EC JWK with a `kid`."""
    try:
        data = json.loads(signing_key_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"Expected a JSON private key in {signing_key_file}: {exc}") from exc
    if not isinstance(data, dict) or data.get("kty") != "EC" or "d" not in data \
            or not data.get("kid"):
        raise ValueError(f"Expected a private EC JWK with a 'kid' in {signing_key_file}, but "
                         "the file holds something else")
    return ECKey.import_key(data)


def issue_token(signing_key_file: Path, *, user: str, personas: Iterable[str] = (),
                roles: Iterable[str] = (), groups: Iterable[str] = (), kind: str = "human",
                ttl_s: float = DEFAULT_TTL_S, issuer: str = DEFAULT_ISSUER,
                audience: str = DEFAULT_AUDIENCE, now: float | None = None,
                name: str | None = None) -> str:
    """An ES256 token for `user`, signed with the development key."""
    key = load_signing_key(signing_key_file)
    claims = _claims(user=user, personas=personas, roles=roles, groups=groups, kind=kind,
                     ttl_s=ttl_s, issuer=issuer, audience=audience, now=now, name=name)
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])


def issue_secret_token(secret: str, *, user: str, personas: Iterable[str] = (),
                       roles: Iterable[str] = (), groups: Iterable[str] = (),
                       kind: str = "human", ttl_s: float = DEFAULT_TTL_S,
                       issuer: str = DEFAULT_ISSUER, audience: str = DEFAULT_AUDIENCE,
                       now: float | None = None, name: str | None = None) -> str:
    """An HS256 token for `user`, for services set up with `LANEWAY_JWT_SECRET`."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"Expected a secret of at least {MIN_SECRET_BYTES} bytes, but it has "
                         f"{len(secret.encode())}")
    claims = _claims(user=user, personas=personas, roles=roles, groups=groups, kind=kind,
                     ttl_s=ttl_s, issuer=issuer, audience=audience, now=now, name=name)
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret.encode()),
                      algorithms=["HS256"])


def _claims(*, user: str, personas: Iterable[str], roles: Iterable[str], groups: Iterable[str],
            kind: str, ttl_s: float, issuer: str, audience: str, now: float | None,
            name: str | None) -> dict[str, Any]:
    if not user.strip():
        raise ValueError("Expected a user id, but got an empty one")
    if kind not in KINDS:
        raise ValueError(f"Expected kind 'human' or 'agent', but got {kind!r}")
    if not ttl_s > 0:
        raise ValueError(f"Expected a positive lifetime in seconds, but got {ttl_s!r}")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": user,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl_s),
        "jti": secrets.token_urlsafe(12),
        "kind": kind,
        "roles": list(roles),
        "personas": list(personas),
        "groups": list(groups),
    }
    if name is not None:
        claims["name"] = name
    return claims


def _write_new(path: Path, text: str) -> None:
    """Write `path` with mode 0600 unless it exists; the file appears whole or not at all."""
    tmp = _temp_file(path, text, mode=0o600)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process won the race; its key is the one
    finally:
        os.unlink(tmp)


def _write_replace(path: Path, text: str, *, mode: int) -> None:
    os.replace(_temp_file(path, text, mode=mode), path)


def _temp_file(path: Path, text: str, *, mode: int) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp
