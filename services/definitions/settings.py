"""Settings of the definitions service: the shared `Settings` plus what the HTTP API needs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from laneway.auth import AuthSettings
from laneway.settings import (
    Settings,
    SettingsError,
    database_schema,
    positive_float,
    positive_int,
)
from services.definitions.ratelimit import RateLimit


@dataclass(frozen=True, slots=True, kw_only=True)
class DefinitionsSettings:
    """Everything the definitions service reads from the environment, checked once."""

    common: Settings
    """Connections, topic prefix, port, timeouts shared by every service."""
    http_host: str
    """Interface uvicorn binds (`LANEWAY_HTTP_HOST`, default `127.0.0.1`)."""
    database_schema: str | None
    """PostgreSQL schema for this service's tables (`LANEWAY_DB_SCHEMA`); None uses the
    connection's default search path. Tests give each run its own schema."""
    projection_enabled: bool
    """Whether this service runs the `state` → `instances` projection (`LANEWAY_PROJECTION`,
    default on); the audit service takes it over in a later issue."""
    pool_size: int
    """Most PostgreSQL connections held by the pool (`LANEWAY_DB_POOL_SIZE`, default 10)."""
    form_rate_limit: RateLimit
    """Public form submissions allowed per client address and process
    (`LANEWAY_FORM_RATE_LIMIT`, default `30/minute`; docs/forms.md)."""
    publish_timeout_s: float
    """How long a request waits for Kafka to acknowledge what it produced
    (`LANEWAY_PUBLISH_TIMEOUT_S`, default 10)."""
    auth: AuthSettings
    """Where the keys that sign bearer tokens come from (`LANEWAY_JWT_*`, docs/people.md):
    every route but health, metrics and the OpenAPI pages needs a valid token."""

    @property
    def topic_prefix(self) -> str:
        """Prefix of every topic name."""
        return self.common.topic_prefix

    @property
    def projection_group(self) -> str:
        """Consumer group of the instance projection."""
        return f"{self.common.topic_prefix}instances-projection"


def load_settings(environ: Mapping[str, str] | None = None) -> DefinitionsSettings:
    """Read the definitions service's settings from `environ` (default: the process environment).

    Raises SettingsError naming the first malformed setting, or the `LANEWAY_JWT_*` key
    sources when none (or more than one) is set: the service does not start without one.
    """
    common = Settings.from_env("definitions", environ)
    env: Mapping[str, str] = os.environ if environ is None else environ
    schema = database_schema(env)
    projection = env.get("LANEWAY_PROJECTION", "on").strip().lower()
    if projection not in ("on", "off"):
        raise SettingsError(f"Expected LANEWAY_PROJECTION to be 'on' or 'off', but got "
                            f"{projection!r}")
    return DefinitionsSettings(
        common=common,
        http_host=env.get("LANEWAY_HTTP_HOST", "").strip() or "127.0.0.1",
        database_schema=schema,
        projection_enabled=projection == "on",
        pool_size=positive_int(env, "LANEWAY_DB_POOL_SIZE", 10),
        form_rate_limit=_rate_limit(env, "LANEWAY_FORM_RATE_LIMIT", "30/minute"),
        publish_timeout_s=positive_float(env, "LANEWAY_PUBLISH_TIMEOUT_S", 10.0),
        auth=AuthSettings.from_env(env),
    )


def _rate_limit(env: Mapping[str, str], name: str, default: str) -> RateLimit:
    try:
        return RateLimit.parse(env.get(name, "").strip() or default)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None
