"""The Laneway topics of the local stack: the same specs and creation as the Helm chart's topic
Job (`python -m services.topics`), with the stack's settings (one partition count, one
replica)."""

from __future__ import annotations

from laneway.kafka_security import KafkaSecurity
from scripts.stack.config import Settings, StackError
from scripts.stack.proc import log
from services.topics import EVENTS_RETENTION_MS as _RETENTION_MS
from services.topics import TopicError, TopicSettings, TopicSpec
from services.topics import ensure_topics as _ensure
from services.topics import laneway_topics as _specs

__all__ = ["EVENTS_RETENTION_MS", "TopicSpec", "ensure_topics", "laneway_topics"]

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
