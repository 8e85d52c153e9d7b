"""Reading one partition of the compacted `state` topic back, from the beginning to its end.

A separate consumer without a group, so reading never disturbs the group's assignment or
offsets. It reads committed records only: what an aborted batch wrote never comes back.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from laneway.kafka import consumer_config
from services.engine.admin import watermarks


class RestoreTimeout(RuntimeError):
    """The partition's end was not reached in time (an open transaction of another replica
    holds read_committed readers back until it ends). Retryable: the loop recovers again."""


def reader_config(bootstrap: str, client_id: str) -> dict[str, Any]:
    """The restore's consumer: large fetches, but a bounded prefetch queue. librdkafka keeps
    what it fetched ahead in its own threads' heaps, which stay in the process's RSS after
    the reader is closed: with 64 MiB fetches a whole partition of 100,000 parked instances
    sat there once more (1.3 → 1.9 KiB of RSS per parked instance); a 16 MiB queue checked
    again after 5 ms (not librdkafka's default second) reads as fast on the local broker."""
    # librdkafka wants a group id even for a consumer that only assigns; nothing joins or
    # commits under it
    config = consumer_config(bootstrap, f"{client_id}-reader", client_id=client_id)
    config.update({"fetch.max.bytes": 16 * 1024 * 1024,
                   "max.partition.fetch.bytes": 4 * 1024 * 1024,
                   "queued.max.messages.kbytes": 16 * 1024,
                   # the queue drains fast: look again soon, not after the default second
                   "fetch.queue.backoff.ms": 5})
    return config


def read_latest(bootstrap: str, topic: str, partition: int, timeout_s: float,
                client_id: str = "laneway-engine-restore") -> dict[bytes, bytes]:
    """The last value of every key of one partition up to its current high watermark;
    a tombstone deletes its key. Values are returned undecoded: most keys of an uncompacted
    tail are overwritten, so decoding only the survivors is much cheaper."""
    consumer = Consumer(reader_config(bootstrap, client_id))
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
