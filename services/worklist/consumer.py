"""The worklist's consumer: `events` → `tasks` / `task_commands` (services.worklist.projection).

One poll batch is one database transaction; Kafka offsets are committed only after the
database commit (at-least-once delivery, idempotent writes: a batch read again after a crash
changes nothing). Records that do not decode go to `dlq` with the dead-letter headers, before
the offsets are committed; a record the database refuses (found by writing the batch again one
record at a time) goes there too, and the consumer carries on. A lost connection is retried
with backoff, the batch in hand kept.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from laneway.consuming import Polled, commit_offsets, read_batch, send_dead_letters
from services.worklist.projection import apply_records, is_task_record

__all__ = ["ConsumerStopped", "TaskConsumer"]

_log = logging.getLogger(__name__)


class ConsumerStopped(Exception):
    """Asked to stop with a batch unwritten: its offsets stay uncommitted, so it is read
    again on the next start."""


class TaskConsumer:
    """Consumes `events` in a group and projects the user-task records."""

    def __init__(self, consumer: Consumer, producer: Producer,
                 connect: Callable[[], psycopg.Connection[Any]], *, events_topic: str,
                 dlq_topic: str, batch_size: int = 500, poll_timeout_s: float = 0.2,
                 stop: threading.Event | None = None) -> None:
        self._consumer = consumer
        self._producer = producer
        self._connect = connect
        self._conn: psycopg.Connection[Any] | None = None
        self.events_topic = events_topic
        self.dlq_topic = dlq_topic
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s
        self._stop = stop if stop is not None else threading.Event()
        self._assigned: list[TopicPartition] | None = None
        self._last_poll = time.monotonic()
        self._started = time.monotonic()
        self.applied = 0
        """Task records applied since start (redeliveries included)."""
        self.dead_letters = 0
        """Records sent to the dead-letter topic since start."""

    def subscribe(self) -> None:
        """Join the group on `events`."""
        self._consumer.subscribe([self.events_topic], on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_revoke)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = list(partitions)
        _log.info("assigned %s", [p.partition for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = []

    def stop(self) -> None:
        """Ask `run` to return after the batch in hand."""
        self._stop.set()

    def close(self) -> None:
        """Leave the group and close the database connection."""
        try:
            self._consumer.close()
        finally:
            self._producer.flush(10)
            self._drop_connection()

    def run(self) -> None:
        """Poll, write and commit until `stop` is called."""
        self.subscribe()
        while not self._stop.is_set():
            messages = self._consumer.consume(self.batch_size, self.poll_timeout_s)
            self._last_poll = time.monotonic()
            if messages:
                try:
                    self.handle(messages)
                except ConsumerStopped:
                    break

    def health(self) -> str | None:
        """None while the loop polls and has joined its group; else what is wrong."""
        since = time.monotonic() - self._last_poll
        if since > max(30.0, self.poll_timeout_s * 10):
            return f"the task consumer has not polled Kafka for {since:.0f}s"
        if self._assigned is None and time.monotonic() - self._started > 60:
            return "the task consumer has not joined its consumer group"
        return None

    def handle(self, messages: Sequence[Message]) -> int:
        """Project one polled batch and commit its offsets; return the task records applied."""
        batch = read_batch(messages)
        items = [p for p in batch.records if is_task_record(p.record)]
        applied = self._write_with_retry(items, batch.dead) if items else 0
        if batch.dead:
            send_dead_letters(self._producer, self.dlq_topic, batch.dead)
            self.dead_letters += len(batch.dead)
        if batch.offsets:
            commit_offsets(self._consumer, batch.offsets)
        self.applied += applied
        return applied

    def _write_with_retry(self, items: list[Polled],
                          dead: list[tuple[Message, BaseException]]) -> int:
        delay = 0.1
        while True:
            try:
                return self._write(items)
            except psycopg.OperationalError as exc:
                _log.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
                self._drop_connection()
                if self._stop.wait(delay):
                    raise ConsumerStopped() from exc
                delay = min(delay * 2, 5.0)
            except (psycopg.Error, ValueError) as exc:
                # a record the database (or the projection) refuses: find it, dead-letter it
                _log.error("batch refused (%s); writing it one record at a time", exc)
                return self._write_one_by_one(items, dead)

    def _write_one_by_one(self, items: list[Polled],
                          dead: list[tuple[Message, BaseException]]) -> int:
        written = 0
        for item in items:
            try:
                written += self._write([item])
            except psycopg.OperationalError:
                raise
            except (psycopg.Error, ValueError) as exc:
                dead.append((item.message, exc))
        return written

    def _write(self, items: list[Polled]) -> int:
        conn = self._connection()
        try:
            return apply_records(conn, [(p.record, p.partition, p.offset) for p in items])
        except Exception:
            # a failed transaction is rolled back by the context manager; an idle connection
            # in a broken state is not reused
            if conn.broken:
                self._drop_connection()
            raise

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None
