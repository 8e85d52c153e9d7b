"""Settings of the triggers service: the shared `Settings` plus the scheduler's knobs."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from laneway.service_schemas import service_schema
from laneway.settings import Settings, positive_float, positive_int


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggersSettings:
    """Everything the triggers service reads from the environment, checked once."""

    common: Settings
    database_schema: str
    """Its tables' schema: `triggers`, or `<LANEWAY_DB_SCHEMA>_triggers`."""
    replica: str
    """This replica's name in the schedules' leases (`LANEWAY_TRIGGERS_REPLICA`, default
    host name and a random suffix)."""
    tick_s: float
    """How often the scheduler looks for due schedules (`LANEWAY_TRIGGERS_TICK_S`, 0.5)."""
    concurrency: int
    """Most polls at once in one replica (`LANEWAY_TRIGGERS_CONCURRENCY`, 8)."""
    poll_timeout_s: float
    """How long one poll may take (`LANEWAY_TRIGGERS_POLL_TIMEOUT_S`, 60); the lease lasts
    twice that, so a replica that died mid-poll gives its schedules up after it."""
    max_items: int
    """Most items one poll may start (`LANEWAY_TRIGGERS_MAX_ITEMS`, 1000); a plugin that
    returns more fails the poll."""
    backoff_s: float
    """The first wait after a failed poll (`LANEWAY_TRIGGERS_BACKOFF_S`, 5), doubled per
    failure in a row up to `max_backoff_s` (`LANEWAY_TRIGGERS_MAX_BACKOFF_S`, 3600)."""
    max_backoff_s: float
    publish_timeout_s: float
    """How long a start waits for Kafka's acknowledgement (`LANEWAY_PUBLISH_TIMEOUT_S`, 10)."""
    data_dir: Path
    """Where triggers keep files, a folder per schedule (`LANEWAY_TRIGGERS_DATA_DIR`,
    default `var/triggers` under the working directory)."""
    pool_size: int
    """Most PostgreSQL connections the routes hold (`LANEWAY_DB_POOL_SIZE`, 10)."""
    hook_max_bytes: int
    """The largest webhook body accepted (`LANEWAY_TRIGGERS_HOOK_MAX_BYTES`, 262144)."""
    errors_kept: int = 20
    """Errors kept per schedule."""

    @property
    def lease_s(self) -> float:
        return 2 * self.poll_timeout_s


def load_settings(environ: Mapping[str, str] | None = None) -> TriggersSettings:
    """Read the triggers service's settings from `environ` (default: the environment)."""
    common = Settings.from_env("triggers", environ)
    env: Mapping[str, str] = os.environ if environ is None else environ
    return TriggersSettings(
        common=common,
        database_schema=service_schema(env, "triggers"),
        replica=env.get("LANEWAY_TRIGGERS_REPLICA", "").strip()
        or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}",
        tick_s=positive_float(env, "LANEWAY_TRIGGERS_TICK_S", 0.5),
        concurrency=positive_int(env, "LANEWAY_TRIGGERS_CONCURRENCY", 8),
        poll_timeout_s=positive_float(env, "LANEWAY_TRIGGERS_POLL_TIMEOUT_S", 60.0),
        max_items=positive_int(env, "LANEWAY_TRIGGERS_MAX_ITEMS", 1000),
        backoff_s=positive_float(env, "LANEWAY_TRIGGERS_BACKOFF_S", 5.0),
        max_backoff_s=positive_float(env, "LANEWAY_TRIGGERS_MAX_BACKOFF_S", 3600.0),
        publish_timeout_s=positive_float(env, "LANEWAY_PUBLISH_TIMEOUT_S", 10.0),
        data_dir=Path(env.get("LANEWAY_TRIGGERS_DATA_DIR", "").strip() or "var/triggers"),
        pool_size=positive_int(env, "LANEWAY_DB_POOL_SIZE", 10),
        hook_max_bytes=positive_int(env, "LANEWAY_TRIGGERS_HOOK_MAX_BYTES", 262144),
    )
