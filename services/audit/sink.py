"""The audit sink: every record of the `events` topic into PostgreSQL's `audit_log`.

One poll batch (up to `batch_size` records) is one database transaction: the batch's record ids
already in the log are skipped (a redelivered batch is a no-op), the rest are numbered per
instance in consumption order (seq = the instance's last seq + 1), hash-chained
(`services/audit/chain.py`) and written with one COPY, and each instance's new head is signed
into `audit_heads` in the same transaction (`services/audit/anchor.py`). Kafka offsets are
committed only after the database commit, so a crash between the two repeats writes that are
then skipped: no outbox is needed. The events of one instance are on one partition, in order,
and a partition has one consumer in the group, so one sink numbers each instance; a per-
instance cache of (last seq, last hash) saves reading the tail back, and is dropped on every
rebalance and on a numbering conflict, after which the database is asked again.

The loop around the write (poll, dead letters, commit after the database, retries) is the
kit's `laneway.consuming.ProjectionLoop`: records that do not decode go to `dlq` with the
dead-letter headers; a record the database refuses (after the batch is retried one record at
a time) goes there too, and the sink carries on.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition

from laneway.consuming import DeadLetterProducer, LoopStopped, Polled, ProjectionLoop
from laneway.kafka import RenewingProducer, fetch
from laneway.records import Record
from laneway.service.progress import DEFAULT_STALL_S
from laneway.telemetry import ended_span, tracing
from services.audit.anchor import DEV_KEY, HeadSigner
from services.audit.chain import ZERO_HASH, canonical_texts, hash_of
from services.audit.decoding import decode_event, principal_texts, value_texts
from services.audit.metrics import SinkMetrics, observe_many

__all__ = ["COLUMNS", "AuditLogWriter", "AuditSink", "OnCommit", "SinkGroup"]

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
# Each instance's new head, signed, moved forward (the table's trigger refuses a move back).
_HEADS = """
INSERT INTO audit_heads (instance_id, seq, hash, mac)
SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[])
ON CONFLICT (instance_id) DO UPDATE
SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, mac = EXCLUDED.mac, signed_at = now()
"""

OnCommit = Callable[[Sequence[int], float], None]
"""Called after each database commit with the batch's event timestamps (epoch ms) and the
commit time (epoch seconds); the benchmark uses it for exact lag percentiles."""


@dataclass(slots=True)
class _Written:
    """What the last write did, kept until its transaction commits."""

    tails: dict[str, tuple[int, str]] = field(default_factory=dict)
    fresh: list[Polled] = field(default_factory=list)
    skipped: int = 0
    started_ns: int = 0
    """When the write began (epoch ns): the start of its spans."""


def _trace_write(written: _Written) -> None:
    """One span per instance written (not per row), a child of its last record's context
    (the engine's span for the command that wrote it), from the write's start to now."""
    last: dict[str, Polled] = {}
    rows: Counter[str] = Counter()
    for each in written.fresh:
        last[each.record.instance_id] = each
        rows[each.record.instance_id] += 1
    for iid, each in last.items():
        ended_span("laneway.audit.write", iid, headers=each.message.headers(),
                   start_time=written.started_ns,
                   attributes={"laneway.audit.rows": rows[iid],
                               "laneway.audit.seq": written.tails.get(iid, (0, ""))[0]})


# COPY's text format: a row is one line, its columns split by tabs; in a text, a backslash,
# newline, carriage return and tab are written escaped (the JSON texts are ASCII, but may hold
# backslashes; ids are any text).
_COLUMN_COUNT = len(COLUMNS)
_MAX_LINES_CHARS = 1 << 20
"""Lines are handed to COPY in pieces of about this many characters (bounds the buffer)."""


class _Lines:
    """A batch's rows as COPY text lines, written with one `copy.write` per piece: about a
    third of the sink's CPU per row was psycopg's `write_row` (a Python call and a type
    dispatch per field) and a `datetime` per event time."""

    __slots__ = ("_chars", "_parts", "_stamps", "_written_at")

    def __init__(self, written_at: datetime) -> None:
        self._written_at = written_at.isoformat()
        # the events of one command share its timestamp: each is formatted once per batch
        self._stamps: dict[int, str] = {}
        self._parts: list[str] = []
        self._chars = 0

    def add(self, row: tuple[Any, ...]) -> bool:
        """Append a row as `_row` makes it (the same values `write_row` would write); False
        when one of its texts holds a NUL, which COPY refuses and which the join below uses
        to split columns."""
        (iid, seq, record_id, kind, intent, element_id, element_type, token_id, scope_id,
         principal, value, event_ms, _, topic, partition, offset, prev_hash, digest) = row
        stamp = self._stamps.get(event_ms)
        if stamp is None:
            if len(self._stamps) > 4096:  # bounded: a batch of distinct stamps
                self._stamps.clear()
            stamp = self._stamps[event_ms] = (
                EPOCH + timedelta(milliseconds=event_ms)).isoformat()
        try:
            line = "\0".join((iid, str(seq), record_id, kind, intent, element_id,
                               element_type, str(token_id), str(scope_id), principal, value,
                               stamp, self._written_at, topic, str(partition), str(offset),
                               prev_hash, digest))
        except TypeError:  # a text that is not one (None): `write_row` decides, as before
            return False
        if line.count("\0") != _COLUMN_COUNT - 1:
            return False
        line = (line.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
                .replace("\t", "\\t").replace("\0", "\t"))
        self._parts.append(line)
        self._chars += len(line) + 1
        return True

    def flush(self, copy: Any) -> None:
        """Write the lines gathered so far."""
        if self._parts:
            self._parts.append("")
            copy.write("\n".join(self._parts))
            self._parts = []
            self._chars = 0

    @property
    def full(self) -> bool:
        """Whether the lines gathered should be written before more are added."""
        return self._chars >= _MAX_LINES_CHARS


class AuditLogWriter:
    """The sink's `BatchHandler` (`write`) with the per-instance tail cache it numbers from;
    `committed` and `reset` are the loop's `on_commit` and `on_reset`."""

    def __init__(self, metrics: SinkMetrics, *, cache_size: int = 100_000,
                 on_commit: OnCommit | None = None, signer: HeadSigner | None = None) -> None:
        self.metrics = metrics
        self.signer = signer or HeadSigner(DEV_KEY)
        self.cache_size = cache_size
        self._on_commit = on_commit
        self._tails: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._written = _Written()
        # per (topic, partition): the highest offset this writer has committed to the log
        # since its last reset (a rebalance, a lost connection, a conflict)
        self._upto: dict[tuple[str, int], int] = {}
        self.checks_skipped = 0
        """Batches written without asking which records the log has (all past `_upto`)."""

    def write(self, conn: psycopg.Connection[Any], incoming: Sequence[Polled]) -> int:
        """Append the records not in the log yet, in the loop's transaction; how many."""
        written = self._written = _Written(started_ns=time.time_ns())
        present: set[str] = set()
        if self._past_upto(incoming):
            # read after what this writer committed in the same assignment: not in the log,
            # unless another writer raced it (a member that lost the partition and has not
            # noticed), which the unique record id refuses: the loop resets and writes the
            # batch again, checked (`conflicts`)
            self.checks_skipped += 1
        else:
            ids = [each.record.record_id for each in incoming]
            present = {row[0] for row in conn.execute(
                "SELECT record_id FROM audit_log WHERE record_id = ANY(%s)", (ids,))}
        for each in incoming:
            if each.record.record_id in present:
                continue
            present.add(each.record.record_id)  # a record twice in one batch: once
            written.fresh.append(each)
        written.skipped = len(incoming) - len(written.fresh)
        self._load_tails(conn, {each.record.instance_id for each in written.fresh})
        written_at = datetime.now(UTC)
        lines = _Lines(written_at)
        with conn.cursor().copy(_COPY) as copy:
            for each in written.fresh:
                row = self._row(each, written.tails, written_at)
                if not lines.add(row):
                    # a text that cannot be a line (a NUL): written as before, and refused by
                    # psycopg as before (the loop then writes the batch a record at a time)
                    lines.flush(copy)
                    copy.write_row((*row[:11], EPOCH + timedelta(milliseconds=row[11]),
                                    *row[12:]))
                elif lines.full:
                    lines.flush(copy)
            lines.flush(copy)
        self._sign_heads(conn, written.tails)
        return len(written.fresh)

    def _past_upto(self, incoming: Sequence[Polled]) -> bool:
        """Whether every record was read after the last one this writer committed from its
        partition since the last reset (so the batch is no redelivery)."""
        for each in incoming:
            upto = self._upto.get((each.topic, each.partition))
            if upto is None or each.offset <= upto:
                return False
        return True

    def _sign_heads(self, conn: psycopg.Connection[Any],
                    heads: dict[str, tuple[int, str]]) -> None:
        if not heads:
            return
        iids = list(heads)
        seqs = [heads[iid][0] for iid in iids]
        hashes = [heads[iid][1] for iid in iids]
        macs = [self.signer.mac(iid, seq, digest) for iid, seq, digest in zip(
            iids, seqs, hashes, strict=True)]
        conn.execute(_HEADS, (iids, seqs, hashes, macs))

    def committed(self, batch: Sequence[Polled], rows: int) -> None:
        """After the commit: the new tails are the instances' tails now; count and report."""
        written = self._written
        committed = time.time()
        for iid, tail in written.tails.items():
            self._remember(iid, tail)
        for each in batch:
            key = (each.topic, each.partition)
            self._upto[key] = max(each.offset, self._upto.get(key, -1))
        m = self.metrics
        m.rows_written.inc(len(written.fresh))
        m.duplicates_skipped.inc(written.skipped)
        stamps = [each.record.timestamp for each in written.fresh]
        # still one observation per row (the histogram counts rows), made once per distinct
        # event timestamp: the rows of one command share it, and so their lag
        for ts, count in Counter(stamps).items():
            observe_many(m.availability_lag, max(0.0, committed - ts / 1000), count)
        if self._on_commit is not None:
            self._on_commit(stamps, committed)
        if tracing():
            _trace_write(written)

    def reset(self) -> None:
        """Forget the cached tails: after a rebalance, a lost connection or a numbering
        conflict another writer may have numbered these instances; the database is asked.
        Likewise which records it holds: the next batch of each partition is checked."""
        self._tails.clear()
        self._upto.clear()

    def _row(self, each: Polled, tentative: dict[str, tuple[int, str]],
             written_at: datetime) -> tuple[Any, ...]:
        rec = each.record
        last_seq, last_hash = tentative.get(rec.instance_id) or self._tails.get(
            rec.instance_id, (0, ZERO_HASH))
        seq = last_seq + 1
        principal, principal_hashed = principal_texts(rec.principal)
        value, value_hashed = value_texts(rec.value)
        kind = rec.kind.value
        digest = hash_of(canonical_texts(
            rec.instance_id, seq, rec.record_id, kind, rec.intent, rec.element_id,
            rec.element_type, rec.token_id, rec.scope_id, principal_hashed, value_hashed,
            rec.timestamp, last_hash))
        tentative[rec.instance_id] = (seq, digest)
        return (rec.instance_id, seq, rec.record_id, kind, rec.intent, rec.element_id,
                rec.element_type, rec.token_id, rec.scope_id, principal, value,
                rec.timestamp, written_at,
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


class AuditSink(ProjectionLoop[Record]):
    """The kit's projection loop over `events` with the audit log's writer: `run` until
    `stop`, then `close`; `health` for /health. Not thread-safe: one thread runs `run`."""

    def __init__(
        self,
        consumer: Consumer,
        producer: RenewingProducer,
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
        signer: HeadSigner | None = None,
        stall_s: float = DEFAULT_STALL_S,
        commit_async: bool = False,
        pipelined: bool = False,
        commit_interval_s: float = 0.0,
    ) -> None:
        sink_metrics = metrics or SinkMetrics.default()
        # signer None: the development key (tests and tools; the service passes its setting)
        self.writer = AuditLogWriter(sink_metrics, cache_size=cache_size, on_commit=on_commit,
                                     signer=signer)
        super().__init__(
            consumer, [events_topic], self.writer.write, connect,
            DeadLetterProducer(producer, dlq_topic), decode=decode_event, batch_size=batch_size,
            poll_timeout_s=poll_timeout_s,
            # another writer numbered one of these instances since its tail was cached (a
            # rebalance not seen yet): the tails are read again and the batch written again
            conflicts=(psycopg.errors.UniqueViolation,),
            on_commit=self.writer.committed, on_reset=self.writer.reset,
            metrics=sink_metrics.loop, stop=stop, name="audit sink", stall_s=stall_s,
            # True: the offsets after the database commit without waiting for the broker's
            # answer (a round trip of 1-90 ms on a loaded broker); the service's setting
            # `LANEWAY_AUDIT_COMMIT_ASYNC`, on by default
            commit_async=commit_async,
            # the pipelined sink writes in another thread: its offsets are committed there,
            # each batch's, not held back where this thread's polls would commit them
            commit_interval_s=0.0 if pipelined else commit_interval_s)
        self.events_topic = events_topic
        self.pipelined = pipelined
        # the batch being written (`project`) in the writer thread while the next is decoded
        self._in_flight: Future[int] | None = None

    def run(self) -> None:
        """Poll, decode, write and commit until `stop`; when `pipelined` (the service's
        `LANEWAY_AUDIT_PIPELINE`, off by default: no gain measured on 2 shared cores): while
        the writer thread writes batch N (numbering, hashing, the COPY, the commit, then its
        offsets), this thread polls and decodes batch N+1, and hands it over only once N is
        done. So the batches are written and their offsets committed one at a time, in the
        order read, exactly as without the pipeline: only the decoding (about half of the
        sink's Python per record, none of it touching the database or the writer's state)
        overlaps the write's waits for PostgreSQL. A rebalance waits for the write in
        flight before the caches are dropped (`_on_assign`, `_on_revoke`)."""
        if not self.pipelined:
            super().run()
            return
        self.subscribe()
        with ThreadPoolExecutor(1, thread_name_prefix="audit-write") as writer:
            try:
                while not self._stop.is_set():
                    messages = fetch(self._consumer, self.batch_size, self.poll_timeout_s)
                    self.progress.polled()
                    if not messages:
                        self._settle()
                        continue
                    batch = self.sort(messages)
                    decoding = time.monotonic() - batch.started
                    self._settle()
                    # the batch's time is its decoding and its write, not its wait between
                    batch.started = time.monotonic() - decoding
                    self._in_flight = writer.submit(self.project, batch)
                self._settle()
            except LoopStopped:
                pass
            finally:
                self._finish()

    def _settle(self) -> None:
        """Wait for the write in flight; raise its error (LoopStopped: asked to stop with
        that batch unwritten, its offsets uncommitted)."""
        pending, self._in_flight = self._in_flight, None
        if pending is not None:
            pending.result()

    def _finish(self) -> None:
        """On the way out: the write in flight ends before the consumer is closed (its error,
        if any, is the one `run` is already raising, or none)."""
        pending = self._in_flight
        if pending is not None:
            wait([pending])

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._finish()  # the tails that write leaves are dropped after it, not during it
        super()._on_assign(consumer, partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._finish()
        super()._on_revoke(consumer, partitions)


class SinkGroup:
    """Several `AuditSink`s of one consumer group in one process, each with its own consumer
    and connection: the group splits the partitions between them, so one writes while
    another decodes or waits for PostgreSQL (psycopg and librdkafka release the GIL while
    they wait). Numbering stays per partition, as with several replicas: an instance's
    events are on one partition, which one sink holds at a time (its tails are dropped on
    every rebalance). The first runs in the caller's thread, the others in threads; when one
    fails, all stop and `run` raises its error (the process exits for a restart)."""

    def __init__(self, sinks: Sequence[AuditSink], stop: threading.Event) -> None:
        if not sinks:
            raise ValueError("Expected at least one audit sink, but got none")
        self.sinks = list(sinks)
        self._stop = stop
        self._errors: list[BaseException] = []

    @property
    def events_topic(self) -> str:
        return self.sinks[0].events_topic

    def _run_one(self, sink: AuditSink) -> None:
        try:
            sink.run()
        except BaseException as exc:  # any failure stops the others; `run` raises it
            self._errors.append(exc)
            self._stop.set()

    def run(self) -> None:
        threads = [threading.Thread(target=self._run_one, args=(sink,), daemon=True,
                                    name=f"audit-sink-{n}")
                   for n, sink in enumerate(self.sinks[1:], start=1)]
        for thread in threads:
            thread.start()
        try:
            self._run_one(self.sinks[0])
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(30)
        if self._errors:
            raise self._errors[0]

    def health(self) -> str | None:
        return next((p for p in (s.health() for s in self.sinks) if p is not None), None)

    def live(self) -> str | None:
        return next((p for p in (s.live() for s in self.sinks) if p is not None), None)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
