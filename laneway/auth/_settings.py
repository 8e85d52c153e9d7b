"""Where the keys that sign bearer tokens come from, and which issuer and audience to expect."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from laneway.settings import SettingsError

__all__ = ["KEY_SOURCE_VARIABLES", "AuthSettings", "check_https_url", "max_lifetime_s"]

KEY_SOURCE_VARIABLES = (
    "LANEWAY_JWT_JWKS_FILE",
    "LANEWAY_JWT_JWKS_URL",
    "LANEWAY_JWT_SECRET_FILE",
    "LANEWAY_JWT_SECRET",
)

DEFAULT_ISSUER = "laneway-dev"
DEFAULT_AUDIENCE = "laneway"
DEFAULT_LEEWAY_S = 60
# The longest a token may still be valid when it arrives. Identity providers issue access
# tokens for minutes to hours; a token valid for years (or `exp` 1e308) is a leaked
# credential that never expires, so it is refused rather than trusted.
DEFAULT_MAX_LIFETIME_S = 24 * 3600

# HS256 with a short secret can be brute-forced offline from one token: RFC 7518 section 3.2
# asks for a key at least as long as the hash (32 bytes).
MIN_SECRET_BYTES = 32

_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthSettings:
    """How an HTTP service verifies bearer tokens: one key source, the expected `iss` and
    `aud`, and the clock leeway. Built by `from_env`; the secret never shows in `repr`."""

    jwks_file: Path | None = None
    """A JWKS file of public keys (`LANEWAY_JWT_JWKS_FILE`)."""
    jwks_url: str | None = None
    """A JWKS URL, fetched and cached (`LANEWAY_JWT_JWKS_URL`)."""
    secret: str | None = field(default=None, repr=False)
    """A shared HS256 secret (`LANEWAY_JWT_SECRET`, or read from `LANEWAY_JWT_SECRET_FILE`)."""
    issuer: str = DEFAULT_ISSUER
    """The expected `iss` claim (`LANEWAY_JWT_ISSUER`)."""
    audience: str = DEFAULT_AUDIENCE
    """The expected `aud` claim, or one of its values (`LANEWAY_JWT_AUDIENCE`)."""
    leeway_s: int = DEFAULT_LEEWAY_S
    """Clock skew tolerated on `exp`, `nbf` and `iat` (`LANEWAY_JWT_LEEWAY_S`)."""
    max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S
    """How far past now a token's `exp` may lie (`LANEWAY_JWT_MAX_LIFETIME_S`)."""

    def __post_init__(self) -> None:
        sources = [s for s in (self.jwks_file, self.jwks_url, self.secret) if s is not None]
        if len(sources) != 1:
            raise SettingsError(
                f"Expected exactly one key source, but got {len(sources)}: set one of "
                f"{', '.join(KEY_SOURCE_VARIABLES)}"
            )
        if self.secret is not None and len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(
                f"Expected the HS256 secret to be at least {MIN_SECRET_BYTES} bytes, but it has "
                f"{len(self.secret.encode())}: use a longer random secret"
            )
        if self.jwks_url is not None:
            check_https_url("LANEWAY_JWT_JWKS_URL", self.jwks_url)
        if self.leeway_s < 0:
            raise SettingsError(f"Expected a leeway of 0 s or more, but got {self.leeway_s}")
        if self.max_lifetime_s <= 0:
            raise SettingsError(f"Expected a maximum token lifetime of 1 s or more, but got "
                                f"{self.max_lifetime_s}")

    @property
    def source(self) -> str:
        """Which key source is set, for logs (never the secret itself)."""
        if self.jwks_file is not None:
            return f"JWKS file {self.jwks_file}"
        if self.jwks_url is not None:
            return f"JWKS URL {self.jwks_url}"
        return "shared HS256 secret"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthSettings:
        """Read the settings from `environ` (default: the process environment).

        Raises `SettingsError` unless exactly one of `KEY_SOURCE_VARIABLES` is set.
        """
        env = os.environ if environ is None else environ
        given = {name: env.get(name, "").strip() for name in KEY_SOURCE_VARIABLES}
        chosen = [name for name, value in given.items() if value]
        if len(chosen) != 1:
            found = f"{', '.join(chosen)} are all set" if chosen else "none is set"
            raise SettingsError(
                f"Expected exactly one of {', '.join(KEY_SOURCE_VARIABLES)} to be set (where "
                f"the keys that sign bearer tokens come from), but {found}"
            )
        name = chosen[0]
        value = given[name]
        jwks_file = jwks_url = secret = None
        if name == "LANEWAY_JWT_JWKS_FILE":
            jwks_file = Path(value)
        elif name == "LANEWAY_JWT_JWKS_URL":
            jwks_url = value
        elif name == "LANEWAY_JWT_SECRET":
            # Not stripped: the secret is used byte for byte as the token issuer holds it.
            secret = env[name]
        else:
            try:
                secret = Path(value).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(
                    f"Expected LANEWAY_JWT_SECRET_FILE to name a readable file, but reading "
                    f"{value!r} failed: {exc.strerror or exc}"
                ) from exc
        issuer = env.get("LANEWAY_JWT_ISSUER", "").strip() or DEFAULT_ISSUER
        audience = env.get("LANEWAY_JWT_AUDIENCE", "").strip() or DEFAULT_AUDIENCE
        raw_leeway = env.get("LANEWAY_JWT_LEEWAY_S", "").strip() or str(DEFAULT_LEEWAY_S)
        if not raw_leeway.isdigit():
            raise SettingsError(
                "Expected LANEWAY_JWT_LEEWAY_S to be a whole number of seconds (0 or more), "
                f"but got {raw_leeway!r}"
            )
        return cls(jwks_file=jwks_file, jwks_url=jwks_url, secret=secret, issuer=issuer,
                   audience=audience, leeway_s=int(raw_leeway),
                   max_lifetime_s=max_lifetime_s(env))


def max_lifetime_s(environ: Mapping[str, str]) -> int:
    """`LANEWAY_JWT_MAX_LIFETIME_S` (default 24 h): read by the services and by `laneway
    token`, which refuses to sign what the services would refuse."""
    raw = environ.get("LANEWAY_JWT_MAX_LIFETIME_S", "").strip() or str(DEFAULT_MAX_LIFETIME_S)
    if not raw.isdigit() or int(raw) <= 0:
        raise SettingsError("Expected LANEWAY_JWT_MAX_LIFETIME_S to be a whole number of "
                            f"seconds (1 or more), but got {raw!r}")
    return int(raw)


def check_https_url(name: str, url: str) -> None:
    """Raise SettingsError unless `url` (the setting `name`) is https, or http on this machine:
    plain HTTP lets anyone on the path swap what it serves (keys, an issuer's endpoints)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return
    raise SettingsError(
        f"Expected {name} to be an https:// URL (http:// only for 127.0.0.1, ::1 or "
        f"localhost), but got {url!r}"
    )
