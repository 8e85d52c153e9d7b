"""What the browser console is told about signing in (docs/console.md): the OpenID Connect
client it signs in with in production, and the development sign-in `make up` turns on; and
where it links an instance's trace (`LANEWAY_TRACES_URL`, a Jaeger UI) and whether it shows
the trace itself (`LANEWAY_TRACES_QUERY_URL` set: the audit service reads it from Jaeger).

Both are read once at start (`load_console`); the routes (`routes/console.py`,
`routes/dev.py`) find them on `app.state.console`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from laneway import trace_query
from laneway.auth import AuthSettings, check_https_url
from laneway.auth.dev import DEFAULT_SIGNING_KEY, DEFAULT_TTL_S
from laneway.auth.dev_users import DEV_USERS, DevUser, load_dev_users
from laneway.settings import SettingsError

DEFAULT_SCOPES = ("openid", "profile")
_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class OidcClient:
    """The console's OpenID Connect client: it runs the authorization code flow with PKCE
    against `issuer` itself (discovery at `<issuer>/.well-known/openid-configuration`)."""

    issuer: str
    """`LANEWAY_OIDC_ISSUER`: https (http only on this machine)."""
    client_id: str
    """`LANEWAY_OIDC_CLIENT_ID`: a public client (no secret: the console runs in a browser)."""
    scopes: tuple[str, ...]
    """`LANEWAY_OIDC_SCOPES` (space or comma separated, default `openid profile`)."""
    audience: str
    """The `aud` the API verifies (`LANEWAY_JWT_AUDIENCE`): some providers issue an access
    token for an API only when the authorization request names it."""


@dataclass(frozen=True, slots=True)
class DevSignIn:
    """The development sign-in: tokens for `users`, signed with the key in `key_file`."""

    key_file: Path
    """`LANEWAY_DEV_KEY_FILE` (default `var/dev/jwt/signing-key.json`), the key `laneway token`
    signs with; read at each sign-in, so a key `make up` creates later is found."""
    users: tuple[DevUser, ...]
    """`laneway.auth.dev_users.DEV_USERS`, or those of `LANEWAY_DEV_USERS_FILE`."""
    ttl_s: int
    """How long a token is valid: 8 h, or less when the services accept less
    (`LANEWAY_JWT_MAX_LIFETIME_S`)."""
    issuer: str
    """The `iss` and `aud` the tokens name: what the services verify."""
    audience: str

    def user(self, user_id: str) -> DevUser | None:
        return next((u for u in self.users if u.id == user_id), None)


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """How the console signs people in."""

    oidc: OidcClient | None = None
    """None when `LANEWAY_OIDC_ISSUER` and `LANEWAY_OIDC_CLIENT_ID` are not set."""
    dev_sign_in: DevSignIn | None = None
    """None unless `LANEWAY_DEV_SIGNIN=1` (then every /api/dev route is 404)."""
    traces_url: str | None = None
    """`LANEWAY_TRACES_URL`: a Jaeger UI; the instance page links `<it>/trace/<the instance
    id's 32 hex digits>` (one instance, one trace). None: no link."""
    trace_view: bool = False
    """Whether `LANEWAY_TRACES_QUERY_URL` is set (a Jaeger query API the audit service reads
    an instance's trace from): the console then offers its own trace view."""


def load_console(env: Mapping[str, str] | None, auth: AuthSettings) -> ConsoleSettings:
    """The console's settings from `env` (default: the process environment); raises
    SettingsError naming the first malformed one."""
    env = os.environ if env is None else env
    return ConsoleSettings(oidc=_oidc(env, auth), dev_sign_in=_dev_sign_in(env, auth),
                           traces_url=_traces_url(env),
                           trace_view=trace_query.query_url(env) is not None)


def _traces_url(env: Mapping[str, str]) -> str | None:
    """A link target for browsers: http or https (a tracing UI often stays on an internal
    network without TLS), a host, nothing after the path (the console appends to it)."""
    return trace_query.http_url_setting(env, "LANEWAY_TRACES_URL", "a tracing UI")


def _oidc(env: Mapping[str, str], auth: AuthSettings) -> OidcClient | None:
    issuer = env.get("LANEWAY_OIDC_ISSUER", "").strip()
    client_id = env.get("LANEWAY_OIDC_CLIENT_ID", "").strip()
    if not issuer and not client_id:
        return None
    if not issuer or not client_id:
        given, missing = (("LANEWAY_OIDC_ISSUER", "LANEWAY_OIDC_CLIENT_ID") if issuer
                          else ("LANEWAY_OIDC_CLIENT_ID", "LANEWAY_OIDC_ISSUER"))
        raise SettingsError(f"Expected {missing} too, since {given} is set: the console's "
                            "sign-in needs both")
    check_https_url("LANEWAY_OIDC_ISSUER", issuer)
    raw = env.get("LANEWAY_OIDC_SCOPES", "").strip()
    scopes = tuple(dict.fromkeys(raw.replace(",", " ").split())) if raw else DEFAULT_SCOPES
    if "openid" not in scopes:
        raise SettingsError(f"Expected LANEWAY_OIDC_SCOPES to include 'openid' (it is what "
                            f"makes the sign-in OpenID Connect), but got {raw!r}")
    # kept exactly as given: it must equal the `issuer` of the discovery document
    return OidcClient(issuer, client_id, scopes, auth.audience)


def _dev_sign_in(env: Mapping[str, str], auth: AuthSettings) -> DevSignIn | None:
    flag = env.get("LANEWAY_DEV_SIGNIN", "").strip().lower()
    if flag not in _ON | _OFF:
        raise SettingsError(f"Expected LANEWAY_DEV_SIGNIN to be 1 or 0, but got {flag!r}")
    if flag in _OFF:
        return None
    users_file = env.get("LANEWAY_DEV_USERS_FILE", "").strip()
    users = load_dev_users(Path(users_file)) if users_file else DEV_USERS
    key_file = Path(env.get("LANEWAY_DEV_KEY_FILE", "").strip() or DEFAULT_SIGNING_KEY)
    return DevSignIn(key_file=key_file, users=users,
                     ttl_s=min(DEFAULT_TTL_S, auth.max_lifetime_s),
                     issuer=auth.issuer, audience=auth.audience)
