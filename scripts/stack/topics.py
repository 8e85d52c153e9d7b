"""The Laneway topics of the local stack: the same specs and creation as the Helm chart's topic
Job (`python -m services.topics`), with the stack's settings (one partition count, one
replica)."""

from __future__ import annotations

from dataclasses import dataclass

from laneway.kafka_security import KafkaSecurity
from scripts.stack.config import Settings, StackError
from scripts.stack.proc import log
from services.topics import EVENTS_RETENTION_MS as _RETENTION_MS
from services.topics import TopicError, TopicSettings, TopicSpec, admin_config
from services.topics import ensure_topics as _ensure
from services.topics import laneway_topics as _specs

__all__ = ["EVENTS_RETENTION_MS", "Cleaned", "TopicSpec", "clean_topics", "ensure_topics",
           "is_stack_topic", "laneway_topics"]

EVENTS_RETENTION_MS = str(_RETENTION_MS)  # "long retention", bounded on a laptop


def _topic_settings(settings: Settings) -> TopicSettings:
    return TopicSettings(bootstrap=settings.kafka_bootstrap, prefix=settings.topic_prefix,
                         partitions=settings.partitions, replication=1,
                         job_types=settings.job_types,
                         # an external Kafka with the environment's LANEWAY_KAFKA_* security;
                         # the stack's own through its plaintext listener
                         security=None if settings.external_kafka else KafkaSecurity())


def laneway_topics(settings: Settings) -> list[TopicSpec]:
    return _specs(_topic_settings(settings))


def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[TopicSpec]:
    """Create the missing topics; check the partition count of the existing ones."""
    try:
        return _ensure(_topic_settings(settings), timeout=timeout, say=log)
    except TopicError as exc:
        raise StackError(str(exc)) from exc


def is_stack_topic(name: str, settings: Settings) -> bool:
    """A topic `clean_topics` never deletes: Kafka's own (`__consumer_offsets`,
    `__transaction_state`; every `_` name, as tools such as a schema registry use), and every
    topic under the stack's prefix (`LANEWAY_TOPIC_PREFIX`, default `laneway.`): the set
    `make up` creates (`laneway_topics`) and what the running services add there (the engine
    creates `jobs.<type>` for a new job type). An empty prefix protects every topic."""
    own = {spec.name for spec in laneway_topics(settings)}
    return name.startswith("_") or name in own or name.startswith(settings.topic_prefix)


@dataclass(frozen=True)
class Cleaned:
    """What `clean_topics` found: the topics it deleted (or would, with `dry_run`), those
    whose deletion failed (name, reason) and how many it kept."""

    deleted: list[str]
    failed: list[tuple[str, str]]
    kept: int


DELETE_BATCH = 200
"""Topics per DeleteTopics request (thousands at once would make one long broker request)."""

MAX_TOPICS = 100_000
"""The most topics one clean looks at (a bound; a broker with more is cleaned in turns)."""


def clean_topics(settings: Settings, *, dry_run: bool = False, prefix: str = "",
                 timeout: float = 60.0) -> Cleaned:
    """Delete every topic of the broker that is not the stack's (`is_stack_topic`): what
    tests and benchmarks leave behind when they are killed before their cleanup. Thousands
    of leftover topics slowed the shared broker's transactional produce to a fifth (metadata
    and the transaction coordinator's work grow with them).

    `prefix`: only topics whose name starts with it (a test deletes its own topics only).
    It must not run while tests or benchmarks use the same broker: a topic's age is not
    in Kafka's metadata, so a run's live topics look like leftovers and would be deleted."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    topic_settings = _topic_settings(settings)
    admin = AdminClient({**admin_config(topic_settings.bootstrap, topic_settings.security),
                         "log_level": 0})
    try:
        names = sorted(admin.list_topics(timeout=timeout).topics)[:MAX_TOPICS]
    except KafkaException as exc:
        raise StackError(f"cannot list the topics of {topic_settings.bootstrap}: {exc}") from exc
    doomed = [n for n in names if n.startswith(prefix) and not is_stack_topic(n, settings)]
    kept = len(names) - len(doomed)
    if dry_run or not doomed:
        return Cleaned(doomed, [], kept)
    deleted: list[str] = []
    failed: list[tuple[str, str]] = []
    for start in range(0, len(doomed), DELETE_BATCH):
        batch = doomed[start:start + DELETE_BATCH]
        futures = admin.delete_topics(batch, operation_timeout=timeout, request_timeout=timeout)
        for name, future in futures.items():
            try:
                future.result(timeout=timeout)
                deleted.append(name)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                # deleted meanwhile by its own test's cleanup: gone, as wanted
                if isinstance(err, KafkaError) \
                        and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    deleted.append(name)
                else:
                    failed.append((name, str(err or exc)))
    return Cleaned(sorted(deleted), failed, kept)
