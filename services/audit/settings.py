"""Settings of the audit service: the shared `Settings` plus the sink's, the instance
projection's and the HTTP routes' knobs, the role it writes with and the key of its heads."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from laneway import trace_query
from laneway.service_schemas import service_schema
from laneway.settings import (
    Settings,
    SettingsError,
    on_off,
    positive_float,
    positive_int,
    projection_knobs,
)
from services.audit.anchor import DEV_KEY, MIN_KEY_BYTES

DEV_WRITER_ROLE = "laneway_audit_writer"
"""The writer role in development (scripts/stack/postgres.py creates it, password the same)."""


EDGE_READ_TIMEOUT_S = 60.0
"""The edge's `proxy_read_timeout`: an idle stream must say something more often."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveSettings:
    """The live feed's knobs (docs/console.md, "Live feed")."""

    enabled: bool = True
    """Whether this process feeds and serves live streams (`LANEWAY_LIVE`, default on)."""
    group: str = "audit-live"
    """The feeder's consumer group (`LANEWAY_LIVE_GROUP`, default `<prefix>audit-live`):
    every audit replica joins it, so each partition is published by one."""
    max_streams: int = 200
    """Most streams open at once in one process (`LANEWAY_LIVE_MAX_STREAMS`); past it, 503.
    Each holds a Redis connection."""
    max_s: float = 3600.0
    """A stream is closed after this long (`LANEWAY_LIVE_MAX_S`); the page reconnects."""
    keepalive_s: float = 15.0
    """An idle stream sends a comment this often (`LANEWAY_LIVE_KEEPALIVE_S`), below the
    edge's read timeout of 60 s."""


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
    """The sink's and the instance projection's group session timeout
    (`LANEWAY_AUDIT_SESSION_TIMEOUT_MS`, default 45000)."""
    commit_async: bool
    """Whether the sinks commit their offsets without waiting (`LANEWAY_AUDIT_COMMIT_ASYNC`,
    default on; `laneway.settings.ProjectionKnobs`): a sink finds what it wrote before by
    the record ids. A pipelined sink always waits (it hands a batch over once the one before
    is committed)."""
    commit_interval_s: float
    """How long the sinks' and the instance projection's offsets may be held back to be
    committed with the next batches' (`LANEWAY_AUDIT_COMMIT_INTERVAL_MS`, default 100; 0:
    each batch's at once; `laneway.settings.ProjectionKnobs`): one OffsetCommit request per
    interval instead of one per batch. A pipelined sink commits each batch's."""
    pipelined: bool
    """Whether each sink decodes the next batch while the one before is written
    (`LANEWAY_AUDIT_PIPELINE`, `on` or `off`, default off; `AuditSink.run`): the writes and
    their offset commits stay one at a time, in order. Off by default: on the shared 2-core
    development machine it measured no faster (0.93x the rows/s, median of 8 alternating
    rounds of `benchmarks.audit_pipeline_bench`) for about 6 % more CPU a row (the thread
    hand-offs); it can only gain where a core is free while PostgreSQL writes."""
    sinks: int
    """Sinks in this process, each its own consumer in the group and its own connection
    (`LANEWAY_AUDIT_SINKS`, default 1, at most 8): one writes while another decodes or
    waits for PostgreSQL (`services.audit.sink.SinkGroup`)."""
    cache_size: int
    """Instances whose last (seq, hash) the sink keeps in memory (`LANEWAY_AUDIT_CACHE_SIZE`,
    default 100000); older ones are read back from the database."""
    writer_database_url: str = field(repr=False)
    """The role the sink, the projection and the routes connect as: SELECT and INSERT on
    `audit_log` only (`LANEWAY_AUDIT_DATABASE_URL`; required in production; in development
    `DATABASE_URL` with user and password `laneway_audit_writer`). `DATABASE_URL` is the
    owner's, used for the migrations and the grants only."""
    key: bytes = field(repr=False)
    """The key the heads are signed with, which the database never sees
    (`LANEWAY_AUDIT_KEY_FILE`, at least 32 bytes; required in production; in development a
    public key when unset)."""
    key_is_dev: bool = False
    """Whether `key` is the public development key."""
    live: LiveSettings = field(default_factory=LiveSettings)
    """The live feed's settings."""
    traces_query_url: str | None = None
    """A Jaeger query API (`LANEWAY_TRACES_QUERY_URL`) the trace route reads an instance's
    trace from (`GET /api/instances/{id}/trace`); None: that route answers 503."""

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
    writer = _writer_url(env, common)
    key, key_is_dev = _key(env, common.environment)
    live = _live(env, common.topic_prefix)
    return AuditSettings(
        common=common,
        writer_database_url=writer,
        key=key,
        key_is_dev=key_is_dev,
        live=live,
        traces_query_url=trace_query.query_url(env),
        **projection_knobs(env, "audit", common.topic_prefix, batch_size=1000),
        database_schema=service_schema(env, "audit"),
        projection_enabled=projection == "on",
        pool_size=positive_int(env, "LANEWAY_DB_POOL_SIZE", 5),
        cache_size=positive_int(env, "LANEWAY_AUDIT_CACHE_SIZE", 100_000),
        sinks=_bounded(positive_int(env, "LANEWAY_AUDIT_SINKS", 1), "LANEWAY_AUDIT_SINKS", 8),
        pipelined=_on_off(env, "LANEWAY_AUDIT_PIPELINE", "off"),
    )


def _bounded(value: int, name: str, most: int) -> int:
    if value > most:
        raise SettingsError(f"Expected {name} at most {most}, but got {value}")
    return value


def _on_off(env: Mapping[str, str], name: str, default: str = "on") -> bool:
    return on_off(env, name, default=default == "on")


def _live(env: Mapping[str, str], topic_prefix: str) -> LiveSettings:
    keepalive = positive_float(env, "LANEWAY_LIVE_KEEPALIVE_S", 15.0)
    if keepalive >= EDGE_READ_TIMEOUT_S:
        raise SettingsError(f"Expected LANEWAY_LIVE_KEEPALIVE_S below the edge's read timeout "
                            f"({EDGE_READ_TIMEOUT_S:g} s), but got {keepalive:g}")
    max_s = positive_float(env, "LANEWAY_LIVE_MAX_S", 3600.0)
    if max_s > 7 * 24 * 3600:
        raise SettingsError(f"Expected LANEWAY_LIVE_MAX_S to be at most a week, but got "
                            f"{max_s:g}")
    return LiveSettings(
        enabled=_on_off(env, "LANEWAY_LIVE"),
        group=env.get("LANEWAY_LIVE_GROUP", "").strip() or f"{topic_prefix}audit-live",
        max_streams=positive_int(env, "LANEWAY_LIVE_MAX_STREAMS", 200),
        max_s=max_s,
        keepalive_s=keepalive,
    )


def writer_url(database_url: str, role: str = DEV_WRITER_ROLE) -> str:
    """`database_url` with `role` as its user and password: the development writer's DSN."""
    return make_conninfo(database_url, user=role, password=role)


def _writer_url(env: Mapping[str, str], common: Settings) -> str:
    value = env.get("LANEWAY_AUDIT_DATABASE_URL", "").strip()
    if not value:
        if common.environment == "production":
            raise SettingsError("Expected LANEWAY_AUDIT_DATABASE_URL (the audit writer role's "
                                "connection, docs/audit.md) to be set in production, but it is "
                                "not")
        value = writer_url(common.database_url)
    try:
        writer = conninfo_to_dict(value).get("user")
        owner = conninfo_to_dict(common.database_url).get("user")
    except psycopg.ProgrammingError as exc:
        raise SettingsError(f"Expected LANEWAY_AUDIT_DATABASE_URL to be a PostgreSQL "
                            f"connection string, but it is not: {exc}") from None
    if not writer or writer == owner:
        raise SettingsError("Expected LANEWAY_AUDIT_DATABASE_URL to name a role of its own "
                            "(not DATABASE_URL's, which owns the tables), but it does not")
    return value


def _key(env: Mapping[str, str], environment: str) -> tuple[bytes, bool]:
    raw = env.get("LANEWAY_AUDIT_KEY_FILE", "").strip()
    if not raw:
        if environment == "production":
            raise SettingsError("Expected LANEWAY_AUDIT_KEY_FILE (the key the audit heads are "
                                "signed with) to be set in production, but it is not")
        return DEV_KEY, True
    try:
        key = Path(raw).read_bytes().strip()
    except OSError as exc:
        raise SettingsError(f"Expected LANEWAY_AUDIT_KEY_FILE to name a readable file, but "
                            f"it cannot be read ({exc.strerror})") from None
    if len(key) < MIN_KEY_BYTES:
        raise SettingsError(f"Expected the audit key in LANEWAY_AUDIT_KEY_FILE to have at least "
                            f"{MIN_KEY_BYTES} bytes, but it has {len(key)}")
    return key, False
