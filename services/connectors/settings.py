"""Settings of the connectors service."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from laneway.connectors import DEFAULT_SECRETS_DIR
from laneway.settings import Settings, SettingsError, positive_float, positive_int

MAX_ACTIVATE = 100
"""The most jobs one activation of the job API hands out (`maxJobs`)."""
MAX_REQUEST_TIMEOUT_MS = 30_000
"""The longest long poll of an activation (`requestTimeoutMs`): under the edge's 60 s."""
MAX_LEASE_MS = 24 * 3600 * 1000
"""The longest lease (`timeoutMs`) an outside worker may take on a job."""
MAX_BACKOFF_MS = 3600 * 1000
"""The longest `retryBackOffMs` of a failure (the job's offset stays uncommitted meanwhile)."""

# The types a worker serves when LANEWAY_CONNECTOR_TYPES is not set, and the one list of the
# built-in types the rest follows: `make up` creates their `jobs.<type>` topics
# (scripts/stack/config.py) and runs their workers, compose leaves the default alone, and
# tests/unit/test_skeleton.py holds helm/values.yaml (one Deployment per type) to it. A new
# built-in type is one line here (plus its Deployment in helm/values.yaml).
DEFAULT_CONNECTOR_TYPES = (
    "http",
    "email",
    "slack",
    "discord",
    "llm",
    "response",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectorsSettings:
    """The shared settings plus which connector types this process serves, and how."""

    common: Settings
    """Connections, topic prefix, logging: the same for every service."""
    connector_types: tuple[str, ...]
    """Connector types to consume `jobs.<type>` for (`LANEWAY_CONNECTOR_TYPES`, comma-separated,
    or `--types`). One Deployment per type in Kubernetes, so each type scales alone. `none`
    with `LANEWAY_EXTERNAL_JOB_TYPES` set: a process that is only the job gateway."""
    concurrency: int = 32
    """Jobs of one type running at once in this process (`LANEWAY_CONNECTOR_CONCURRENCY`);
    each type has its own bound, so a slow type cannot take another's slots."""
    secrets_dir: str = DEFAULT_SECRETS_DIR
    """Where mounted secret files are (`LANEWAY_SECRETS_DIR`)."""
    idempotency_ttl_s: float = 7 * 24 * 3600.0
    """How long a job's stored result is kept in Redis to answer redeliveries
    (`LANEWAY_CONNECTOR_IDEMPOTENCY_TTL_S`, default 7 days)."""
    poll_timeout_s: float = 0.1
    """How long one poll of `jobs.<type>` waits (`LANEWAY_CONNECTOR_POLL_S`): the bound on
    shutdown latency."""
    shutdown_grace_s: float = 20.0
    """How long a stopping worker lets running jobs finish (`LANEWAY_CONNECTOR_SHUTDOWN_GRACE_S`);
    jobs still running after it are redelivered to another worker."""
    commit_interval_s: float = 0.1
    """How often done offsets are committed (`LANEWAY_CONNECTOR_COMMIT_INTERVAL_S`): longer
    means fewer commits and more redeliveries (answered from Redis) after a crash."""
    session_timeout_ms: int = 10_000
    """How soon the group notices a dead worker and hands its partitions (and their unanswered
    jobs) to another (`LANEWAY_CONNECTOR_SESSION_TIMEOUT_MS`; Kafka's default is 45 s)."""
    external_job_types: tuple[str, ...] = ()
    """Job types taken by workers outside Laneway through the job API (`/api/jobs`,
    docs/workers.md): `LANEWAY_EXTERNAL_JOB_TYPES`, comma-separated. When set, this process
    also runs the job gateway and serves the API (and /health, /metrics) on its port; a type
    must not also be a connector type of any process."""
    gateway_buffer: int = 256
    """Jobs of one outside type held in memory, offered or leased (`LANEWAY_JOBS_BUFFER`)."""
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The environment the settings came from (secrets and per-connector settings are read
    from it when a job needs them)."""

    def group(self, connector_type: str) -> str:
        """The consumer group of one type: `<prefix>connectors.<type>`."""
        return f"{self.common.topic_prefix}connectors.{connector_type}"

    def gateway_group(self, job_type: str) -> str:
        """The job gateway's consumer group of one outside type: `<prefix>jobs-gateway.<type>`."""
        return f"{self.common.topic_prefix}jobs-gateway.{job_type}"

    def connector_settings(self, connector_type: str) -> dict[str, str]:
        """`LANEWAY_CONNECTOR_<TYPE>_<NAME>` variables as `{name: value}`."""
        prefix = f"LANEWAY_CONNECTOR_{connector_type.upper().replace('-', '_')}_"
        return {k[len(prefix):].lower(): v for k, v in self.environ.items()
                if k.startswith(prefix)}



def parse_types(raw: str, source: str = "LANEWAY_CONNECTOR_TYPES") -> tuple[str, ...]:
    """A comma-separated list of connector types, blanks dropped; at least one."""
    types = tuple(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))
    if not types:
        raise SettingsError(f"Expected {source} to name at least one type, but got {raw!r}")
    return types


def load_settings(environ: Mapping[str, str] | None = None,
                  types: str | None = None) -> ConnectorsSettings:
    """Read the connectors' settings from `environ` (default: the process environment);
    `types` (from `--types`) overrides LANEWAY_CONNECTOR_TYPES."""
    common = Settings.from_env("connectors", environ)
    env = os.environ if environ is None else environ
    raw = types if types is not None else env.get("LANEWAY_CONNECTOR_TYPES",
                                                   ",".join(DEFAULT_CONNECTOR_TYPES))
    external = external_job_types(env)
    if raw.strip().lower() == "none" and external:
        connector_types: tuple[str, ...] = ()  # a job gateway only (docs/workers.md)
    else:
        connector_types = parse_types(raw, "--types" if types is not None
                                      else "LANEWAY_CONNECTOR_TYPES")
    return ConnectorsSettings(
        common=common,
        connector_types=connector_types,
        concurrency=positive_int(env, "LANEWAY_CONNECTOR_CONCURRENCY", 32),
        secrets_dir=env.get("LANEWAY_SECRETS_DIR", DEFAULT_SECRETS_DIR),
        idempotency_ttl_s=positive_float(env, "LANEWAY_CONNECTOR_IDEMPOTENCY_TTL_S",
                                         7 * 24 * 3600.0),
        poll_timeout_s=positive_float(env, "LANEWAY_CONNECTOR_POLL_S", 0.1),
        shutdown_grace_s=positive_float(env, "LANEWAY_CONNECTOR_SHUTDOWN_GRACE_S", 20.0),
        commit_interval_s=positive_float(env, "LANEWAY_CONNECTOR_COMMIT_INTERVAL_S", 0.1),
        session_timeout_ms=positive_int(env, "LANEWAY_CONNECTOR_SESSION_TIMEOUT_MS", 10000),
        external_job_types=external,
        gateway_buffer=positive_int(env, "LANEWAY_JOBS_BUFFER", 256),
        environ=dict(env),
    )


def external_job_types(env: Mapping[str, str]) -> tuple[str, ...]:
    """`LANEWAY_EXTERNAL_JOB_TYPES`: the types the job API serves; none when unset."""
    raw = env.get("LANEWAY_EXTERNAL_JOB_TYPES", "")
    return parse_types(raw, "LANEWAY_EXTERNAL_JOB_TYPES") if raw.strip() else ()
