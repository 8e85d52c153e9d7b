"""What the engine asks of the cluster itself: is Kafka there, how many partitions a topic has,
and the `jobs.<type>` topics it creates when a new connector type first shows up."""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from laneway.kafka import admin_config
from laneway.limits import DEFAULT_MAX_RECORD_BYTES, TOPIC_MAX_MESSAGE_BYTES
from laneway.service import KafkaUnavailable, wait_for_kafka

__all__ = ["Cluster", "KafkaUnavailable", "watermarks"]

_log = logging.getLogger(__name__)


def watermarks(consumer: Consumer, tp: TopicPartition, timeout_s: float) -> tuple[int, int]:
    """A partition's (low, high) watermarks, retried while the error is transient (a topic
    created a moment ago may not have a leader yet)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            low, high = consumer.get_watermark_offsets(
                tp, timeout=max(0.1, deadline - time.monotonic()))
            return int(low), int(high)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            retriable = isinstance(err, KafkaError) and (
                err.retriable() or err.code() == KafkaError.NOT_LEADER_FOR_PARTITION)
            if not retriable or time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


# TOPIC_EXCEPTION is the broker's InvalidTopicException (an illegal name)
_NEVER_A_TOPIC = frozenset({KafkaError.TOPIC_EXCEPTION})


class InvalidTopic(ValueError):
    """Kafka refused a topic's name: asking again gives the same answer."""


class Cluster:
    """An admin client with the few questions the engine asks."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._admin = AdminClient(admin_config(bootstrap))
        self._known: set[str] = set()

    def wait_for(self, topics: list[str], timeout_s: float) -> dict[str, int]:
        """Wait until Kafka answers and every topic exists; their partition counts.

        Raises KafkaUnavailable at the deadline."""
        counts = wait_for_kafka(self._bootstrap, timeout_s, topics)
        self._known.update(topics)
        return counts

    def record_limit(self, topics: list[str], limit: int, timeout_s: float) -> int:
        """`limit`, lowered when a topic takes less: the smallest `max.message.bytes` of
        `topics` less the room the default leaves for headers and framing. A topic made
        elsewhere with a smaller limit would otherwise refuse what the engine checked."""
        room = TOPIC_MAX_MESSAGE_BYTES - DEFAULT_MAX_RECORD_BYTES
        futures = self._admin.describe_configs(
            [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics],
            request_timeout=timeout_s)
        for resource, future in futures.items():
            entry = future.result(timeout=timeout_s).get("max.message.bytes")
            if entry is not None and entry.value is not None and entry.value.isdigit():
                allowed = int(entry.value) - room
                if allowed < limit:
                    _log.warning("topic %s takes records of at most %s bytes: the engine "
                                 "writes at most %d", resource.name, entry.value, allowed)
                    limit = allowed
        return limit

    def ensure_topic(self, name: str, partitions: int, timeout_s: float = 30.0) -> None:
        """Create a topic unless it exists (a `jobs.<type>` topic of a new connector type).
        Checked once per name and process."""
        if name in self._known:
            return
        if name not in self._admin.list_topics(timeout=timeout_s).topics:
            future = self._admin.create_topics(
                [NewTopic(name, num_partitions=partitions, replication_factor=-1,
                          config={"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES)})],
                operation_timeout=timeout_s, request_timeout=timeout_s)[name]
            try:
                future.result(timeout=timeout_s)
                _log.info("created topic %s with %d partitions", name, partitions)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                code = err.code() if isinstance(err, KafkaError) else None
                if code in _NEVER_A_TOPIC:
                    # a name Kafka will never take (a version deployed before the check of
                    # job types): no retry can help, so not a KafkaException, which the loop
                    # retries; the command then goes the way of a record it cannot handle
                    raise InvalidTopic(f"Expected a topic name Kafka takes, but it refused "
                                       f"'{name}': {err}") from exc
                if code != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        self._known.add(name)
