"""The republish at start: what the `definitions` topic lacks of the stored versions is
produced again (`republish_missing`), reading the compacted topic without a consumer group."""

from __future__ import annotations

import logging
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from laneway.codec import decode_definition, encode_definition
from laneway.kafka import consumer_config
from laneway.limits import record_size
from laneway.publisher import Publisher
from services.definitions.store import DefinitionStore

_log = logging.getLogger(__name__)


def states_on_topic(bootstrap: str, topic: str, timeout_s: float = 30.0) -> dict[str, str]:
    """{key: the `state` metadata of its last record} of the `definitions` topic ('' for a
    record without one); a key whose last record is a tombstone is left out."""
    out: dict[str, str] = {}
    for key, value in live_records(bootstrap, topic, timeout_s).items():
        try:
            out[key] = decode_definition(value).metadata.get("state", "")
        except Exception:  # whatever is there, it is not the record the row gives
            out[key] = ""
    return out


def live_records(bootstrap: str, topic: str, timeout_s: float = 30.0) -> dict[str, bytes]:
    """The last value of each live key of a compacted topic (a key whose last record is a
    tombstone is not live), read from the beginning to the end of every partition without a
    consumer group."""
    config = consumer_config(bootstrap, None, client_id="laneway-definitions-republish")
    # librdkafka wants a group id even for assign(); nothing joins or commits under it
    config["group.id"] = f"laneway-definitions-republish-{uuid.uuid4().hex}"
    config["enable.partition.eof"] = True
    consumer = Consumer(config)
    deadline = time.monotonic() + timeout_s
    try:
        partitions, pending = _partitions_with_records(consumer, topic, deadline)
        consumer.assign(partitions)
        live: dict[str, bytes | None] = {}
        while pending:
            if time.monotonic() > deadline:
                raise KafkaException(f"Expected to read {topic} to its end within "
                                     f"{timeout_s:.0f}s, but partitions {sorted(pending)} "
                                     "did not end")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition() or 0)
                    continue
                raise KafkaException(err)
            key = msg.key()
            if key is not None:
                live[key.decode("utf-8", "replace")] = msg.value()
        return {k: v for k, v in live.items() if v is not None}
    finally:
        consumer.close()


_TRANSIENT = frozenset({
    KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT,
})


def _partitions_with_records(consumer: Consumer, topic: str, deadline: float
                             ) -> tuple[list[TopicPartition], set[int]]:
    """Every partition of `topic` (to read from the beginning) and those holding records;
    waits out what a topic created a moment ago answers until its leaders are elected."""
    while True:
        left = max(0.5, deadline - time.monotonic())
        try:
            metadata = consumer.list_topics(topic, timeout=left).topics.get(topic)
            if metadata is None or metadata.error is not None:
                raise KafkaException(metadata.error if metadata is not None
                                     else KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
            partitions = [TopicPartition(topic, p, -2) for p in metadata.partitions]
            pending: set[int] = set()
            for tp in partitions:
                low, high = consumer.get_watermark_offsets(tp, timeout=left)
                if high > low:
                    pending.add(tp.partition)
            return partitions, pending
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            transient = isinstance(err, KafkaError) and (err.code() in _TRANSIENT
                                                         or err.retriable())
            if not transient or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def republish_missing(store: DefinitionStore, publisher: Publisher, bootstrap: str,
                      timeout_s: float = 30.0) -> list[str]:
    """Produce every AUTHORIZED or RETIRED version whose last record on the `definitions`
    topic is missing or says another state (a publish that failed after its database commit,
    or a topic that was lost or recreated); return their keys. Other states are not
    published: the engine sees only what may run."""
    on_topic = states_on_topic(bootstrap, publisher.topics.definitions, timeout_s)
    missing = sorted(k for k, state in store.published_states().items()
                     if on_topic.get(k) != state)
    if not missing:
        return []
    records = []
    for record in store.records([_split_key(k) for k in missing]):
        size = record_size(record.key.encode(), encode_definition(record))
        if size > publisher.max_record_bytes:
            # stored before deploys were refused over the limit: it can never be published,
            # and failing here would keep the service from starting
            _log.error("definition %s is %d bytes, over the record limit of %d: not "
                       "published; retire it and deploy a smaller file", record.key, size,
                       publisher.max_record_bytes)
            continue
        records.append(record)
    publisher.publish_definitions(records)
    _log.info("republished %d definition(s) missing from %s: %s", len(records),
              publisher.topics.definitions, ", ".join(missing))
    return [r.key for r in records]


def _split_key(key: str) -> tuple[str, int]:
    process_id, _, version = key.rpartition("@")
    return process_id, int(version)
