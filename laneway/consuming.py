"""What every projection of a Laneway topic does with one polled batch, whatever it writes.

A projection (the audit sink, the worklist) polls records, writes them to its database, sends
what it cannot decode or write to the dead-letter topic, and only then commits the offsets: a
batch read again after a crash changes nothing, and a dead letter is never lost (at worst sent
twice). `read_batch` sorts a poll into records, dead letters and the offsets to commit;
`send_dead_letters` and `commit_offsets` are the two Kafka steps after the write.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from laneway.codec import dead_letter_headers, decode_record
from laneway.records import Record

__all__ = ["Batch", "Polled", "commit_offsets", "read_batch", "send_dead_letters"]

_log = logging.getLogger(__name__)

DeadLetter = tuple[Message, BaseException]


@dataclass(frozen=True, slots=True)
class Polled:
    """A decoded record and where it was read."""

    record: Record
    message: Message
    topic: str
    partition: int
    offset: int


@dataclass(slots=True)
class Batch:
    """One poll, sorted: the records, the messages for the dead-letter topic, and per
    partition the offset to commit once both are handled."""

    records: list[Polled] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)


def read_batch(messages: Sequence[Message]) -> Batch:
    """Decode a poll; raises KafkaException on a fatal consumer error (the process must
    restart), logs and skips the others."""
    batch = Batch()
    for msg in messages:
        error = msg.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            if error.code() != KafkaError._PARTITION_EOF:
                _log.warning("consumer error: %s", error)
            continue
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if topic is None or partition is None or offset is None:
            continue  # only error events lack them, and those were handled above
        key = (topic, partition)
        batch.offsets[key] = max(batch.offsets.get(key, -1), offset + 1)
        try:
            record = decode_record(msg.value() or b"")
        except Exception as exc:  # whatever the bytes: the record goes to the dlq
            batch.dead.append((msg, exc))
            continue
        batch.records.append(Polled(record, msg, topic, partition, offset))
    return batch


def send_dead_letters(producer: Producer, dlq_topic: str, dead: Sequence[DeadLetter]) -> None:
    """Produce each message to the dead-letter topic with the headers saying why and where
    from, and wait until Kafka has them all (raises KafkaException otherwise): call it before
    committing the offsets."""
    for msg, error in dead:
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        _log.error("dead-lettering %s[%s]@%s: %s", topic, partition, offset, error)
        headers: list[tuple[str, str | bytes | None]] = list(
            dead_letter_headers(error, topic or "", partition or 0, offset or 0))
        producer.produce(dlq_topic, key=msg.key(), value=msg.value(), headers=headers)
    remaining = producer.flush(30)
    if remaining:
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT,
                                        f"{remaining} dead letters not acknowledged"))


def commit_offsets(consumer: Consumer, offsets: dict[tuple[str, int], int]) -> None:
    """Commit synchronously; a failure (a rebalance took the partitions) is only logged: the
    next owner reads the batch again, and writing it again changes nothing."""
    partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
    try:
        consumer.commit(offsets=partitions, asynchronous=False)
    except KafkaException as exc:
        _log.warning("offset commit failed (%s); the batch will be re-read, a no-op", exc)
