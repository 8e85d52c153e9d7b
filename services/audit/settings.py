"""Settings of the audit service: the shared `Settings` plus the sink's own knobs."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from laneway.settings import Settings, SettingsError

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


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
    schema = env.get("LANEWAY_DB_SCHEMA", "").strip() or None
    if schema is not None and not _SCHEMA_NAME.match(schema):
        raise SettingsError(
            f"Expected LANEWAY_DB_SCHEMA to be a lower-case SQL identifier, but got {schema!r}"
        )
    return AuditSettings(
        common=common,
        group=env.get("LANEWAY_AUDIT_GROUP", "").strip() or f"{common.topic_prefix}audit",
        database_schema=schema,
        batch_size=_positive_int(env, "LANEWAY_AUDIT_BATCH_SIZE", 1000),
        poll_timeout_s=_positive_float(env, "LANEWAY_AUDIT_POLL_S", 0.2),
        session_timeout_ms=_positive_int(env, "LANEWAY_AUDIT_SESSION_TIMEOUT_MS", 45_000),
        cache_size=_positive_int(env, "LANEWAY_AUDIT_CACHE_SIZE", 100_000),
    )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"Expected {name} to be a positive integer, but got {raw!r}")
    return int(raw)


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise SettingsError(f"Expected {name} to be a positive number, but got {raw!r}")
    return value
