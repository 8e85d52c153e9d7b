"""Stand-ins for Kafka client states that cannot be reached on demand."""

from __future__ import annotations

from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer

__all__ = ["FatalProducer", "message"]


class FatalProducer(Producer):
    """A producer in the state librdkafka reaches when an idempotent producer's sequence is
    lost for good: every produce is refused with a fatal error. librdkafka cannot be put
    there on demand, so this stands in for it."""

    def produce(self, *args: Any, **kwargs: Any) -> None:
        raise KafkaException(KafkaError(KafkaError._FATAL, "producer fenced", fatal=True))


class _ValueOnly:
    """A consumed record of which only `value()` is read."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def value(self) -> bytes:
        return self._value


def message(value: bytes) -> Message:
    """A `Message` whose value is `value` (for code that reads nothing else of it)."""
    return cast(Message, _ValueOnly(value))

