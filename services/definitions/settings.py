"""Settings of the definitions service: the shared `Settings` plus what the HTTP API needs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from laneway.auth import AuthSettings
from laneway.bpmn import Limits
from laneway.service_schemas import service_schema
from laneway.settings import (
    Settings,
    SettingsError,
    positive_float,
    positive_int,
)
from services.definitions.console import ConsoleSettings, load_console
from services.definitions.ratelimit import RateLimit


@dataclass(frozen=True, slots=True)
class MessageTtl:
    """A published message's time to live, in seconds: `default_s` when the request names
    none (so a message published right after a start waits for the instance's subscription,
    even when the start is still queued behind an engine restart), at most `max_s` (a buffered
    message is held in the engine's state until it expires)."""

    default_s: float = 3600.0
    max_s: float = 7 * 24 * 3600.0


_DEFAULTS = MessageTtl()


@dataclass(frozen=True, slots=True, kw_only=True)
class DefinitionsSettings:
    """Everything the definitions service reads from the environment, checked once."""

    common: Settings
    """Connections, topic prefix, port, timeouts shared by every service."""
    trusted_proxies: str
    """Addresses whose `X-Forwarded-For` names the client (`LANEWAY_TRUSTED_PROXIES`, comma
    separated, `*` for any; default `127.0.0.1`, the local edge): the public forms' rate
    limit counts per client address, which behind the edge is only in that header."""
    database_schema: str
    """PostgreSQL schema of this service's tables: `definitions`, or
    `<LANEWAY_DB_SCHEMA>_definitions` under a base (`laneway.service_schemas`)."""
    audit_schema: str
    """The audit service's schema, whose instance projection an incident's instance is looked
    up in (read only, `laneway.shared_reads.InstanceLookup`)."""
    pool_size: int
    """Most PostgreSQL connections held by the pool (`LANEWAY_DB_POOL_SIZE`, default 10)."""
    form_rate_limit: RateLimit
    """Public form submissions allowed per client address and process
    (`LANEWAY_FORM_RATE_LIMIT`, default `30/minute`; docs/forms.md)."""
    publish_timeout_s: float
    """How long a request waits for Kafka to acknowledge what it produced
    (`LANEWAY_PUBLISH_TIMEOUT_S`, default 10)."""
    message_ttl: MessageTtl
    """How long a published message waits for its subscription: by default
    (`LANEWAY_MESSAGE_TTL_S`, default 3600, as Zeebe's clients) and at most
    (`LANEWAY_MAX_MESSAGE_TTL_S`, default 604800, a week)."""
    diagram_limits: Limits
    """How large a deployed diagram may be: `LANEWAY_MAX_DIAGRAM_BYTES` (default 20 MiB; a
    larger body is 413), `LANEWAY_MAX_DIAGRAM_ELEMENTS` (XML nodes, default 50,000),
    `LANEWAY_MAX_DIAGRAM_DEPTH` (default 100), `LANEWAY_MAX_DIAGRAM_PROCESSES` (processes in
    one file, default 100) and `LANEWAY_MAX_DIAGRAM_ATTRIBUTES` (on one element, default 100);
    over one of the last four the deploy is 422 naming the limit (docs/bpmn.md)."""
    deploy_checks: int
    """Deploys checked at once (`LANEWAY_DEPLOY_CHECKS`, default 2): each may hold a
    diagram as large as `diagram_limits` allow; a deploy that finds none free within 30 s is
    503 with `Retry-After`."""
    auth: AuthSettings
    """Where the keys that sign bearer tokens come from (`LANEWAY_JWT_*`, docs/people.md):
    every route but health, metrics and the OpenAPI pages needs a valid token."""
    console: ConsoleSettings
    """How the browser console signs people in: its OpenID Connect client
    (`LANEWAY_OIDC_ISSUER`, `LANEWAY_OIDC_CLIENT_ID`, `LANEWAY_OIDC_SCOPES`) and the
    development sign-in (`LANEWAY_DEV_SIGNIN`, `LANEWAY_DEV_KEY_FILE`,
    `LANEWAY_DEV_USERS_FILE`); docs/console.md."""

    @property
    def topic_prefix(self) -> str:
        """Prefix of every topic name."""
        return self.common.topic_prefix


def load_settings(environ: Mapping[str, str] | None = None) -> DefinitionsSettings:
    """Read the definitions service's settings from `environ` (default: the process environment).

    Raises SettingsError naming the first malformed setting, or the `LANEWAY_JWT_*` key
    sources when none (or more than one) is set: the service does not start without one.
    """
    common = Settings.from_env("definitions", environ)
    env: Mapping[str, str] = os.environ if environ is None else environ
    auth = AuthSettings.from_env(env)
    return DefinitionsSettings(
        common=common,
        trusted_proxies=env.get("LANEWAY_TRUSTED_PROXIES", "").strip() or "127.0.0.1",
        database_schema=service_schema(env, "definitions"),
        audit_schema=service_schema(env, "audit"),
        pool_size=positive_int(env, "LANEWAY_DB_POOL_SIZE", 10),
        form_rate_limit=_rate_limit(env, "LANEWAY_FORM_RATE_LIMIT", "30/minute"),
        publish_timeout_s=positive_float(env, "LANEWAY_PUBLISH_TIMEOUT_S", 10.0),
        message_ttl=_message_ttl(env),
        diagram_limits=_diagram_limits(env),
        deploy_checks=positive_int(env, "LANEWAY_DEPLOY_CHECKS", 2),
        auth=auth,
        console=load_console(env, auth),
    )


def _diagram_limits(env: Mapping[str, str]) -> Limits:
    default = Limits()
    names = {"max_bytes": "LANEWAY_MAX_DIAGRAM_BYTES",
             "max_elements": "LANEWAY_MAX_DIAGRAM_ELEMENTS",
             "max_depth": "LANEWAY_MAX_DIAGRAM_DEPTH",
             "max_processes": "LANEWAY_MAX_DIAGRAM_PROCESSES",
             "max_attributes": "LANEWAY_MAX_DIAGRAM_ATTRIBUTES"}
    values = {field: positive_int(env, name, getattr(default, field))
              for field, name in names.items()}
    try:
        return Limits(**values)
    except ValueError as exc:  # above what the parser allows
        field = str(exc).split()[1]
        raise SettingsError(f"{names.get(field, field)}: {exc}") from None


def _rate_limit(env: Mapping[str, str], name: str, default: str) -> RateLimit:
    try:
        return RateLimit.parse(env.get(name, "").strip() or default)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _message_ttl(env: Mapping[str, str]) -> MessageTtl:
    maximum = positive_float(env, "LANEWAY_MAX_MESSAGE_TTL_S", _DEFAULTS.max_s)
    raw = env.get("LANEWAY_MESSAGE_TTL_S", "").strip()
    try:
        default = float(raw) if raw else _DEFAULTS.default_s
    except ValueError:
        default = -1.0
    if not 0 <= default <= maximum:  # NaN fails too
        raise SettingsError(f"Expected LANEWAY_MESSAGE_TTL_S to be a number of seconds from 0 "
                            f"to LANEWAY_MAX_MESSAGE_TTL_S ({maximum:g}), but got {raw!r}")
    return MessageTtl(default, maximum)
