"""Settings of the audit service: the shared `Settings` plus the sink's own knobs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from laneway.settings import (
    Settings,
    database_schema,
    positive_float,
    positive_int,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditSettings:
    """Everything the audit service reads from the environment, checked once."""

    common: Settings
    """Connections, topic prefix, port, timeouts shared by every service."""
    group: str
    """The sink's consumer group (`LANEWAY_AUDIT_GROUP`, default `<prefix>audit`)."""
    database_schema: str | None
    """PostgreSQL schema of the audit tables (`LANEWAY_DB_SCHEMA`); None uses the
    connection's default search path. Tests give each module its own schema."""
    batch_size: int
    """Most records written in one database transaction (`LANEWAY_AUDIT_BATCH_SIZE`,
    default 1000)."""
    poll_timeout_s: float
    """How long one poll waits for records (`LANEWAY_AUDIT_POLL_S`, default 0.2): the bound
    on shutdown latency and on how long a partial batch waits."""
    session_timeout_ms: int
    """The consumer's group session timeout (`LANEWAY_AUDIT_SESSION_TIMEOUT_MS`, default
    45000): how long a crashed sink holds its partitions before the group moves them."""
    cache_size: int
    """Instances whose last (seq, hash) the sink keeps in memory (`LANEWAY_AUDIT_CACHE_SIZE`,
    default 100000); older ones are read back from the database."""

    @property
    def topic_prefix(self) -> str:
        """Prefix of every topic name."""
        return self.common.topic_prefix


def load_settings(environ: Mapping[str, str] | None = None) -> AuditSettings:
    """Read the audit service's settings from `environ` (default: the process environment).

    Raises SettingsError naming the first malformed setting.
    """
    common = Settings.from_env("audit", environ)
    env: Mapping[str, str] = os.environ if environ is None else environ
    schema = database_schema(env)
    return AuditSettings(
        common=common,
        group=env.get("LANEWAY_AUDIT_GROUP", "").strip() or f"{common.topic_prefix}audit",
        database_schema=schema,
        batch_size=positive_int(env, "LANEWAY_AUDIT_BATCH_SIZE", 1000),
        poll_timeout_s=positive_float(env, "LANEWAY_AUDIT_POLL_S", 0.2),
        session_timeout_ms=positive_int(env, "LANEWAY_AUDIT_SESSION_TIMEOUT_MS", 45_000),
        cache_size=positive_int(env, "LANEWAY_AUDIT_CACHE_SIZE", 100_000),
    )


