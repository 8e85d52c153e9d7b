"""The audit sink: every record of the `events` topic into PostgreSQL's `audit_log`.

One poll batch (up to `batch_size` records) is one database transaction: the batch's record
ids already in the log are skipped (a redelivered batch is a no-op), the rest are numbered per
instance in consumption order (seq = the instance's last seq + 1), hash-chained
(`services/audit/chain.py`) and written with one COPY. Kafka offsets are committed only after
the database commit, so a crash between the two repeats writes that are then skipped: no
outbox is needed. The events of one instance are on one partition, in order, and a partition
has one consumer in the group, so one sink numbers each instance; a per-instance cache of
(last seq, last hash) saves reading the tail back, and is dropped on every rebalance and on a
numbering conflict, after which the database is asked again.

Records that do not decode go to `dlq` with the dead-letter headers; a record the database
refuses (after the batch is retried one record at a time) goes there too, and the sink carries
on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from laneway.consuming import Polled, commit_offsets, read_batch, send_dead_letters
from services.audit.chain import ZERO_HASH, canonical_texts, hash_of, json_texts

__all__ = ["COLUMNS", "AuditSink", "SinkMetrics", "SinkStopped", "default_metrics"]

_log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COLUMNS = ("instance_id", "seq", "record_id", "kind", "intent", "element_id", "element_type",
           "token_id", "scope_id", "principal", "value", "event_time", "written_at",
           "source_topic", "source_partition", "source_offset", "prev_hash", "hash")
_COPY = f"COPY audit_log ({', '.join(COLUMNS)}) FROM STDIN"
# The tail of each instance through the primary key, newest first: one index probe each,
# however long the instance's log is.
_TAILS = """
SELECT t.iid, l.seq, l.hash
FROM unnest(%s::text[]) AS t(iid)
CROSS JOIN LATERAL (
    SELECT seq, hash FROM audit_log WHERE instance_id = t.iid ORDER BY seq DESC LIMIT 1
) AS l
"""
_LAG_EVERY_S = 5.0

OnCommit = Callable[[Sequence[int], float], None]
"""Called after each database commit with the batch's event timestamps (epoch ms) and the
commit time (epoch seconds); the benchmark uses it for exact lag percentiles."""


class SinkStopped(Exception):
    """The sink was asked to stop while a batch was still unwritten; its offsets stay
    uncommitted, so the batch is read again on the next start."""


class SinkMetrics:
    """The sink's Prometheus metrics (`laneway_audit_*`)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.availability_lag = Histogram(
            "laneway_audit_availability_lag_seconds",
            "Time from a record's event timestamp to the commit that made it queryable",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                     60.0, 300.0, 3600.0),
            registry=registry)
        self.rows_written = Counter("laneway_audit_rows_written",
                                    "Rows appended to audit_log", registry=registry)
        self.batch_size = Histogram(
            "laneway_audit_batch_size", "Records per poll batch (one database transaction)",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000), registry=registry)
        self.batch_seconds = Histogram(
            "laneway_audit_batch_seconds", "Time to write and commit one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry)
        self.duplicates_skipped = Counter(
            "laneway_audit_duplicates_skipped",
            "Records skipped because their record id was already in the log",
            registry=registry)
        self.dead_letters = Counter("laneway_audit_dead_letters",
                                    "Records sent to the dead-letter topic", registry=registry)
        self.consumer_lag = Gauge("laneway_audit_consumer_lag",
                                  "Records on the assigned partitions not consumed yet",
                                  registry=registry)
        self.assigned_partitions = Gauge("laneway_audit_assigned_partitions",
                                         "Partitions of events assigned to this sink",
                                         registry=registry)


_DEFAULT_METRICS: SinkMetrics | None = None


def default_metrics() -> SinkMetrics:
    """The metrics on the process's default registry, made once (on first use, not import)."""
    global _DEFAULT_METRICS
    if _DEFAULT_METRICS is None:
        _DEFAULT_METRICS = SinkMetrics()
    return _DEFAULT_METRICS


class AuditSink:
    """Consumes `events` and appends every record to `audit_log`. Not thread-safe: one
    thread runs `run`; `health` may be called from any thread."""

    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        connect: Callable[[], psycopg.Connection[Any]],
        *,
        events_topic: str,
        dlq_topic: str,
        batch_size: int = 1000,
        poll_timeout_s: float = 0.2,
        cache_size: int = 100_000,
        metrics: SinkMetrics | None = None,
        on_commit: OnCommit | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._connect = connect
        self._conn: psycopg.Connection[Any] | None = None
        self.events_topic = events_topic
        self.dlq_topic = dlq_topic
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s
        self.cache_size = cache_size
        self.metrics = metrics or default_metrics()
        self._on_commit = on_commit
        self._tails: OrderedDict[str, tuple[int, str]] = OrderedDict()
        # shared with the caller when given, so a signal handler can stop the loop
        self._stop = stop if stop is not None else threading.Event()
        self._assigned: list[TopicPartition] | None = None
        self._last_poll = time.monotonic()
        self._started = time.monotonic()
        self._lag_at = 0.0

    # -- lifecycle --------------------------------------------------------------------------

    def subscribe(self) -> None:
        """Join the group on `events`; the tail cache is dropped on every rebalance, since
        another member may have written the instances of the partitions that moved."""
        self._consumer.subscribe([self.events_topic], on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_revoke)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._tails.clear()
        self._assigned = list(partitions)
        self.metrics.assigned_partitions.set(len(partitions))
        _log.info("assigned %s", [p.partition for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._tails.clear()
        self._assigned = []
        self.metrics.assigned_partitions.set(0)

    def stop(self) -> None:
        """Ask `run` to return after the batch in hand (safe from a signal handler)."""
        self._stop.set()

    def close(self) -> None:
        """Leave the group and close the database connection."""
        try:
            self._consumer.close()
        finally:
            self._producer.flush(10)
            if self._conn is not None:
                self._conn.close()

    def run(self) -> None:
        """Poll, write and commit until `stop` is called."""
        self.subscribe()
        while not self._stop.is_set():
            messages = self._consumer.consume(self.batch_size, self.poll_timeout_s)
            self._last_poll = time.monotonic()
            if messages:
                try:
                    self.handle(messages)
                except SinkStopped:
                    break
            if time.monotonic() - self._lag_at > _LAG_EVERY_S:
                self._update_lag()

    def health(self) -> str | None:
        """None while the loop polls and has joined the group; else what is wrong."""
        since = time.monotonic() - self._last_poll
        if since > max(30.0, self.poll_timeout_s * 10):
            return f"the sink has not polled Kafka for {since:.0f}s"
        if self._assigned is None and time.monotonic() - self._started > 60:
            return "the sink has not joined its consumer group"
        return None

    # -- one batch --------------------------------------------------------------------------

    def handle(self, messages: Sequence[Message]) -> int:
        """Write one polled batch and commit its offsets; return the rows written."""
        batch = read_batch(messages)
        written = self._write_with_retry(batch.records, batch.dead) if batch.records else 0
        if batch.dead:
            send_dead_letters(self._producer, self.dlq_topic, batch.dead)
            self.metrics.dead_letters.inc(len(batch.dead))
        if batch.offsets:
            commit_offsets(self._consumer, batch.offsets)
        return written

    def _write_with_retry(self, incoming: list[Polled],
                          dead: list[tuple[Message, BaseException]]) -> int:
        delay = 0.1
        while True:
            try:
                return self._write(incoming)
            except psycopg.errors.UniqueViolation:
                # another writer numbered one of these instances since we cached its tail
                # (a rebalance we had not seen yet): ask the database again
                _log.warning("seq conflict; re-reading the instances' tails")
                self._tails.clear()
            except psycopg.OperationalError as exc:
                _log.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
                self._drop_connection()
                if self._stop.wait(delay):
                    raise SinkStopped() from exc
                delay = min(delay * 2, 5.0)
            except psycopg.Error as exc:
                # a record the database refuses (not the connection): find it, dead-letter it
                _log.error("batch refused (%s); writing it one record at a time", exc)
                return self._write_one_by_one(incoming, dead)

    def _write_one_by_one(self, incoming: list[Polled],
                          dead: list[tuple[Message, BaseException]]) -> int:
        written = 0
        for each in incoming:
            try:
                written += self._write([each])
            except (psycopg.OperationalError, psycopg.errors.UniqueViolation):
                raise
            except psycopg.Error as exc:
                dead.append((each.message, exc))
        return written

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None
        self._tails.clear()

    def _write(self, incoming: list[Polled]) -> int:
        started = time.monotonic()
        conn = self._connection()
        tentative: dict[str, tuple[int, str]] = {}
        with conn.transaction():
            ids = [each.record.record_id for each in incoming]
            present = {row[0] for row in conn.execute(
                "SELECT record_id FROM audit_log WHERE record_id = ANY(%s)", (ids,))}
            fresh: list[Polled] = []
            for each in incoming:
                if each.record.record_id in present:
                    continue
                present.add(each.record.record_id)  # a record twice in one batch: once
                fresh.append(each)
            skipped = len(incoming) - len(fresh)
            self._load_tails(conn, {each.record.instance_id for each in fresh})
            written_at = datetime.now(UTC)
            with conn.cursor().copy(_COPY) as copy:
                for each in fresh:
                    copy.write_row(self._row(each, tentative, written_at))
        committed = time.time()
        for iid, tail in tentative.items():
            self._remember(iid, tail)
        self._observe(fresh, skipped, committed, time.monotonic() - started)
        return len(fresh)

    def _row(self, each: Polled, tentative: dict[str, tuple[int, str]],
             written_at: datetime) -> tuple[Any, ...]:
        rec = each.record
        last_seq, last_hash = tentative.get(rec.instance_id) or self._tails.get(
            rec.instance_id, (0, ZERO_HASH))
        seq = last_seq + 1
        principal, principal_hashed = json_texts(rec.principal.to_dict())
        value, value_hashed = json_texts(rec.value)
        kind = rec.kind.value
        digest = hash_of(canonical_texts(
            rec.instance_id, seq, rec.record_id, kind, rec.intent, rec.element_id,
            rec.element_type, rec.token_id, rec.scope_id, principal_hashed, value_hashed,
            rec.timestamp, last_hash))
        tentative[rec.instance_id] = (seq, digest)
        return (rec.instance_id, seq, rec.record_id, kind, rec.intent, rec.element_id,
                rec.element_type, rec.token_id, rec.scope_id, principal, value,
                EPOCH + timedelta(milliseconds=rec.timestamp), written_at,
                each.topic, each.partition, each.offset, last_hash, digest)

    def _load_tails(self, conn: psycopg.Connection[Any], instance_ids: set[str]) -> None:
        missing = [iid for iid in instance_ids if iid not in self._tails]
        if not missing:
            for iid in instance_ids:
                self._tails.move_to_end(iid)
            return
        found = {row[0]: (int(row[1]), str(row[2]))
                 for row in conn.execute(_TAILS, (missing,))}
        for iid in missing:
            self._remember(iid, found.get(iid, (0, ZERO_HASH)))

    def _remember(self, instance_id: str, tail: tuple[int, str]) -> None:
        self._tails[instance_id] = tail
        self._tails.move_to_end(instance_id)
        while len(self._tails) > self.cache_size:
            self._tails.popitem(last=False)

    def _observe(self, fresh: list[Polled], skipped: int, committed: float,
                 seconds: float) -> None:
        m = self.metrics
        m.rows_written.inc(len(fresh))
        m.duplicates_skipped.inc(skipped)
        m.batch_size.observe(len(fresh) + skipped)
        m.batch_seconds.observe(seconds)
        stamps = [each.record.timestamp for each in fresh]
        for ts in stamps:
            m.availability_lag.observe(max(0.0, committed - ts / 1000))
        if self._on_commit is not None:
            self._on_commit(stamps, committed)

    # -- Kafka side -------------------------------------------------------------------------

    def _update_lag(self) -> None:
        self._lag_at = time.monotonic()
        assigned = self._assigned or []
        lag = 0
        try:
            positions = self._consumer.position(assigned) if assigned else []
            for tp in positions:
                low, high = self._consumer.get_watermark_offsets(tp, timeout=1.0)
                lag += high - (tp.offset if tp.offset >= 0 else low)
        except KafkaException as exc:
            _log.debug("consumer lag not measured: %s", exc)
            return
        self.metrics.consumer_lag.set(lag)

