"""The Laneway topics (docs/ARCHITECTURE "Topics"), created with the Kafka admin client."""

from __future__ import annotations

from dataclasses import dataclass, field

from laneway.kafka import admin_config
from laneway.kafka_security import KafkaSecurity
from laneway.limits import TOPIC_MAX_MESSAGE_BYTES
from scripts.stack.config import Settings, StackError
from scripts.stack.proc import log

EVENTS_RETENTION_MS = str(30 * 24 * 3600 * 1000)  # "long retention", bounded on a laptop


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def laneway_topics(settings: Settings) -> list[TopicSpec]:
    p, n = settings.topic_prefix, settings.partitions
    # the record size limit stated on every topic, so it is a contract the producers'
    # checks (laneway.limits) can rely on, not whatever the broker's version defaults to
    size = {"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES)}
    compact = {"cleanup.policy": "compact", **size}
    delete = {"cleanup.policy": "delete", **size}
    specs = [
        # commands, events, state and messages are co-partitioned: same count.
        TopicSpec(f"{p}commands", n, dict(delete)),
        TopicSpec(f"{p}events", n, {**delete, "retention.ms": EVENTS_RETENTION_MS}),
        TopicSpec(f"{p}state", n, dict(compact)),
        TopicSpec(f"{p}messages", n, dict(delete)),
        TopicSpec(f"{p}definitions", 1, dict(compact)),
        TopicSpec(f"{p}dlq", 1, dict(delete)),
    ]
    specs.extend(TopicSpec(f"{p}jobs.{t}", n, dict(delete)) for t in settings.job_types)
    return specs


def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[TopicSpec]:
    """Create the missing topics; check the partition count of the existing ones."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    # an external Kafka with the environment's LANEWAY_KAFKA_* security; the stack's own
    # through its plaintext listener
    admin = AdminClient(admin_config(settings.kafka_bootstrap, security=None
                                     if settings.external_kafka else KafkaSecurity()))
    specs = laneway_topics(settings)
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise StackError(f"cannot list topics on {settings.kafka_bootstrap}: {exc}") from exc
    missing = [s for s in specs if s.name not in existing]
    for spec in specs:
        if spec.name in existing:
            have = len(existing[spec.name].partitions)
            if have != spec.partitions:
                log(f"topic {spec.name} has {have} partitions, expected {spec.partitions}")
    if not missing:
        return specs
    futures = admin.create_topics(
        [
            NewTopic(s.name, num_partitions=s.partitions, replication_factor=1, config=s.config)
            for s in missing
        ],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            log(f"created topic {name}")
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # created concurrently
            raise StackError(f"cannot create topic {name}: {exc}") from exc
    return specs
