"""Settings of the engine service: the shared `Settings` plus the loop's own knobs."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from laneway.agencies import AgencyConfig, load_agencies
from laneway.engine.limits import DEFAULT_LIMITS, Limits, ScriptLimits
from laneway.settings import Settings, positive_float, positive_int
from laneway.timers import TimerBounds


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineSettings:
    """Everything the engine service reads from the environment, checked once."""

    common: Settings
    """Connections, topic prefix, port, timeouts shared by every service."""
    replica: str
    """This process's name among the replicas (`LANEWAY_ENGINE_REPLICA`, default
    `<hostname>-<pid>`); the producer's transactional id is derived from it."""
    group: str
    """The consumer group of all replicas (`LANEWAY_ENGINE_GROUP`, default `<prefix>engine`)."""
    batch_size: int
    """At most this many records are processed in one transaction
    (`LANEWAY_ENGINE_BATCH_SIZE`, default 500). Smaller bounds how long a transaction takes
    when the engine has fallen behind: 100 gave a lower paced p99 at 500 starts/s on the
    loaded machine but about a fifth less burst throughput on a quieter one (docs/e2e.md,
    "Issue 16: the engine's hop (round 4)")."""
    poll_timeout_s: float
    """How long one poll waits for records when nothing is due (`LANEWAY_ENGINE_POLL_S`,
    default 0.1): the bound on how late a timer may fire and on shutdown latency."""
    definitions_wait_s: float
    """How long a batch waits for the `definitions` topic to catch up when it starts a process
    the engine has not seen (`LANEWAY_ENGINE_DEFINITIONS_WAIT_S`, default 5)."""
    restore_timeout_s: float
    """How long restoring one partition from `state` may take before the loop gives up and
    retries (`LANEWAY_ENGINE_RESTORE_TIMEOUT_S`, default 120; an open transaction of a fenced
    replica holds the read back until the broker aborts it)."""
    session_timeout_ms: int = 45_000
    """How soon the group notices a replica that died without leaving (SIGKILL, a lost
    machine) and hands its partitions to the others (`LANEWAY_ENGINE_SESSION_TIMEOUT_MS`,
    default 45000, Kafka's own; the broker bounds it by `group.min.session.timeout.ms`)."""
    max_poll_interval_ms: int = 300_000
    """How long the loop may go without polling before its consumer leaves the group and the
    other replicas take its partitions (`LANEWAY_ENGINE_MAX_POLL_INTERVAL_MS`, default
    300000, the client's own; at least the session timeout). A loop stuck in a call keeps
    heartbeating from the client's own thread, so the session alone never frees its
    partitions; a transaction it resumes afterwards is refused (KIP-447)."""

    ended_ids_retention_s: float = 7 * 24 * 3600.0
    """How long the id of an instance that ended is kept, so that a START_INSTANCE with it is
    refused (ALREADY_EXISTS) rather than starting the instance again
    (`LANEWAY_ENGINE_ENDED_IDS_RETENTION_S`, default 604800: 7 days). Each id costs a marker
    of about 100 bytes on `state` and an entry in memory while it is kept."""

    limits: Limits = DEFAULT_LIMITS
    """The engine core's bounds (laneway/engine/limits.py): events, steps and seconds one
    command may take (`LANEWAY_ENGINE_MAX_EVENTS`, default 10000; `_MAX_STEPS`, 50000;
    `_MAX_SECONDS`, 5), how deep call activities may nest (`_MAX_CALL_DEPTH`, 32) and how
    many inner instances one multi-instance activity may have
    (`_MAX_INSTANCES_PER_ELEMENT`, 10000); the longest timer, in years
    (`_MAX_TIMER_YEARS`, 100), and the shortest interval of a repeating timer
    (`_MIN_TIMER_CYCLE_MS`, 1000); a JavaScript script's time, memory and stack
    (`_SCRIPT_MAX_SECONDS`, 1; `_SCRIPT_MAX_MEMORY_BYTES`, 33554432; `_SCRIPT_MAX_STACK_BYTES`,
    262144), and `LANEWAY_ENGINE_JAVASCRIPT=job` to send JavaScript to workers instead."""

    agencies: AgencyConfig = field(default_factory=AgencyConfig)
    """This agency's name and partners (`LANEWAY_AGENCY_NAME`, `LANEWAY_AGENCY_PARTNERS`):
    where a message flow to another agency's pool is written (docs/agencies.md)."""

    watchdog_s: float | None = None
    """How long the loop may go without a round before the process exits so the orchestrator
    starts a fresh one (`LANEWAY_ENGINE_WATCHDOG_S`; default: the restore timeout plus 60 s,
    longer than the slowest legitimate pause)."""

    gather_s: float = 0.0
    """How long a batch smaller than `gather_min` waits for more records before it is
    processed (`LANEWAY_ENGINE_GATHER_MS`, default 0: never; docs/e2e.md, issue 16): fewer,
    larger transactions at moderate load, at the cost of up to this much latency per hop."""
    gather_min: int = 8
    """The batch size below which the engine gathers for `gather_s`
    (`LANEWAY_ENGINE_GATHER_MIN`, default 8, at most the batch size)."""

    warm_instances: int = 1000
    """How many of the instances a batch parked (services/engine/partitions.py
    `ParkedInstances`) keep their decoded object too, per partition
    (`LANEWAY_ENGINE_WARM_INSTANCES`, default 1000, about 4.5 KiB each; 0: none): a command
    that comes back to one soon (a job's completion) does not decode its snapshot again."""

    gc_young: int = 20_000
    """How many allocations (net) start a collection of the youngest generation
    (`LANEWAY_ENGINE_GC_YOUNG`, default 20000; Python's own is 700): fewer collections, each
    of which walks every young object; most of a command's objects die young by refcount
    first. With 700 the collector took 10-25 % of the engine's CPU (docs/e2e.md, issue 16)."""
    gc_freeze: bool = False
    """Move what a restore built into the collector's permanent generation
    (`LANEWAY_ENGINE_GC_FREEZE=1`), so later full collections do not walk the parked
    instances again. Cyclic garbage among them is then never collected."""

    @property
    def stall_limit_s(self) -> float:
        """The watchdog's limit: `watchdog_s`, or the restore timeout plus 60 s."""
        return self.watchdog_s if self.watchdog_s is not None else self.restore_timeout_s + 60.0

    @property
    def transactional_id(self) -> str:
        """Stable per replica, so a restarted replica of the same name fences its zombie."""
        return f"{self.group}-{self.replica}"


def load_settings(environ: Mapping[str, str] | None = None) -> EngineSettings:
    """Read the engine service's settings from `environ` (default: the process environment)."""
    common = Settings.from_env("engine", environ)
    env = os.environ if environ is None else environ
    replica = env.get("LANEWAY_ENGINE_REPLICA", "").strip() or (
        f"{socket.gethostname()}-{os.getpid()}")
    group = env.get("LANEWAY_ENGINE_GROUP", "").strip() or f"{common.topic_prefix}engine"
    d = DEFAULT_LIMITS
    session_ms = positive_int(env, "LANEWAY_ENGINE_SESSION_TIMEOUT_MS", 45000)
    return EngineSettings(
        common=common,
        replica=replica,
        group=group,
        batch_size=positive_int(env, "LANEWAY_ENGINE_BATCH_SIZE", 500),
        poll_timeout_s=positive_float(env, "LANEWAY_ENGINE_POLL_S", 0.1),
        definitions_wait_s=positive_float(env, "LANEWAY_ENGINE_DEFINITIONS_WAIT_S", 5.0),
        restore_timeout_s=positive_float(env, "LANEWAY_ENGINE_RESTORE_TIMEOUT_S", 120.0),
        session_timeout_ms=session_ms,
        max_poll_interval_ms=max(session_ms, positive_int(
            env, "LANEWAY_ENGINE_MAX_POLL_INTERVAL_MS", 300_000)),
        ended_ids_retention_s=positive_float(env, "LANEWAY_ENGINE_ENDED_IDS_RETENTION_S",
                                             7 * 24 * 3600.0),
        limits=Limits(
            max_events=positive_int(env, "LANEWAY_ENGINE_MAX_EVENTS", d.max_events),
            max_steps=positive_int(env, "LANEWAY_ENGINE_MAX_STEPS", d.max_steps),
            max_seconds=positive_float(env, "LANEWAY_ENGINE_MAX_SECONDS", d.max_seconds),
            max_call_depth=positive_int(env, "LANEWAY_ENGINE_MAX_CALL_DEPTH", d.max_call_depth),
            max_instances_per_element=positive_int(
                env, "LANEWAY_ENGINE_MAX_INSTANCES_PER_ELEMENT", d.max_instances_per_element),
            max_adhoc_decisions=positive_int(
                env, "LANEWAY_ENGINE_MAX_ADHOC_DECISIONS", d.max_adhoc_decisions),
            scripts=ScriptLimits(
                max_seconds=positive_float(env, "LANEWAY_ENGINE_SCRIPT_MAX_SECONDS",
                                           d.scripts.max_seconds),
                max_memory_bytes=positive_int(env, "LANEWAY_ENGINE_SCRIPT_MAX_MEMORY_BYTES",
                                              d.scripts.max_memory_bytes),
                max_stack_bytes=positive_int(env, "LANEWAY_ENGINE_SCRIPT_MAX_STACK_BYTES",
                                             d.scripts.max_stack_bytes),
                in_engine=env.get("LANEWAY_ENGINE_JAVASCRIPT", "engine").strip().lower()
                != "job",
            ),
            timers=TimerBounds(
                max_years=positive_int(env, "LANEWAY_ENGINE_MAX_TIMER_YEARS",
                                       d.timers.max_years),
                min_cycle=timedelta(milliseconds=positive_int(
                    env, "LANEWAY_ENGINE_MIN_TIMER_CYCLE_MS",
                    int(d.timers.min_cycle.total_seconds() * 1000))),
            ),
        ),
        agencies=load_agencies(env),
        gather_s=(positive_float(env, "LANEWAY_ENGINE_GATHER_MS", 1.0) / 1000
                  if env.get("LANEWAY_ENGINE_GATHER_MS", "").strip() not in ("", "0")
                  else 0.0),
        gather_min=min(positive_int(env, "LANEWAY_ENGINE_GATHER_MIN", 8),
                       positive_int(env, "LANEWAY_ENGINE_BATCH_SIZE", 500)),
        warm_instances=(0 if env.get("LANEWAY_ENGINE_WARM_INSTANCES", "").strip() == "0"
                        else min(100_000, positive_int(env, "LANEWAY_ENGINE_WARM_INSTANCES",
                                                       1000))),
        gc_young=positive_int(env, "LANEWAY_ENGINE_GC_YOUNG", 20_000),
        gc_freeze=env.get("LANEWAY_ENGINE_GC_FREEZE", "").strip().lower() in {"1", "true"},
        watchdog_s=(positive_float(env, "LANEWAY_ENGINE_WATCHDOG_S", 1.0)
                    if env.get("LANEWAY_ENGINE_WATCHDOG_S", "").strip() else None),
    )
