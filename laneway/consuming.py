"""The consume-and-project loop: what every projection of a Laneway topic does, whatever it
writes.

A projection (the audit sink, the worklist, the instance projection) polls records, writes
them to its database, sends what it cannot decode or write to the dead-letter topic, and only
then commits the offsets: a batch read again after a crash changes nothing (the writes are
idempotent), and a dead letter is never lost (at worst sent twice). `ProjectionLoop` is that
loop; a projection gives it a `BatchHandler`, which writes one batch inside the loop's
database transaction.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter

from laneway.codec import dead_letter_headers, decode_record, fit_dead_letter
from laneway.kafka import RenewingProducer, fatal_error, fetch
from laneway.limits import DEFAULT_MAX_RECORD_BYTES
from laneway.records import Record
from laneway.service.metrics import Metrics
from laneway.service.progress import DEFAULT_STALL_S, Progress, position

__all__ = [
    "BatchHandler",
    "Consumed",
    "DeadLetterProducer",
    "LoopStopped",
    "Polled",
    "ProjectionLoop",
    "ProjectionMetrics",
    "Sorted",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")
DeadLetter = tuple[Message, BaseException]
"""A message for the dead-letter topic and the error that put it there."""


@dataclass(frozen=True, slots=True)
class Consumed(Generic[T]):
    """A decoded record and where it was read."""

    record: T
    message: Message
    topic: str
    partition: int
    offset: int


Polled = Consumed[Record]
"""A decoded Laneway record and where it was read."""


def decode_message(msg: Message) -> Record:
    """The Laneway record a message holds (raises on anything else)."""
    return decode_record(msg.value() or b"")


def _sort(messages: Sequence[Message], decode: Callable[[Message], T | None],
          items: list[Consumed[T]], dead: list[DeadLetter],
          offsets: dict[tuple[str, int], int]) -> None:
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
        offsets[key] = max(offsets.get(key, -1), offset + 1)
        try:
            record = decode(msg)
        except Exception as exc:  # whatever the bytes: the record goes to the dlq
            dead.append((msg, exc))
            continue
        if record is not None:
            items.append(Consumed(record, msg, topic, partition, offset))


class DeadLetterProducer:
    """Sends dead letters and waits until Kafka has each one, renewing a producer that
    turned fatal (at most `attempts` producers per call)."""

    def __init__(self, producer: RenewingProducer, topic: str, *,
                 attempts: int = 3, timeout_s: float = 30.0,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        # a RenewingProducer only: a plain Producer here could never be renewed
        self.producer = producer
        # a dead letter over it is sent without the record's value (`fit_dead_letter`)
        self.max_record_bytes = max_record_bytes
        self.topic = topic
        self.attempts = attempts
        self.timeout_s = timeout_s

    def send(self, dead: Sequence[DeadLetter]) -> None:
        """Produce each message to the dead-letter topic with the headers saying why and where
        from; return once Kafka acknowledged all, raise KafkaException otherwise (then the
        caller must not commit the offsets)."""
        pending = list(dead)
        for _ in range(self.attempts):
            producer = self.producer.current
            failed = self._send_once(producer, pending)
            if not failed:
                return
            errors = [e for _, e in failed]
            fatal = next((e for e in errors if fatal_error(e) is not None), None)
            if fatal is not None and self.producer.renew_if_fatal(producer, fatal):
                pending = [d for d, _ in failed]
                continue
            raise KafkaException(errors[0] if isinstance(errors[0], KafkaError) else KafkaError(
                KafkaError._TIMED_OUT, f"{len(failed)} dead letters not acknowledged"))
        raise KafkaException(KafkaError(
            KafkaError._FATAL, f"Expected the dead letters to land within {self.attempts} "
            f"producers, but {len(pending)} did not"))

    def _send_once(self, producer: Producer, dead: Sequence[DeadLetter]
                   ) -> list[tuple[DeadLetter, KafkaError | None]]:
        """Produce and flush; the dead letters not acknowledged, with their error (None: no
        report within the timeout)."""
        reports: list[KafkaError | None] = [None] * len(dead)
        reported = [False] * len(dead)

        def report(i: int) -> Callable[[KafkaError | None, Message], None]:
            def on_delivery(err: KafkaError | None, _msg: Message) -> None:
                reports[i], reported[i] = err, True
            return on_delivery

        for i, (msg, error) in enumerate(dead):
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            _log.error("dead-lettering %s[%s]@%s: %s", topic, partition, offset, error)
            headers: list[tuple[str, str | bytes | None]] = list(
                dead_letter_headers(error, topic or "", partition or 0, offset or 0))
            while True:
                try:
                    key, value, sent = fit_dead_letter(msg.key(), msg.value(), headers,
                                                       self.max_record_bytes)
                    producer.produce(self.topic, key=key, value=value, headers=sent,
                                     on_delivery=report(i))
                    break
                except BufferError:
                    producer.poll(0.05)  # the local queue is full: let it drain
                except KafkaException as exc:
                    err = exc.args[0] if exc.args else None
                    reports[i] = err if isinstance(err, KafkaError) else KafkaError(
                        KafkaError._FAIL, str(exc))
                    reported[i] = True
                    break
        try:
            producer.flush(self.timeout_s)
        except KafkaException as exc:
            # a producer that turned fatal while the reports were served (a fenced
            # transactional one) raises that from flush, its records reported only as
            # purged: every record not acknowledged failed with the fatal error
            err = exc.args[0] if exc.args else None
            failure = err if isinstance(err, KafkaError) else KafkaError(KafkaError._FAIL,
                                                                          str(exc))
            for i in range(len(dead)):
                if not reported[i] or reports[i] is not None:
                    reports[i], reported[i] = failure, True
        return [(d, reports[i]) for i, d in enumerate(dead)
                if not reported[i] or reports[i] is not None]


def _commit_offsets(consumer: Consumer, offsets: dict[tuple[str, int], int], *,
                    asynchronous: bool = False) -> None:
    """Commit (synchronously unless `asynchronous`); a failure (a rebalance took the
    partitions) is only logged: the next owner reads the batch again, and writing it again
    changes nothing. An asynchronous commit's failure is not seen at all, with the same
    outcome."""
    partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
    try:
        if asynchronous:
            consumer.commit(offsets=partitions, asynchronous=True)
        else:
            consumer.commit(offsets=partitions, asynchronous=False)
    except KafkaException as exc:
        _log.warning("offset commit failed (%s); the batch will be re-read, a no-op", exc)


# -- the loop ------------------------------------------------------------------------------


BatchHandler = Callable[[psycopg.Connection[Any], Sequence[Consumed[T]]], int]
"""Writes one batch of a projection: called inside the loop's database transaction on the
connection it is given (it must not commit or roll back itself), idempotently (a batch may
come again after a crash); returns how many rows it changed. An exception of the loop's
`refused` kinds means a record the database refuses: the loop finds it and dead-letters it."""


@dataclass(slots=True)
class Sorted(Generic[T]):
    """A polled batch, decoded: `ProjectionLoop.sort`'s result, `ProjectionLoop.project`'s
    input."""

    started: float
    """When the batch's handling began (monotonic s), for `batch_seconds`."""
    items: list[Consumed[T]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    """The offsets to commit after the batch: per (topic, partition), the next to read."""


class LoopStopped(Exception):
    """Asked to stop with a batch unwritten: its offsets stay uncommitted, so it is read
    again on the next start."""


class ProjectionMetrics(Metrics):
    """The loop's metrics, named after the projection (`<prefix>_batch_records`, ...); its
    consumer lag is the service's `consumer_lag_records` gauge
    (`laneway.service.shared_metrics`), fed by the consumer's statistics."""

    def __init__(self, prefix: str, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.batch_size = Histogram(
            f"{prefix}_batch_records", "Records per poll batch (one database transaction)",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000), registry=r)
        self.batch_seconds = Histogram(
            f"{prefix}_batch_seconds", "Time to write and commit one batch, retries included",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0), registry=r)
        self.transaction_seconds = Histogram(
            f"{prefix}_transaction_seconds", "One database transaction writing a batch (or "
            "one record of a refused batch), commit included",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r)
        self.dead_letters = PromCounter(f"{prefix}_dead_letters",
                                        "Records sent to the dead-letter topic", registry=r)
        self.assigned_partitions = Gauge(f"{prefix}_assigned_partitions",
                                         "Partitions assigned to this member", registry=r)


class ProjectionLoop(Generic[T]):
    """Polls `topics` in a consumer group and projects each batch into PostgreSQL.

    Per batch: decode each message (`decode`; None skips it, an exception dead-letters it),
    write the decoded ones with `handle` in one transaction, dead-letter what could not be
    written, then commit the offsets. A lost database connection is retried with backoff,
    the batch kept, until it answers or the loop is stopped. An error of the `conflicts`
    kinds (a write raced another writer) calls `on_reset` and writes the batch again; an
    error of the `refused` kinds writes the batch one record at a time, and a record refused
    `max_attempts` times goes to the dead-letter topic. Any other error ends `run` (the
    process restarts from the committed offsets). Not thread-safe: one thread runs `run`;
    `stop` and `health` may be called from any thread.
    """

    def __init__(
        self,
        consumer: Consumer,
        topics: Sequence[str],
        handle: BatchHandler[T],
        connect: Callable[[], psycopg.Connection[Any]],
        dead_letters: DeadLetterProducer,
        *,
        decode: Callable[[Message], T | None] = decode_message,  # type: ignore[assignment]
        batch_size: int = 500,
        poll_timeout_s: float = 0.2,
        max_attempts: int = 3,
        refused: tuple[type[Exception], ...] = (psycopg.Error,),
        conflicts: tuple[type[Exception], ...] = (),
        on_commit: Callable[[Sequence[Consumed[T]], int], None] | None = None,
        on_reset: Callable[[], None] | None = None,
        metrics: ProjectionMetrics | None = None,
        stop: threading.Event | None = None,
        name: str = "projection",
        stall_s: float = DEFAULT_STALL_S,
        progress: Progress | None = None,
        commit_async: bool = False,
        commit_interval_s: float = 0.0,
    ) -> None:
        """`stall_s`: how long without a poll, or failing on one record, before `health`
        fails; `progress`: one kept across loops (a caller that builds a new loop after an
        error keeps counting), else a new one; `commit_async`: the offsets of a batch are
        committed without waiting for the broker's answer (still after the database commit),
        so the next batch is not held by that round trip. Only for a handler that finds
        what it wrote before by itself (the audit sink: the record ids), as a commit that
        did not land reads its batch again. `commit_interval_s` above 0: the offsets of the
        batches written are committed at most once per that interval (each partition's
        newest), and at once when a poll finds nothing, when the partitions are revoked and
        when the loop is closed. Each commit is a request the broker writes to
        `__consumer_offsets`: at 100 task completions/s the three projections sent 230 a
        second, an eighth of the broker's requests (docs/benchmarks.md, round 7). The price
        is a longer stretch read again after a crash (at most the interval's batches), which
        the projections' idempotent writes absorb as they absorb a commit that did not
        land."""
        if commit_interval_s < 0:
            raise ValueError(f"Expected commit_interval_s of at least 0, but got "
                             f"{commit_interval_s}")
        if max_attempts < 1:
            raise ValueError(f"Expected max_attempts of at least 1, but got {max_attempts}")
        self._consumer = consumer
        self.topics = list(topics)
        self._handle = handle
        self._connect = connect
        self._conn: psycopg.Connection[Any] | None = None
        self.dead_letters = dead_letters
        self._decode = decode
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s
        self.max_attempts = max_attempts
        self._refused = refused
        self._conflicts = conflicts
        self._on_commit = on_commit
        self._on_reset = on_reset
        self.metrics = metrics
        self.name = name
        # shared with the caller when given, so a signal handler can stop the loop
        self._stop = stop if stop is not None else threading.Event()
        self._assigned: list[TopicPartition] | None = None
        # polls, and the record it keeps failing on, for /health (`health`)
        self.progress = progress if progress is not None else Progress(name, stall_s)
        self.commit_async = commit_async
        self.commit_interval_s = commit_interval_s
        # offsets of written batches not committed yet (`commit_interval_s`), and when the
        # next commit is due (monotonic s)
        self._pending: dict[tuple[str, int], int] = {}
        self._commit_due = 0.0
        self._started = time.monotonic()
        self.written = 0
        """Rows the handler reported changed since start (redeliveries included)."""
        self.dead_lettered = 0
        """Records sent to the dead-letter topic since start."""

    # -- lifecycle --------------------------------------------------------------------------

    def subscribe(self) -> None:
        """Join the group on the topics."""
        self._consumer.subscribe(self.topics, on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_lost)

    def stop(self) -> None:
        """Ask `run` to return after the batch in hand (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> None:
        """Poll, write, dead-letter and commit until `stop` is called."""
        self.subscribe()
        while not self._stop.is_set():
            messages = fetch(self._consumer, self.batch_size, self._poll_wait())
            self.progress.polled()
            if messages:
                try:
                    self.handle_messages(messages)
                except LoopStopped:
                    break
            elif self._pending:
                self._flush_offsets()  # nothing came before the commit was due

    def close(self) -> None:
        """Commit the offsets still held back (`commit_interval_s`), leave the group,
        deliver what the producer holds, close the connection."""
        try:
            with contextlib.suppress(RuntimeError):  # a consumer closed before
                self._flush_offsets(asynchronous=False)
            self._consumer.close()
        finally:
            self.dead_letters.producer.flush(10)
            self._drop_connection()

    def health(self) -> str | None:
        """None while the loop polls, gets past its records and has joined its group; else
        what is wrong (`laneway.service.progress`)."""
        stalled = self.progress.check()
        if stalled is not None:
            return stalled
        if self._assigned is None and time.monotonic() - self._started > 60:
            return f"the {self.name} has not joined its consumer group"
        return None

    def live(self) -> str | None:
        """None while the loop goes round (polls, or retries a batch its database refuses);
        else what is wrong (/health/live)."""
        return self.progress.check_live()

    # -- one batch --------------------------------------------------------------------------

    def handle_messages(self, messages: Sequence[Message]) -> int:
        """Project one polled batch and commit its offsets; return the rows written."""
        return self.project(self.sort(messages))

    def sort(self, messages: Sequence[Message]) -> Sorted[T]:
        """A polled batch decoded (the first half of `handle_messages`): what to write, what
        to dead-letter, the offsets to commit after. Touches neither the database nor the
        handler's state, so it may run while the batch before is being written."""
        batch: Sorted[T] = Sorted(time.monotonic())
        _sort(messages, self._decode, batch.items, batch.dead, batch.offsets)
        return batch

    def project(self, batch: Sorted[T]) -> int:
        """Write a decoded batch, dead-letter what could not be, then commit its offsets (the
        second half of `handle_messages`); return the rows written."""
        items, dead, offsets = batch.items, batch.dead, batch.offsets
        written = self._write_with_retry(items, dead) if items else 0
        if dead:
            self.dead_letters.send(dead)
            self.dead_lettered += len(dead)
            if self.metrics is not None:
                self.metrics.dead_letters.inc(len(dead))
        if offsets:
            # only now: a crash before this line repeats writes that change nothing
            self._commit(offsets)
        self.progress.advanced()
        self.written += written
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(items))
            self.metrics.batch_seconds.observe(time.monotonic() - batch.started)
        return written

    def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        self._pending.update(offsets)  # batches come in order: the newest offset wins
        # without an interval the commit is always due: each batch's offsets at once
        if time.monotonic() >= self._commit_due:
            self._flush_offsets()

    def _flush_offsets(self, *, asynchronous: bool | None = None) -> None:
        """Commit the offsets held back, if any; the next commit is due an interval on."""
        pending, self._pending = self._pending, {}
        if pending:
            _commit_offsets(self._consumer, pending, asynchronous=(
                self.commit_async if asynchronous is None else asynchronous))
        self._commit_due = time.monotonic() + self.commit_interval_s

    def _poll_wait(self) -> float:
        """How long a poll may wait: not past the held-back offsets' commit."""
        if not self._pending:
            return self.poll_timeout_s
        return min(self.poll_timeout_s, max(0.0, self._commit_due - time.monotonic()))

    def _write_with_retry(self, items: list[Consumed[T]], dead: list[DeadLetter]) -> int:
        delay = 0.1
        conflicts = 0
        while True:
            try:
                return self._write(items)
            except psycopg.OperationalError as exc:
                # the database, not the records: keep the batch and wait for it
                _log.warning("%s: database unavailable (%s); retrying in %.1fs", self.name,
                             exc, delay)
                first = items[0].message
                self.progress.failed(position(first.topic(), first.partition(),
                                              first.offset()))
                self._drop_connection()
                if self._stop.wait(delay):
                    raise LoopStopped() from exc
                delay = min(delay * 2, 5.0)
            except self._conflicts as exc:
                conflicts += 1
                _log.warning("%s: write conflict (%s); writing the batch again", self.name, exc)
                self._reset()
                if conflicts >= self.max_attempts:
                    return self._write_one_by_one(items, dead)
            except self._refused as exc:
                _log.error("%s: batch refused (%s); writing it one record at a time",
                           self.name, exc)
                self._reset()
                return self._write_one_by_one(items, dead)

    def _write_one_by_one(self, items: list[Consumed[T]], dead: list[DeadLetter]) -> int:
        written = 0
        for item in items:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    written += self._write([item])
                    break
                except psycopg.OperationalError:
                    raise  # the outer retry keeps the whole batch
                except self._conflicts + self._refused as exc:
                    self._reset()
                    if attempt == self.max_attempts:
                        dead.append((item.message, exc))
        return written

    def _write(self, items: list[Consumed[T]]) -> int:
        conn = self._connection()
        started = time.monotonic()
        try:
            with conn.transaction():
                result = self._handle(conn, items)
            if self.metrics is not None:
                self.metrics.transaction_seconds.observe(time.monotonic() - started)
        except Exception:
            # the transaction was rolled back; a connection left broken is not reused
            if conn.broken:
                self._drop_connection()
            raise
        if self._on_commit is not None:
            self._on_commit(items, result)
        return result

    def _reset(self) -> None:
        if self._on_reset is not None:
            self._on_reset()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None
        self._reset()

    # -- Kafka side -------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # another member may have written what the moved partitions hold: caches go
        self._reset()
        self._assigned = list(partitions)
        if self.metrics is not None:
            self.metrics.assigned_partitions.set(len(partitions))
        _log.info("%s: assigned %s", self.name, [p.partition for p in partitions])

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # already someone else's: a commit would be refused (the new owner reads them again)
        self._pending.clear()
        self._on_revoke(consumer, partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # still ours until this returns: what was written is committed, so the next owner
        # does not read it again (and waits for it: the commit is synchronous)
        self._flush_offsets(asynchronous=False)
        self._reset()
        self._assigned = []
        if self.metrics is not None:
            self.metrics.assigned_partitions.set(0)
