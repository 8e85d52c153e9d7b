"""Producing to Kafka: definitions, engine commands and messages; and the republish at start.

Every call produces, then waits (bounded) until Kafka acknowledged each record, so a 2xx answer
means the record is on the topic. The producer is idempotent with `acks=all`
(`laneway.kafka.producer_config`), so the retries librdkafka makes itself never duplicate.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from laneway.codec import DefinitionRecord, decode_definition, encode_definition, encode_record
from laneway.kafka import consumer_config, producer_config
from laneway.records import Record
from laneway.topics import Topics, is_broadcast
from services.definitions.store import DefinitionStore

_log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """Kafka did not acknowledge a record in time. Retryable: the same request again is safe
    (deploys are idempotent; a command is a new command)."""


class KafkaUnavailable(RuntimeError):
    """Kafka did not answer within the startup bound. Retryable: start again later."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """Where a record landed."""

    topic: str
    key: str
    partition: int
    offset: int


class Publisher:
    """One idempotent producer shared by every request (confluent's Producer is thread-safe)."""

    def __init__(self, bootstrap: str, topics: Topics, timeout_s: float = 10.0,
                 client_id: str = "laneway-definitions") -> None:
        self.topics = topics
        self._timeout_s = timeout_s
        config = producer_config(bootstrap, client_id=client_id)
        # librdkafka gives up on a record when the request does: after a 503 the record is
        # not delivered minutes later behind the caller's back (unless the broker wrote it
        # and only the acknowledgement was lost)
        config["message.timeout.ms"] = max(1000, int(timeout_s * 1000))
        self._config = config
        self._producer = Producer(config)
        self._renewing = threading.Lock()
        # one thread serves every delivery report; a request waits only for its own records
        # (a flush per request would also wait for every other request's)
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._serve_reports, daemon=True,
                                        name="definitions-producer")
        self._poller.start()

    def publish_definitions(self, records: Sequence[DefinitionRecord]) -> list[Delivered]:
        """Produce process versions to `definitions`, keyed `process id@version`."""
        return self._send([(self.topics.definitions, r.key, encode_definition(r))
                           for r in records])

    def send_events(self, events: Sequence[Record]) -> list[Delivered]:
        """Produce events of this service's own (the lifecycle's audit records) to `events`,
        keyed by their instance id like the engine's, so the audit sink chains them."""
        return self._send([(self.topics.events, e.instance_id, encode_record(e))
                           for e in events])

    def send_command(self, command: Record) -> Delivered:
        """Produce an engine command where `Topics.route` says it goes."""
        if is_broadcast(command):
            raise ValueError("a broadcast goes to every partition; not supported here")
        topic, key = self.topics.route(command)
        return self._send([(topic, key, encode_record(command))])[0]

    def reachable(self, timeout_s: float = 2.0) -> str | None:
        """None when a broker answers a metadata request, else what is wrong."""
        try:
            self._producer.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            return f"Kafka did not answer a metadata request: {exc}"
        return None

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is still queued (bounded)."""
        self._closing.set()
        self._poller.join()
        left = self._producer.flush(timeout_s)
        if left:
            _log.warning("%d records were not delivered before closing", left)

    def _serve_reports(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.05)

    def _renew(self, broken: Producer, err: KafkaError) -> None:
        """An idempotent producer can turn fatal (the broker lost the state behind its
        sequence numbers, e.g. after a restart); it refuses every record from then on. Replace
        it, once, so the caller's retry (it got a 503) goes through a fresh one."""
        with self._renewing:
            if self._producer is not broken:
                return  # another request already replaced it
            _log.error("the Kafka producer failed for good (%s); starting a new one", err)
            self._producer = Producer(self._config)
        broken.purge()
        broken.poll(0)  # the purged records' reports: their requests answer 503 now

    def _send(self, items: Sequence[tuple[str, str, bytes]]) -> list[Delivered]:
        results: list[Delivered | KafkaError | None] = [None] * len(items)
        reported = threading.Semaphore(0)

        def report(index: int) -> Callable[[KafkaError | None, Message], None]:
            def on_delivery(err: KafkaError | None, msg: Message) -> None:
                results[index] = err if err is not None else Delivered(
                    msg.topic() or "", items[index][1], msg.partition() or 0, msg.offset() or 0)
                reported.release()
            return on_delivery

        producer = self._producer
        for i, (topic, key, value) in enumerate(items):
            while True:
                try:
                    producer.produce(topic, value=value, key=key.encode(),
                                     on_delivery=report(i))
                    break
                except BufferError:  # local queue full: let deliveries drain, then retry
                    time.sleep(0.05)
                except KafkaException as exc:
                    err = exc.args[0] if exc.args else None
                    if isinstance(err, KafkaError) and err.fatal():
                        self._renew(producer, err)
                    raise PublishError(f"Expected Kafka to take a record for {topic}, but the "
                                       f"producer refused it: {exc}") from exc
        # a little past message.timeout.ms, so every record has its definitive report
        deadline = time.monotonic() + self._timeout_s + 2.0
        for _ in items:
            if not reported.acquire(timeout=max(0.0, deadline - time.monotonic())):
                break
        failed = [(items[i][0], items[i][1], r) for i, r in enumerate(results)
                  if not isinstance(r, Delivered)]
        fatal = next((r for _, _, r in failed if isinstance(r, KafkaError) and r.fatal()), None)
        if fatal is not None:
            self._renew(producer, fatal)
        if failed:
            topic, key, err = failed[0]
            raise PublishError(f"Expected Kafka to acknowledge {len(items)} record(s), but "
                               f"{len(failed)} failed; first: key {key!r} on {topic}: "
                               f"{err or 'timed out'}")
        return [r for r in results if isinstance(r, Delivered)]


def wait_for_kafka(bootstrap: str, timeout_s: float) -> None:
    """Return once a broker answers; raise KafkaUnavailable after `timeout_s`."""
    producer = Producer({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            producer.list_topics(timeout=min(5.0, max(0.1, deadline - time.monotonic())))
            return
        except KafkaException as exc:
            last = exc
    raise KafkaUnavailable(f"Expected Kafka at {bootstrap} to answer within {timeout_s:.0f}s, "
                           f"but it did not: {last}")


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
    records = store.records([_split_key(k) for k in missing])
    publisher.publish_definitions(records)
    _log.info("republished %d definition(s) missing from %s: %s", len(records),
              publisher.topics.definitions, ", ".join(missing))
    return [r.key for r in records]


def _split_key(key: str) -> tuple[str, int]:
    process_id, _, version = key.rpartition("@")
    return process_id, int(version)
