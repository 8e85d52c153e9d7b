"""Bearer token → `Principal`: signature, registered claims, then Laneway's own claims."""

from __future__ import annotations

import json
import math
import threading
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from joserfc import jws
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
    SecurityWarning,
)
from joserfc.jwt import JWTClaimsRegistry

from laneway.auth._errors import AuthError
from laneway.auth._keys import KEY_SET_ALGORITHMS, KeySource, SecretKey
from laneway.auth._settings import AuthSettings
from laneway.records import Principal, PrincipalKind

__all__ = ["TokenVerifier"]

SECRET_ALGORITHMS = ("HS256",)
# Kinds a token may claim; `system` is the engine's own and never comes from outside.
_TOKEN_KINDS = {"human": PrincipalKind.HUMAN, "agent": PrincipalKind.AGENT}
MAX_TOKEN_CHARS = 16_000
# What of the verified claims the principal keeps: what the engine's checks read (personas
# and candidate groups). The principal rides on every event, so everything else a token
# carries (name, e-mail, the identity provider's extras) would reach the audit log, the
# worklist and whoever reads them.
KEPT_CLAIMS = ("personas", "groups")
_TIME_CLAIMS = ("exp", "nbf", "iat")
VERIFIED_TOKENS = 4096
"""Tokens a verifier with local keys remembers as verified (`TokenVerifier.verify`)."""


class TokenVerifier:
    """Verifies bearer tokens against the keys of `settings`.

    Thread-safe; build one per process (it caches keys fetched from a JWKS URL). A JWKS file
    is read at construction, so a missing file fails at start. `clock` (epoch seconds) and
    `monotonic` are for tests.

    With local keys (a secret or a JWKS file), a token verified once is remembered (at most
    `VERIFIED_TOKENS`, by its exact text) until it expires or the key set is read again: a
    client sends the same token with every request, and checking its signature and claims
    again was about a third of a task command's CPU on the worklist's event loop. Only the
    expiry can change the verdict on the same text under the same keys (a token accepted
    was already past its `nbf` and `iat`), and it is checked on every use, as joserfc checks
    it. With keys from a JWKS URL every token is verified in full (the cache of keys there
    has its own refresh rules).
    """

    def __init__(self, settings: AuthSettings, *, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 min_refresh_s: float | None = None) -> None:
        self.settings = settings
        self._clock = clock
        extra: dict[str, Any] = {"monotonic": monotonic}
        if min_refresh_s is not None:
            extra["min_refresh_s"] = min_refresh_s
        self.fetches = settings.jwks_url is not None
        """Whether verifying a token may wait for the network (keys from a JWKS URL, fetched
        when stale or when a token names an unknown key); else it is CPU only."""
        self._keys: KeySource | SecretKey
        # token text -> (its principal, its exp, the key set that verified it)
        self._verified: dict[str, tuple[Principal, float, object]] = {}
        self._verified_lock = threading.Lock()
        if settings.jwks_file is not None:
            self._keys = KeySource.from_file(settings.jwks_file, **extra)
            self._algorithms = KEY_SET_ALGORITHMS
        elif settings.jwks_url is not None:
            self._keys = KeySource.from_url(settings.jwks_url, **extra)
            self._algorithms = KEY_SET_ALGORITHMS
        else:
            assert settings.secret is not None  # AuthSettings holds exactly one source
            self._keys = SecretKey(settings.secret)
            self._algorithms = SECRET_ALGORITHMS

    def verify(self, token: str) -> Principal:
        """The principal a valid token proves; `AuthError` with the reason otherwise."""
        known = None if self.fetches else self._verified.get(token)
        if known is not None:
            principal, exp, keys = known
            if exp > int(self._clock()) - self.settings.leeway_s and keys is self._key_set():
                return principal
        claims = self._verified_claims(token)
        self._check_registered(claims)
        principal = _principal(claims)
        if not self.fetches:
            self._remember(token, principal, float(claims["exp"]))
        return principal

    def _key_set(self) -> object:
        """The keys in use now: another object once a JWKS file has been read again."""
        return self._keys.keys() if isinstance(self._keys, KeySource) else self._keys

    def _remember(self, token: str, principal: Principal, exp: float) -> None:
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_TOKENS:
                # the oldest first (insertion order): bounded, and a busy client's token
                # is verified again at most once per VERIFIED_TOKENS other tokens
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (principal, exp, self._key_set())

    def _verified_claims(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token.strip():
            raise AuthError("malformed token: it is empty")
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthError(f"malformed token: longer than {MAX_TOKEN_CHARS} characters")
        try:
            obj = jws.extract_compact(token.strip().encode("ascii"))
            header = obj.headers()
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise AuthError("malformed token: expected a signed JWT (three base64url parts "
                            "separated by dots)") from exc
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise AuthError(f"unsupported algorithm: expected one of "
                            f"{', '.join(self._algorithms)}, but the token names {alg!r}")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthError("malformed token: 'kid' in the header is not a string")
        valid = False
        for key in self._keys.key_for(kid, alg):
            try:
                with warnings.catch_warnings():
                    # EdDSA is deprecated in favour of Ed25519 (RFC 9864) but still what
                    # identity providers issue; accepting it is deliberate.
                    warnings.simplefilter("ignore", SecurityWarning)
                    valid = jws.validate_compact(obj, key, algorithms=[alg])
            except (JoseError, ValueError) as exc:
                raise AuthError(f"bad signature: {exc}") from exc
            if valid:
                break
        if not valid:
            raise AuthError("bad signature: the token was not signed by a trusted key")
        try:
            claims = json.loads(obj.payload)
        except (TypeError, ValueError) as exc:
            raise AuthError("malformed token: the payload is not JSON") from exc
        if not isinstance(claims, dict):
            raise AuthError("malformed token: the payload is not a JSON object")
        return claims

    def _check_registered(self, claims: dict[str, Any]) -> None:
        settings = self.settings
        for name in _TIME_CLAIMS:
            value = claims.get(name)
            # JSON numbers may be 1e400 (infinity to Python) or NaN, which compare as
            # "not expired" forever
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)
                                   or not math.isfinite(value)):
                raise AuthError(f"malformed token: {name!r} must be a finite number of "
                                f"seconds, but it is {_short(value)}")
        registry = JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            leeway=settings.leeway_s,
            iss={"essential": True, "value": settings.issuer},
            aud={"essential": True, "value": settings.audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise AuthError(f"token expired at {_when(claims.get('exp'))}") from exc
        except MissingClaimError as exc:
            raise AuthError(f"malformed token: missing claim {exc.claim.replace(',', ', ')}") \
                from exc
        except InvalidClaimError as exc:
            raise AuthError(_invalid_claim(exc, claims, settings)) from exc
        latest = self._clock() + settings.max_lifetime_s + settings.leeway_s
        if claims["exp"] > latest:
            raise AuthError(f"token valid for too long: it expires at {_when(claims['exp'])}, "
                            f"more than {settings.max_lifetime_s} s from now (the most "
                            "LANEWAY_JWT_MAX_LIFETIME_S allows)")


def _invalid_claim(exc: InvalidClaimError, claims: dict[str, Any], settings: AuthSettings) -> str:
    claim, value = exc.claim, claims.get(exc.claim)
    if claim == "aud":
        return f"wrong audience: expected {settings.audience!r}, but the token is for {value!r}"
    if claim == "iss":
        return f"wrong issuer: expected {settings.issuer!r}, but the token is from {value!r}"
    if claim == "sub":
        return "malformed token: 'sub' must be a non-empty string"
    if claim == "nbf" and isinstance(value, int | float):
        return f"token not valid before {_when(value)}"
    if claim == "iat" and isinstance(value, int | float):
        return f"token issued in the future ({_when(value)})"
    return f"malformed token: {exc.description}"


def _principal(claims: dict[str, Any]) -> Principal:
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject.strip():
        raise AuthError("malformed token: 'sub' must be a non-empty string")
    raw_kind = claims.get("kind", "human")
    kind = _TOKEN_KINDS.get(raw_kind) if isinstance(raw_kind, str) else None
    if kind is None:
        raise AuthError(f"unsupported kind: expected 'human' or 'agent', but the token claims "
                        f"{raw_kind!r}")
    for name in ("roles", "personas", "groups"):
        value = claims.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AuthError(f"malformed token: {name!r} must be a list of strings")
    kept = {name: claims[name] for name in KEPT_CLAIMS if name in claims}
    return Principal(kind, subject, tuple(claims.get("roles", ())), kept)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _when(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
        except (OverflowError, OSError, ValueError):
            pass
    return _short(value)
