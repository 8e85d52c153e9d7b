"""Stand-ins for Kafka client states that cannot be reached on demand."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

__all__ = ["FatalProducer"]


class FatalProducer(Producer):
    """A producer in the state librdkafka reaches when an idempotent producer's sequence is
    lost for good: every produce is refused with a fatal error. librdkafka cannot be put
    there on demand, so this stands in for it."""

    def produce(self, *args: Any, **kwargs: Any) -> None:
        raise KafkaException(KafkaError(KafkaError._FATAL, "producer fenced", fatal=True))
