"""Settings of the audit service: the shared `Settings` plus the sink's, the instance
projection's and the HTTP routes' knobs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from laneway.service_schemas import service_schema
from laneway.settings import Settings, SettingsError, positive_int, projection_knobs


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditSettings:
    """Everything the audit service reads from the environment, checked once."""

    common: Settings
    """Connections, topic prefix, port, timeouts shared by every service."""
    group: str
    """The sink's consumer group (`LANEWAY_AUDIT_GROUP`, default `<prefix>audit`)."""
    database_schema: str
    """PostgreSQL schema of the audit's tables (`audit_log`, `instances`): `audit`, or
    `<LANEWAY_DB_SCHEMA>_audit` under a base (`laneway.service_schemas`)."""
    projection_enabled: bool
    """Whether this process runs the `state` → `instances` projection (`LANEWAY_PROJECTION`,
    default on)."""
    pool_size: int
    """Most PostgreSQL connections the HTTP routes hold (`LANEWAY_DB_POOL_SIZE`, default 5)."""
    batch_size: int
    """Most records written in one database transaction (`LANEWAY_AUDIT_BATCH_SIZE`,
    default 1000)."""
    poll_timeout_s: float
    """How long one poll waits for records (`LANEWAY_AUDIT_POLL_S`, default 0.2)."""
    session_timeout_ms: int
    """The sink's group session timeout (`LANEWAY_AUDIT_SESSION_TIMEOUT_MS`, default 45000)."""
    cache_size: int
    """Instances whose last (seq, hash) the sink keeps in memory (`LANEWAY_AUDIT_CACHE_SIZE`,
    default 100000); older ones are read back from the database."""

    @property
    def topic_prefix(self) -> str:
        """Prefix of every topic name."""
        return self.common.topic_prefix

    @property
    def projection_group(self) -> str:
        """Consumer group of the instance projection (the name it had in the definitions
        service, so its committed offsets carry over)."""
        return f"{self.common.topic_prefix}instances-projection"


def load_settings(environ: Mapping[str, str] | None = None) -> AuditSettings:
    """Read the audit service's settings from `environ` (default: the process environment).

    Raises SettingsError naming the first malformed setting. The bearer-token keys
    (`LANEWAY_JWT_*`) are read by `__main__` (`laneway.auth.AuthSettings`).
    """
    common = Settings.from_env("audit", environ)
    env: Mapping[str, str] = os.environ if environ is None else environ
    projection = env.get("LANEWAY_PROJECTION", "on").strip().lower()
    if projection not in ("on", "off"):
        raise SettingsError(f"Expected LANEWAY_PROJECTION to be 'on' or 'off', but got "
                            f"{projection!r}")
    return AuditSettings(
        common=common,
        **projection_knobs(env, "audit", common.topic_prefix, batch_size=1000),
        database_schema=service_schema(env, "audit"),
        projection_enabled=projection == "on",
        pool_size=positive_int(env, "LANEWAY_DB_POOL_SIZE", 5),
        cache_size=positive_int(env, "LANEWAY_AUDIT_CACHE_SIZE", 100_000),
    )


