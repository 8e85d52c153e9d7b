"""The worklist's consumer: `events` → `tasks` / `task_commands` (services.worklist.projection).

The kit's `laneway.consuming.ProjectionLoop` with the worklist's handler: one poll batch is
one database transaction; Kafka offsets are committed only after the database commit
(at-least-once delivery, idempotent writes: a batch read again after a crash changes nothing).
Records that are not the worklist's are skipped when decoded, so a batch of other records
costs no transaction. Records that do not decode go to `dlq` with the dead-letter headers,
before the offsets are committed; a record the database (or the projection) refuses, found by
writing the batch again one record at a time, goes there too, and the consumer carries on. A
lost connection is retried with backoff, the batch in hand kept.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, Message

from laneway.codec import default_codec
from laneway.codec.typed import RECORD
from laneway.consuming import (
    DeadLetter,
    DeadLetterProducer,
    Polled,
    ProjectionLoop,
    decode_message,
)
from laneway.kafka import RenewingProducer
from laneway.records import Event, Record, RecordKind
from laneway.service.progress import DEFAULT_STALL_S
from laneway.telemetry import ended_span, tracing
from services.worklist.answers import AnswerWaiters, Resolved
from services.worklist.metrics import WorklistMetrics
from services.worklist.projection import ANSWERS, apply_records, is_task_record

__all__ = ["TaskConsumer"]


# Every record the worklist projects holds one of these: its intent is an Avro string
# (schemas/record.avsc, every version), written as its UTF-8 bytes, and every task event's and
# task command's name contains USER_TASK (`projection.TASK_EVENTS`, `TASK_COMMANDS`); the
# migration event is the other. tests/unit/test_worklist_prefilter.py holds them to it.
_TASK_MARKS = (b"USER_TASK", Event.INSTANCE_MIGRATED.value.encode())


def decode_task_record(msg: Message) -> Record | None:
    """The record a message holds when the worklist projects it, else None (skipped).

    A record whose bytes name no task intent is skipped without decoding it: most of
    `events` is not the worklist's, and decoding all of it was most of the projection's CPU.
    Its header is still read, so what is not a Laneway record at all still goes to `dlq`
    (a record whose header is sound but whose body is corrupt is dead-lettered by the audit
    sink, which decodes every record)."""
    value = msg.value() or b""
    if default_codec().writer_of(value).family == RECORD and not any(
            mark in value for mark in _TASK_MARKS):
        return None
    record = decode_message(msg)
    return record if is_task_record(record) else None


SPLIT_AFTER_ANSWERS = 16
"""A batch whose records after its answers number at least this many is written as two
transactions, the answers' first (`answers_first`): one more BEGIN and COMMIT (a few ms) is
worth it only when the answers would otherwise wait for that many more records (about 1 ms
each on the loaded machine, docs/benchmarks.md)."""


def is_answer(record: Record) -> bool:
    """Whether a projected record answers a task command (a request may be waiting for it)."""
    return record.kind is RecordKind.REJECTION or record.intent in ANSWERS


def answers_first(items: Sequence[Polled]) -> tuple[list[Polled], list[Polled]]:
    """The batch as (what to write first, the rest): first, each partition's records up to
    and including its last answer; then the others. A request waiting for an answer then
    waits for its batch's records before the answer, not after it (under a burst, hundreds of
    USER_TASK_CREATED inserts). Each partition's records keep their order (a task's records
    are applied in offset order: the projection skips a record older than the row's last),
    and partitions are independent, so the two parts written one after the other leave what
    the one transaction would. Without an answer, everything is "the rest"."""
    last: dict[tuple[str, int], int] = {}
    for i, p in enumerate(items):
        if is_answer(p.record):
            last[(p.topic, p.partition)] = i
    if not last:
        return [], list(items)
    first: list[Polled] = []
    rest: list[Polled] = []
    for i, p in enumerate(items):
        (first if i <= last.get((p.topic, p.partition), -1) else rest).append(p)
    return first, rest


def write_task_records(conn: psycopg.Connection[Any], items: Sequence[Polled], *,
                       answers: AnswerWaiters | None = None,
                       resolved: list[tuple[str, Resolved | None]] | None = None) -> int:
    """The loop's handler: apply the batch's task records in its transaction; with tracing
    on, one span per instance of the batch (not per record), a child of its last task
    record's context (docs/telemetry.md). With `answers` (this process's waiting requests),
    the answers they wait for go to `resolved`, to hand over after the commit."""
    started = time.time_ns()
    applied = apply_records(conn, [(p.record, p.partition, p.offset) for p in items],
                            wanted=answers.wanted if answers is not None else None,
                            resolved=resolved)
    if tracing():
        last: dict[str, Polled] = {}
        rows: Counter[str] = Counter()
        for p in items:
            last[p.record.instance_id] = p
            rows[p.record.instance_id] += 1
        for iid, p in last.items():
            ended_span("laneway.worklist.project", iid, headers=p.message.headers(),
                       start_time=started, attributes={"laneway.worklist.records": rows[iid]})
    return applied


class TaskConsumer(ProjectionLoop[Record]):
    """Consumes `events` in a group and projects the user-task records: `run` until `stop`,
    then `close`; `health` for /health. With `answers` (the task routes' waiting requests of
    this process), an answer one of them waits for is handed to it as soon as its
    transaction has committed (`AnswerWaiters.resolve`), before the offsets are committed."""

    def __init__(self, consumer: Consumer, producer: RenewingProducer,
                 connect: Callable[[], psycopg.Connection[Any]], *, events_topic: str,
                 dlq_topic: str, batch_size: int = 500, poll_timeout_s: float = 0.2,
                 metrics: WorklistMetrics | None = None,
                 stop: threading.Event | None = None,
                 stall_s: float = DEFAULT_STALL_S,
                 answers: AnswerWaiters | None = None, commit_async: bool = False,
                 commit_interval_s: float = 0.0) -> None:
        worklist_metrics = metrics or WorklistMetrics.default()
        self._answer_lag = worklist_metrics.answer_lag
        self._handed_over = worklist_metrics.answers_handed_over
        self._answers = answers
        # what the transaction in hand found for this process's waiting requests; handed
        # over in `_committed` (the loop calls it only after the commit), dropped when the
        # transaction is written again
        self._resolved: list[tuple[str, Resolved | None]] = []
        super().__init__(
            consumer, [events_topic], self._write_batch, connect,
            DeadLetterProducer(producer, dlq_topic), decode=decode_task_record,
            batch_size=batch_size, poll_timeout_s=poll_timeout_s,
            # a ValueError is a record the projection refuses (a malformed task value)
            refused=(psycopg.Error, ValueError),
            metrics=worklist_metrics.loop, stop=stop, on_commit=self._committed,
            name="task consumer", stall_s=stall_s, commit_async=commit_async,
            commit_interval_s=commit_interval_s)
        self.events_topic = events_topic

    def _write_batch(self, conn: psycopg.Connection[Any], items: Sequence[Polled]) -> int:
        self._resolved.clear()  # a previous attempt's, rolled back
        if self._answers is None:
            return write_task_records(conn, items)
        return write_task_records(conn, items, answers=self._answers,
                                  resolved=self._resolved)

    def _committed(self, items: Sequence[Polled], _written: int) -> None:
        """Wake this process's requests whose answers just committed, then observe the
        answers' lag (their Kafka timestamp -> now, their transaction committed): the
        worklist's share of a task command's wait, from the engine's answer to the NOTIFY."""
        if self._answers is not None and self._resolved:
            for command_id, answered in self._resolved:
                if answered is None:
                    self._answers.wake(command_id)  # committed before: it reads it itself
                elif self._answers.resolve(command_id, answered):
                    self._handed_over.inc()
            self._resolved.clear()
        now_ms = time.time() * 1000
        for p in items:
            record = p.record
            if is_answer(record):
                kind, ts = p.message.timestamp()
                if kind != TIMESTAMP_NOT_AVAILABLE:
                    self._answer_lag.observe(max(0.0, now_ms - ts) / 1000)

    def _write_with_retry(self, items: list[Polled], dead: list[DeadLetter]) -> int:
        """The loop's write, in two transactions when a batch's answers would otherwise wait
        for many records after them (`answers_first`). The offsets are still committed once,
        after both: a crash between them reads the whole batch again, and writing its first
        part again changes nothing (the projection is idempotent)."""
        first, rest = answers_first(items)
        if not first or len(rest) < SPLIT_AFTER_ANSWERS:
            return super()._write_with_retry(items, dead)
        written = super()._write_with_retry(first, dead)
        return written + super()._write_with_retry(rest, dead)

    @property
    def applied(self) -> int:
        """Task records applied since start (redeliveries included)."""
        return self.written
