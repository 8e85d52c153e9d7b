"""Settings of the local stack, read from the environment with safe defaults.

Every port, directory and version is a setting, so the stack never collides with a server
already on the machine and can be pointed at existing infrastructure instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from laneway.engine.processors.decision import DECISION_JOB_TYPE
from services.connectors.settings import DEFAULT_CONNECTOR_TYPES

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_KAFKA_VERSION = "4.4.0"
# every built-in connector's jobs topic, and the engine's decision jobs (a gateway's handler)
DEFAULT_JOB_TYPES = (*DEFAULT_CONNECTOR_TYPES, DECISION_JOB_TYPE)


class StackError(RuntimeError):
    """A component could not be installed, started, checked or stopped."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise StackError(f"{name} must be an integer, got {raw!r}") from exc


KAFKA_GC: dict[str, tuple[str, ...]] = {
    "g1": ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"),
    "zgc": ("-XX:+UseZGC",),
}
"""The broker's JVM options per garbage collector (`LANEWAY_KAFKA_GC`). G1, Kafka's own
choice, stops the broker for its young collections: 13-27 ms every 2-4 s on the development
machine under load, which every Kafka hop in flight waits out. ZGC does not stop it, but its
concurrent cycles take a core for about 0.3 s and it fills more of the heap first; on two
shared cores it was no better for a task completion's p99 (docs/benchmarks.md, issue 16
round 8)."""


def _choice(env: Mapping[str, str], name: str, choices: Mapping[str, object], default: str
            ) -> str:
    raw = env.get(name, "").strip().lower() or default
    if raw not in choices:
        raise StackError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser().resolve() if raw else default


def _cache_home(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    if xdg:
        return Path(xdg).expanduser()
    return Path(env.get("HOME", str(Path.home()))).expanduser() / ".cache"


@dataclass(frozen=True)
class Settings:
    """Where the stack lives and how it is reached."""

    state_dir: Path
    cache_dir: Path
    kafka_version: str
    kafka_port: int
    kafka_controller_port: int
    kafka_secure_port: int
    """The SASL_SSL listener (PLAIN, SCRAM, OAUTHBEARER; scripts/stack/kafka_secure.py); 0: off."""
    kafka_ssl_port: int
    """The SSL listener that requires a client certificate; 0: off."""
    kafka_heap: str
    kafka_gc: str
    """The broker's garbage collector, a key of `KAFKA_GC` (`LANEWAY_KAFKA_GC`)."""
    postgres_port: int
    postgres_user: str
    postgres_password: str
    postgres_db: str
    audit_writer: str
    """The audit service's writer role (its password the same): it may only read and append
    to the audit log (docs/audit.md); services/audit/settings.py derives its DSN the same way."""
    redis_port: int
    mail_port: int
    jaeger: bool
    """`LANEWAY_JAEGER` (on unless `0`): start Jaeger (scripts/stack/jaeger.py) with the rest."""
    jaeger_ui_port: int
    """Jaeger's query API and UI (16686, Jaeger's usual port)."""
    jaeger_query_grpc_port: int
    jaeger_otlp_grpc_port: int
    jaeger_otlp_http_port: int
    jaeger_max_traces: int
    """The in-memory store keeps at most this many traces (the oldest go first)."""
    jaeger_build_timeout: float
    """Seconds `up` waits for Jaeger's binary when it must be built (or another process is
    building it, as `.ci/run` does in the background)."""
    topic_prefix: str
    partitions: int
    job_types: tuple[str, ...]
    external_kafka: str | None
    external_database_url: str | None
    external_redis_url: str | None
    kafka_start_timeout: float
    allow_install: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e: Mapping[str, str] = os.environ if env is None else env
        version = e.get("LANEWAY_KAFKA_VERSION", "").strip() or DEFAULT_KAFKA_VERSION
        state_dir = _path(e, "LANEWAY_STACK_DIR", REPO_ROOT / "var" / "stack")
        cache_dir = _path(e, "LANEWAY_KAFKA_CACHE", _cache_home(e) / "laneway" / f"kafka-{version}")
        job_types_raw = e.get("LANEWAY_JOB_TYPES")
        job_types = (
            tuple(t.strip() for t in job_types_raw.split(",") if t.strip())
            if job_types_raw is not None
            else DEFAULT_JOB_TYPES
        )
        partitions = _int(e, "LANEWAY_PARTITIONS", 4)
        if partitions < 1:
            raise StackError("LANEWAY_PARTITIONS must be at least 1")
        return cls(
            state_dir=state_dir,
            cache_dir=cache_dir,
            kafka_version=version,
            kafka_port=_int(e, "LANEWAY_KAFKA_PORT", 19092),
            kafka_controller_port=_int(e, "LANEWAY_KAFKA_CONTROLLER_PORT", 19093),
            # on by default, so `make test` and CI always test the clients' TLS and SASL
            kafka_secure_port=_int(e, "LANEWAY_KAFKA_SECURE_PORT", 19094),
            kafka_ssl_port=_int(e, "LANEWAY_KAFKA_SSL_PORT", 19095),
            kafka_heap=e.get("LANEWAY_KAFKA_HEAP", "").strip() or "1g",
            kafka_gc=_choice(e, "LANEWAY_KAFKA_GC", KAFKA_GC, "g1"),
            postgres_port=_int(e, "LANEWAY_POSTGRES_PORT", 15432),
            postgres_user="laneway",
            postgres_password="laneway",
            postgres_db="laneway",
            audit_writer="laneway_audit_writer",
            redis_port=_int(e, "LANEWAY_REDIS_PORT", 16379),
            mail_port=_int(e, "LANEWAY_MAIL_PORT", 11025),
            jaeger=e.get("LANEWAY_JAEGER", "").strip().lower() not in {"0", "false", "no", "off"},
            jaeger_ui_port=_int(e, "LANEWAY_JAEGER_UI_PORT", 16686),
            jaeger_query_grpc_port=_int(e, "LANEWAY_JAEGER_QUERY_GRPC_PORT", 16685),
            jaeger_otlp_grpc_port=_int(e, "LANEWAY_JAEGER_OTLP_GRPC_PORT", 4317),
            jaeger_otlp_http_port=_int(e, "LANEWAY_JAEGER_OTLP_HTTP_PORT", 4318),
            jaeger_max_traces=max(_int(e, "LANEWAY_JAEGER_MAX_TRACES", 20000), 1),
            jaeger_build_timeout=float(_int(e, "LANEWAY_JAEGER_BUILD_TIMEOUT", 1200)),
            topic_prefix=e.get("LANEWAY_TOPIC_PREFIX", "laneway."),
            partitions=partitions,
            job_types=job_types,
            external_kafka=e.get("KAFKA_BOOTSTRAP_SERVERS", "").strip() or None,
            external_database_url=e.get("DATABASE_URL", "").strip() or None,
            external_redis_url=e.get("REDIS_URL", "").strip() or None,
            kafka_start_timeout=float(_int(e, "LANEWAY_KAFKA_START_TIMEOUT", 90)),
            allow_install=e.get("LANEWAY_STACK_NO_INSTALL", "").strip() not in {"1", "true", "yes"},
        )

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def kafka_bootstrap(self) -> str:
        return self.external_kafka or f"127.0.0.1:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        return self.external_database_url or self.local_database_url

    @property
    def local_database_url(self) -> str:
        """The URL of this stack's own PostgreSQL."""
        return (
            f"postgresql://{self.postgres_user}:{self.postgres_password}"
            f"@127.0.0.1:{self.postgres_port}/{self.postgres_db}"
        )

    @property
    def redis_url(self) -> str:
        return self.external_redis_url or f"redis://127.0.0.1:{self.redis_port}/0"
