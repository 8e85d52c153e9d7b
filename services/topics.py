"""`python -m services.topics`: create every Laneway topic (docs/architecture.md "Topics") with
its partitions, replication and cleanup policy, the Helm chart's topic hook Job and `make up`'s
step (scripts/stack/topics.py) alike.

A fresh Kafka without these topics leaves the engine waiting on partitions that do not exist,
so the chart creates them before any service starts. Existing topics are left as they are: a
partition count that differs from the setting is reported, never changed (adding partitions
moves keys to other partitions; docs/operations.md says how to grow them on purpose).

Settings (environment): `KAFKA_BOOTSTRAP_SERVERS`, `LANEWAY_TOPIC_PREFIX` (default `laneway.`),
`LANEWAY_PARTITIONS` (commands, events, state, messages and each jobs topic; default 4),
`LANEWAY_REPLICATION_FACTOR` (default 1), `LANEWAY_MIN_INSYNC_REPLICAS` (unset: the broker's),
`LANEWAY_JOB_TYPES` (comma-separated connector types, one `jobs.<type>` topic each; default the
built-in connectors'), `LANEWAY_EVENTS_RETENTION_MS` (default 30 days), and the Kafka client
security settings every service reads (`laneway.kafka`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from laneway.kafka import admin_config as kafka_admin_config
from laneway.kafka_security import KafkaSecurity
from laneway.limits import TOPIC_MAX_MESSAGE_BYTES
from laneway.settings import SettingsError, positive_float, positive_int
from laneway.topics import Topics

__all__ = ["EVENTS_RETENTION_MS", "TopicError", "TopicSettings", "TopicSpec", "admin_config",
           "ensure_topics", "ensure_with_retries", "laneway_topics", "main"]

_log = logging.getLogger("laneway.topics")

EVENTS_RETENTION_MS = 30 * 24 * 3600 * 1000
"""The events topic's default retention: long enough to rebuild a projection from it."""

# the built-in connectors' types (services/connectors/settings.py DEFAULT_CONNECTOR_TYPES),
# kept here as a literal so creating topics does not import every connector
_DEFAULT_JOB_TYPES = ("http", "email", "slack", "discord", "llm", "response")


class TopicError(RuntimeError):
    """Kafka refused to list or create a topic: the message says which and why."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicSettings:
    """What decides the topics: read from the environment by `from_env`."""

    bootstrap: str
    prefix: str = "laneway."
    partitions: int = 4
    replication: int = 1
    min_insync_replicas: int | None = None
    job_types: tuple[str, ...] = _DEFAULT_JOB_TYPES
    events_retention_ms: int = EVENTS_RETENTION_MS
    security: KafkaSecurity | None = None
    """The admin client's TLS/SASL; None: the process environment's `LANEWAY_KAFKA_*`, as
    every service's clients."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TopicSettings:
        env = os.environ if environ is None else environ
        bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        if not bootstrap:
            raise SettingsError("Expected KAFKA_BOOTSTRAP_SERVERS to be set (the brokers to "
                                "create the topics on), but it is not")
        raw_types = env.get("LANEWAY_JOB_TYPES")
        job_types = (_DEFAULT_JOB_TYPES if raw_types is None
                     else tuple(t.strip() for t in raw_types.split(",") if t.strip()))
        insync = env.get("LANEWAY_MIN_INSYNC_REPLICAS", "").strip()
        return cls(
            bootstrap=bootstrap,
            prefix=env.get("LANEWAY_TOPIC_PREFIX", "laneway."),
            partitions=positive_int(env, "LANEWAY_PARTITIONS", 4),
            replication=positive_int(env, "LANEWAY_REPLICATION_FACTOR", 1),
            min_insync_replicas=(positive_int(env, "LANEWAY_MIN_INSYNC_REPLICAS", 1)
                                 if insync else None),
            job_types=job_types,
            events_retention_ms=positive_int(env, "LANEWAY_EVENTS_RETENTION_MS",
                                             EVENTS_RETENTION_MS),
        )


def laneway_topics(settings: TopicSettings) -> list[TopicSpec]:
    """Every topic: commands, events, state and messages co-partitioned (the same count, so
    partition p of each belongs to one engine replica), the compacted definitions and state,
    the dead letters, and one jobs topic per connector type."""
    topics, n = Topics(settings.prefix), settings.partitions
    # the record size limit stated on every topic, so it is a contract the producers'
    # checks (laneway.limits) can rely on, not whatever the broker's version defaults to
    base = {"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES)}
    if settings.min_insync_replicas is not None:
        base["min.insync.replicas"] = str(settings.min_insync_replicas)
    compact = {"cleanup.policy": "compact", **base}
    delete = {"cleanup.policy": "delete", **base}
    specs = [
        TopicSpec(topics.commands, n, dict(delete)),
        TopicSpec(topics.events, n, {**delete,
                                     "retention.ms": str(settings.events_retention_ms)}),
        TopicSpec(topics.state, n, dict(compact)),
        TopicSpec(topics.messages, n, dict(delete)),
        TopicSpec(topics.definitions, 1, dict(compact)),
        TopicSpec(topics.dlq, 1, dict(delete)),
    ]
    specs.extend(TopicSpec(topics.jobs(t), n, dict(delete)) for t in settings.job_types)
    return specs


def admin_config(bootstrap: str, security: KafkaSecurity | None = None) -> dict[str, Any]:
    """The admin client's configuration: the brokers and the same client security settings
    (TLS, SASL) every service's clients use (`security`, default the environment's)."""
    return {**kafka_admin_config(bootstrap, security=security), "client.id": "laneway-topics"}


def ensure_topics(settings: TopicSettings, *, timeout: float = 30.0,
                  say: Callable[[str], None] = _log.info) -> list[TopicSpec]:
    """Create the missing topics (replication from `settings`); report existing ones whose
    partition count differs. Safe to run again and concurrently."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(admin_config(settings.bootstrap, settings.security))
    specs = laneway_topics(settings)
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise TopicError(f"cannot list topics on {settings.bootstrap}: {exc}") from exc
    for spec in specs:
        if spec.name in existing:
            have = len(existing[spec.name].partitions)
            if have != spec.partitions:
                say(f"topic {spec.name} has {have} partitions, expected {spec.partitions} "
                    "(left as it is: docs/operations.md)")
    missing = [s for s in specs if s.name not in existing]
    if not missing:
        return specs
    futures = admin.create_topics(
        [NewTopic(s.name, num_partitions=s.partitions,
                  replication_factor=settings.replication, config=s.config) for s in missing],
        operation_timeout=timeout, request_timeout=timeout)
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            say(f"created topic {name}")
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # created concurrently
            raise TopicError(f"cannot create topic {name}: {exc}") from exc
    return specs


def ensure_with_retries(settings: TopicSettings, deadline_s: float,
                        say: Callable[[str], None]) -> list[TopicSpec]:
    """`ensure_topics`, again while Kafka is not reachable yet, until `deadline_s` has passed
    (a hook Job may start before the brokers answer)."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            return ensure_topics(settings, say=say)
        except TopicError as exc:
            if time.monotonic() >= end:
                raise
            say(f"{exc}; trying again")
            time.sleep(min(5.0, max(0.0, end - time.monotonic())))


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Create the topics the environment describes; 0 when every one exists, 2 when a setting
    is wrong, 1 when Kafka refused."""
    del argv  # no arguments: everything is a setting, as for the services
    logging.basicConfig(level=logging.INFO, format="%(levelname)s topics: %(message)s")
    env = os.environ if environ is None else environ
    try:
        settings = TopicSettings.from_env(env)
        deadline = positive_float(env, "LANEWAY_STARTUP_TIMEOUT_S", 120.0)
    except SettingsError as exc:
        _log.error("%s", exc)
        return 2
    try:
        specs = ensure_with_retries(settings, deadline, _log.info)
    except TopicError as exc:
        _log.error("%s", exc)
        return 1
    _log.info("%d topics present under prefix %r (%d partitions, replication %d)", len(specs),
              settings.prefix, settings.partitions, settings.replication)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
