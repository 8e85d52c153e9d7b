"""Settings shared by every service, read from the environment.

Built by each service's `__main__` (never at import time) from `os.environ` or, in tests, from a
plain mapping. Names are the standard ones where there is one (`KAFKA_BOOTSTRAP_SERVERS`,
`DATABASE_URL`, `REDIS_URL`) and carry the `LANEWAY_` prefix otherwise. The defaults point at the
local stack (`make up`); with `LANEWAY_ENV=production` a missing connection setting is an error
instead, so a deployment cannot run against a developer's defaults by accident.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from laneway.kafka import CLIENT_PROPERTIES_VARIABLES, ClientPropertiesError, client_properties
from laneway.kafka_security import KafkaSecurity, KafkaSecurityError
from laneway.limits import DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_VARIABLES_BYTES

__all__ = [
    "DEFAULT_PORTS",
    "ProjectionKnobs",
    "Settings",
    "SettingsError",
    "configure_logging",
    "database_schema",
    "positive_float",
    "positive_int",
    "projection_knobs",
]

# The local stack's addresses (scripts/stack/config.py), so `make up` needs no settings.
_LOCAL_DEFAULTS = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
    "DATABASE_URL": "postgresql://laneway:laneway@127.0.0.1:15432/laneway",
    "REDIS_URL": "redis://127.0.0.1:16379/0",
}


# Each service's own port on one machine (its health, metrics and routes); the public URL
# (LANEWAY_URL, http://127.0.0.1:8080) is the edge, which routes each path to its service
# (edge/routes.toml).
DEFAULT_PORTS = {
    "definitions": 8086,
    "engine": 8081,
    "worklist": 8082,
    "connectors": 8083,
    "audit": 8085,
    "triggers": 8087,
    "bridge": 8088,
}


class SettingsError(ValueError):
    """A setting is missing or malformed. Not retryable: the environment has to change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What every service needs to find its dependencies."""

    service: str
    """The service's name (`engine`, `connectors`, ...), used in logs and telemetry."""
    environment: str
    """`development` (the default) or `production` (no defaults for connections)."""
    kafka_bootstrap_servers: str
    """Comma-separated `host:port` list of Kafka brokers."""
    database_url: str
    """PostgreSQL connection URL."""
    redis_url: str
    """Redis connection URL."""
    topic_prefix: str
    """Prefix of every topic name (`LANEWAY_TOPIC_PREFIX`, default `laneway.`)."""
    startup_timeout_s: float
    """How long `__main__` waits for dependencies before giving up (`LANEWAY_STARTUP_TIMEOUT_S`)."""
    log_level: str
    """Logging level name (`LANEWAY_LOG_LEVEL`, default `INFO`)."""
    http_port: int
    """Port of the service's HTTP endpoints: health, metrics, its API (`LANEWAY_HTTP_PORT`)."""
    stall_s: float = 60.0
    """How long a consuming loop may go without polling Kafka, or keep failing on the same
    record, before /health fails (`LANEWAY_STALL_S`, default 60; `laneway.service.progress`)."""
    http_host: str = "127.0.0.1"
    """Interface the HTTP endpoints bind (`LANEWAY_HTTP_HOST`, default loopback; a container
    sets `0.0.0.0` so probes reach it)."""
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    """The largest record this service produces, key, value and headers
    (`LANEWAY_MAX_RECORD_BYTES`, default and most 1,000,000, librdkafka's own producer limit;
    `laneway.limits`): what would be larger is refused (413, or a rejection in the engine)."""
    max_variables_bytes: int = DEFAULT_MAX_VARIABLES_BYTES
    """The largest variables one command may carry, as compact JSON
    (`LANEWAY_MAX_VARIABLES_BYTES`, default 262144): the API answers 413 over it, the engine
    rejects a command record over it (plus room for the rest of the command)."""
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    """TLS and SASL of every Kafka client (`LANEWAY_KAFKA_SECURITY_PROTOCOL`, ...;
    `laneway.kafka_security`, docs/kafka-security.md). Read here so a wrong one stops the
    service at start with the other settings; the clients take the same values from the
    process environment (`laneway.kafka.security_config`). Its repr hides the secrets."""
    log_format: str = "json"
    """`json` (one JSON object per line, with trace and instance ids) or `text` (the old
    one-line format) (`LANEWAY_LOG_FORMAT`, default `json`; `laneway.telemetry`)."""
    kafka_properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Extra librdkafka properties per client role (`LANEWAY_KAFKA_CONSUMER_PROPERTIES`,
    `LANEWAY_KAFKA_PRODUCER_PROPERTIES`, `LANEWAY_KAFKA_TRANSACTIONAL_PROPERTIES`:
    `name=value,...`; `laneway.kafka.CLIENT_PROPERTIES_VARIABLES`, docs/operations.md). Read
    here so a wrong one stops the service at start; the clients take them from the process
    environment (`laneway.kafka.producer_config`, `consumer_config`)."""

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings of `service` from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        environment = env.get("LANEWAY_ENV", "development")
        if environment not in ("development", "production"):
            raise SettingsError(
                f"Expected LANEWAY_ENV to be 'development' or 'production', but got {environment!r}"
            )

        def connection(name: str) -> str:
            value = env.get(name, "").strip()
            if value:
                return value
            if environment == "production":
                raise SettingsError(f"Expected {name} to be set in production, but it is not")
            return _LOCAL_DEFAULTS[name]

        raw_timeout = env.get("LANEWAY_STARTUP_TIMEOUT_S", "60")
        try:
            startup_timeout_s = float(raw_timeout)
        except ValueError:
            startup_timeout_s = -1.0
        if not startup_timeout_s > 0:
            raise SettingsError(
                "Expected LANEWAY_STARTUP_TIMEOUT_S to be a positive number of seconds, "
                f"but got {raw_timeout!r}"
            )

        log_format = env.get("LANEWAY_LOG_FORMAT", "").strip().lower() or "json"
        if log_format not in ("json", "text"):
            raise SettingsError(
                f"Expected LANEWAY_LOG_FORMAT to be 'json' or 'text', but got {log_format!r}")

        raw_port = env.get("LANEWAY_HTTP_PORT", str(DEFAULT_PORTS.get(service, 8080)))
        if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
            raise SettingsError(
                f"Expected LANEWAY_HTTP_PORT to be a port number, but got {raw_port!r}"
            )

        return cls(
            service=service,
            environment=environment,
            kafka_bootstrap_servers=connection("KAFKA_BOOTSTRAP_SERVERS"),
            database_url=connection("DATABASE_URL"),
            redis_url=connection("REDIS_URL"),
            topic_prefix=env.get("LANEWAY_TOPIC_PREFIX", "laneway."),
            startup_timeout_s=startup_timeout_s,
            log_level=env.get("LANEWAY_LOG_LEVEL", "INFO").upper(),
            http_port=int(raw_port),
            http_host=env.get("LANEWAY_HTTP_HOST", "").strip() or "127.0.0.1",
            stall_s=positive_float(env, "LANEWAY_STALL_S", 60.0),
            max_record_bytes=_record_limit(env),
            max_variables_bytes=positive_int(env, "LANEWAY_MAX_VARIABLES_BYTES",
                                             DEFAULT_MAX_VARIABLES_BYTES),
            kafka_security=_kafka_security(env),
            log_format=log_format,
            kafka_properties=_kafka_properties(env),
        )


def _kafka_properties(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    try:
        return {role: client_properties(role, env) for role in CLIENT_PROPERTIES_VARIABLES}
    except ClientPropertiesError as exc:  # its message names the setting
        raise SettingsError(str(exc)) from None


def _kafka_security(env: Mapping[str, str]) -> KafkaSecurity:
    try:
        return KafkaSecurity.from_env(env)
    except KafkaSecurityError as exc:  # its message names the setting, never a secret
        raise SettingsError(str(exc)) from None


def configure_logging(settings: Settings) -> None:
    """Log to standard error, one line a record, named by service: a JSON object with the
    trace and instance ids (`log_format` `json`), or the old text line (`text`)."""
    # imported here: laneway.telemetry reads SettingsError from this module
    from laneway.telemetry import log_handler

    logging.basicConfig(level=settings.log_level,
                        handlers=[log_handler(settings.service, settings.log_format)])


def _record_limit(env: Mapping[str, str]) -> int:
    limit = positive_int(env, "LANEWAY_MAX_RECORD_BYTES", DEFAULT_MAX_RECORD_BYTES)
    if limit > DEFAULT_MAX_RECORD_BYTES:
        # a larger limit would let records through that the producers (message.max.bytes)
        # or the topics (max.message.bytes) refuse: the jam this limit exists to prevent
        raise SettingsError(
            f"Expected LANEWAY_MAX_RECORD_BYTES to be at most {DEFAULT_MAX_RECORD_BYTES} (what "
            f"the producers and the topics take), but got {limit}")
    return limit


_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of at least 1 from `env[name]`, `default` when unset or blank."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"Expected {name} to be a positive integer, but got {raw!r}")
    return int(raw)


def whole_number(env: Mapping[str, str], name: str, default: int, *, most: int) -> int:
    """A whole number from 0 to `most` from `env[name]`, `default` when unset or blank."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) > most:
        raise SettingsError(f"Expected {name} to be a whole number from 0 to {most}, but got "
                            f"{raw!r}")
    return int(raw)


def positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    """A number above 0 from `env[name]`, `default` when unset or blank."""
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


def database_schema(env: Mapping[str, str]) -> str | None:
    """The base of the services' PostgreSQL schemas (`LANEWAY_DB_SCHEMA`), None when unset.
    Each service keeps its tables in a schema of its own named from it
    (`laneway.service_schemas.service_schema`: `<base>_<service>`, or the service's name)."""
    schema = env.get("LANEWAY_DB_SCHEMA", "").strip() or None
    if schema is not None and not _SCHEMA_NAME.match(schema):
        raise SettingsError(
            f"Expected LANEWAY_DB_SCHEMA to be a lower-case SQL identifier, but got {schema!r}"
        )
    return schema


class ProjectionKnobs(TypedDict):
    """The settings of a service's consume-and-project loop (`laneway.consuming`), read the
    same way for each (`projection_knobs`); a service's settings take them as fields."""

    group: str
    """The consumer group (`LANEWAY_<SERVICE>_GROUP`, default `<prefix><service>`)."""
    batch_size: int
    """Most records in one database transaction (`LANEWAY_<SERVICE>_BATCH_SIZE`)."""
    poll_timeout_s: float
    """How long one poll waits for records (`LANEWAY_<SERVICE>_POLL_S`, default 0.2): the
    bound on shutdown latency and on how long a partial batch waits."""
    session_timeout_ms: int
    """The group session timeout (`LANEWAY_<SERVICE>_SESSION_TIMEOUT_MS`, default 45000): how
    long a crashed member holds its partitions before the group moves them."""
    commit_async: bool
    """Whether a batch's Kafka offsets are committed without waiting for the broker's answer
    (`LANEWAY_<SERVICE>_COMMIT_ASYNC`, `on` or `off`, default on), still only after the
    database commit (`laneway.consuming.ProjectionLoop`): the next batch is not held by that
    round trip (1-90 ms on the loaded development broker). A commit that does not land reads
    its batch again, which changes nothing (the projections are idempotent), exactly as after
    a crash between the two commits."""
    commit_interval_s: float
    """How long a batch's Kafka offsets may be held back to be committed with the next
    batches' (`LANEWAY_<SERVICE>_COMMIT_INTERVAL_MS`, default 100; 0: each batch's at once),
    still only after the database commit (`laneway.consuming.ProjectionLoop`): one
    OffsetCommit request per interval instead of one per batch. They are committed at once
    when nothing more comes, when the partitions move and on the way out; after a crash, at
    most the interval's records are read again, which changes nothing."""


def projection_knobs(env: Mapping[str, str], service: str, topic_prefix: str, *,
                     batch_size: int) -> ProjectionKnobs:
    """The loop settings of `service` from `env` (`LANEWAY_<SERVICE>_GROUP`, `_BATCH_SIZE`,
    `_POLL_S`, `_SESSION_TIMEOUT_MS`, `_COMMIT_ASYNC`, `_COMMIT_INTERVAL_MS`); `batch_size`
    is its default batch."""
    name = f"LANEWAY_{service.upper()}"
    return ProjectionKnobs(
        group=env.get(f"{name}_GROUP", "").strip() or f"{topic_prefix}{service}",
        batch_size=positive_int(env, f"{name}_BATCH_SIZE", batch_size),
        poll_timeout_s=positive_float(env, f"{name}_POLL_S", 0.2),
        session_timeout_ms=positive_int(env, f"{name}_SESSION_TIMEOUT_MS", 45_000),
        commit_async=on_off(env, f"{name}_COMMIT_ASYNC", default=True),
        commit_interval_s=whole_number(env, f"{name}_COMMIT_INTERVAL_MS", 100,
                                       most=60_000) / 1000,
    )


def on_off(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    """`on` or `off` (any case, surrounding blanks ignored; empty or unset: `default`)."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("on", "off"):
        raise SettingsError(f"Expected {name} to be 'on' or 'off', but got {raw!r}")
    return raw == "on"
