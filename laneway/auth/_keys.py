"""Verification keys: a JWKS file, a JWKS URL (cached, refetched on an unknown key id) or a
shared HS256 secret."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, KeySet, OctKey, OKPKey, RSAKey

from laneway.auth._errors import AuthError, KeySourceError

__all__ = ["KeySource", "SecretKey", "load_key_set"]

log = logging.getLogger(__name__)

# The key type (and curve) each accepted algorithm needs: a token may pick its algorithm, but
# never one that would make a public key act as an HMAC secret.
_KEY_FITS: dict[str, Callable[[Key], bool]] = {
    "ES256": lambda k: isinstance(k, ECKey) and k.get("crv") == "P-256",
    "RS256": lambda k: isinstance(k, RSAKey),
    "EdDSA": lambda k: isinstance(k, OKPKey) and k.get("crv") in ("Ed25519", "Ed448"),
}
KEY_SET_ALGORITHMS = tuple(_KEY_FITS)

JWKS_CACHE_S = 300.0
"""How long keys fetched from a JWKS URL are used before they are fetched again."""
MIN_REFRESH_S = 10.0
"""Unknown key ids refetch the set at most this often, so made-up `kid`s cannot flood the
identity provider with requests."""
FETCH_TIMEOUT_S = 5.0
MAX_JWKS_BYTES = 1_000_000


def load_key_set(data: Any, origin: str) -> KeySet:
    """The public keys of a JWKS document; `origin` names it in errors."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise KeySourceError(f"Expected a JWKS object {{\"keys\": [...]}} from {origin}, "
                             f"but got {type(data).__name__}")
    try:
        key_set = KeySet.import_key_set(data)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise KeySourceError(f"Expected usable keys from {origin}, but importing them failed: "
                             f"{exc}") from exc
    for key in key_set:
        if isinstance(key, OctKey):
            # A symmetric key in a key set would let anyone holding the (public) set sign.
            raise KeySourceError(f"Expected only public keys from {origin}, but it holds a "
                                 "symmetric ('oct') key")
    return key_set


class KeySource:
    """The key set behind a JWKS file or URL.

    `key_for(kid, alg)` picks the key that verifies a token; an unknown `kid` reloads the set
    once (key rotation at the identity provider, or a regenerated development key).
    """

    def __init__(self, load: Callable[[], KeySet], *, origin: str, max_age_s: float | None,
                 monotonic: Callable[[], float] = time.monotonic,
                 min_refresh_s: float = MIN_REFRESH_S) -> None:
        self._load = load
        self._origin = origin
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        self._min_refresh_s = min_refresh_s
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._loaded_at = 0.0

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> KeySource:
        """Keys from a JWKS file, read now (a missing file fails at start, not on a request)."""
        def load() -> KeySet:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise KeySourceError(f"Expected a readable JWKS file at {path}, but reading it "
                                     f"failed: {exc.strerror or exc}") from exc
            except ValueError as exc:
                raise KeySourceError(f"Expected JSON in the JWKS file {path}: {exc}") from exc
            return load_key_set(data, str(path))

        source = cls(load, origin=str(path), max_age_s=None, **kwargs)
        source.keys(refresh=True)
        return source

    @classmethod
    def from_url(cls, url: str, *, client: httpx.Client | None = None,
                 **kwargs: Any) -> KeySource:
        """Keys from a JWKS URL, fetched on first use and cached for `JWKS_CACHE_S`."""
        http = client or httpx.Client(timeout=FETCH_TIMEOUT_S, follow_redirects=False)

        def load() -> KeySet:
            try:
                response = http.get(url, headers={"Accept": "application/json"})
            except httpx.HTTPError as exc:
                raise KeySourceError(f"Expected the JWKS URL {url} to answer, but it failed: "
                                     f"{type(exc).__name__}: {exc}") from exc
            if response.status_code != 200:
                raise KeySourceError(f"Expected 200 from the JWKS URL {url}, but got "
                                     f"{response.status_code}")
            if len(response.content) > MAX_JWKS_BYTES:
                raise KeySourceError(f"Expected a JWKS of at most {MAX_JWKS_BYTES} bytes from "
                                     f"{url}, but got {len(response.content)}")
            try:
                data = response.json()
            except ValueError as exc:
                raise KeySourceError(f"Expected JSON from the JWKS URL {url}: {exc}") from exc
            return load_key_set(data, url)

        return cls(load, origin=url, max_age_s=JWKS_CACHE_S, **kwargs)

    def keys(self, *, refresh: bool = False) -> KeySet:
        """The current key set; loaded again when stale or when `refresh` asks (at most every
        `min_refresh_s`). When reloading fails but keys are cached, those keep serving."""
        with self._lock:
            now = self._monotonic()
            age = now - self._loaded_at
            stale = self._max_age_s is not None and age >= self._max_age_s
            may_refresh = refresh and (self._keys is None or age >= self._min_refresh_s)
            if self._keys is None or stale or may_refresh:
                try:
                    self._keys = self._load()
                except KeySourceError as exc:
                    if self._keys is None:
                        raise
                    log.warning("keeping the cached keys: %s", exc.reason)
                self._loaded_at = now
            return self._keys

    def key_for(self, kid: str | None, alg: str) -> list[Key]:
        """The keys that may have signed a token with header `kid` and `alg`: the one with
        that id, or with no `kid` every key of the fitting type. Raises `AuthError` when there
        is none, after reloading the set once."""
        for refresh in (False, True):
            candidates = self._candidates(self.keys(refresh=refresh), kid, alg)
            if candidates:
                return candidates
        # the answer names no file or URL: where the keys come from is the operators' (logged)
        log.info("no key for a token's kid %r (%s) in %s", kid, alg, self._origin)
        if kid is None:
            raise AuthError(f"unknown key: the token names no key id (kid) and no {alg} key "
                            "of the trusted key set fits")
        raise AuthError(f"unknown key id {kid!r}: no such key in the trusted key set")

    @staticmethod
    def _candidates(key_set: KeySet, kid: str | None, alg: str) -> list[Key]:
        fits = _KEY_FITS[alg]
        return [key for key in key_set
                if (kid is None or key.kid == kid) and fits(key)
                and key.get("alg") in (None, alg) and key.get("use") in (None, "sig")]


class SecretKey:
    """A shared HS256 secret; tokens must name HS256."""

    def __init__(self, secret: str) -> None:
        self._key = OctKey.import_key(secret.encode())

    def key_for(self, kid: str | None, alg: str) -> list[Key]:
        return [self._key]
