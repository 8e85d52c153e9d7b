"""Reading one partition of the compacted `state` topic back, from the beginning to its end.

A separate consumer without a group, so reading never disturbs the group's assignment or
offsets. It reads committed records only: what an aborted batch wrote never comes back.
"""

from __future__ import annotations

import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from laneway.kafka import consumer_config
from services.engine.admin import watermarks


class RestoreTimeout(RuntimeError):
    """The partition's end was not reached in time (an open transaction of another replica
    holds read_committed readers back until it ends). Retryable: the loop recovers again."""


def read_latest(bootstrap: str, topic: str, partition: int, timeout_s: float,
                client_id: str = "laneway-engine-restore") -> dict[bytes, bytes]:
    """The last value of every key of one partition up to its current high watermark;
    a tombstone deletes its key. Values are returned undecoded: most keys of an uncompacted
    tail are overwritten, so decoding only the survivors is much cheaper."""
    # librdkafka wants a group id even for a consumer that only assigns; nothing joins or
    # commits under it
    config = consumer_config(bootstrap, f"{client_id}-reader", client_id=client_id)
    config.update({"fetch.max.bytes": 64 * 1024 * 1024,
                   "max.partition.fetch.bytes": 16 * 1024 * 1024})
    consumer = Consumer(config)
    try:
        tp = TopicPartition(topic, partition)
        low, high = watermarks(consumer, tp, timeout_s)
        latest: dict[bytes, bytes] = {}
        if high <= low:
            return latest
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout_s
        while True:
            for msg in consumer.consume(10_000, timeout=0.2):
                err = msg.error()
                if err is not None:
                    raise KafkaException(err)
                key = msg.key()
                if key is None:
                    continue  # every state record is keyed; a keyless one is nobody's
                value = msg.value()
                if value is None:
                    latest.pop(key, None)
                else:
                    latest[key] = value
            # the position, not the last offset read: the partition ends with transaction
            # markers, which are never handed out but do move the position
            position = consumer.position([tp])[0].offset
            if position >= high:
                return latest
            if time.monotonic() >= deadline:
                raise RestoreTimeout(
                    f"Expected to read {topic}[{partition}] to offset {high} within "
                    f"{timeout_s:.0f}s, but got to {position}")
    finally:
        consumer.close()
