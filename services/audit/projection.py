"""The instance projection: the `state` topic into the `instances` table.

A background thread of the audit service, beside its sink. It is a group consumer
(`<prefix>instances-projection`, read_committed): each batch is written in one database
transaction, and the Kafka offsets are committed only after that commit. A crash between the
two reads the batch again, and the rows' `(last_partition, last_offset)` guard turns the repeat
into a no-op. A tombstone (the instance ended) leaves the row as the final snapshot wrote it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from psycopg_pool import ConnectionPool

from laneway.codec import DecodeError, StateSnapshot, decode_state
from laneway.engine.state import PROCESS_KIND, InstanceState
from laneway.kafka import consumer_config
from services.audit.instances import InstanceUpsert, upsert_instances
from services.audit.metrics import ProjectionMetrics

_log = logging.getLogger(__name__)

PARTITION_STATE_PREFIX = "__"
"""Keys of partition-level state on `state` (message buffers), not instances."""


def instance_row(snapshot: StateSnapshot, partition: int, offset: int) -> InstanceUpsert:
    """What the API shows of one snapshot."""
    inst = snapshot.instance()
    return InstanceUpsert(
        instance_id=snapshot.instance_id,
        process_id=snapshot.process_id,
        version=snapshot.version,
        business_key=inst.business_key,
        status=inst.effective_status,
        active_elements=active_elements(inst),
        variables=dict(inst.variables.get(inst.root_key, {})),
        incidents=incidents(inst),
        updated_at=datetime.fromtimestamp(snapshot.timestamp / 1000, tz=UTC),
        partition=partition,
        offset=offset,
    )


def active_elements(inst: InstanceState) -> list[str]:
    """Ids of the live elements (tokens and scopes, not the process), in activation order,
    each once."""
    ids = (e.element_id for _, e in sorted(inst.elements.items()) if e.kind != PROCESS_KIND)
    return list(dict.fromkeys(ids))


def incidents(inst: InstanceState) -> list[dict[str, Any]]:
    """The open incidents, with the element they hold."""
    out: list[dict[str, Any]] = []
    for key, incident in sorted(inst.incidents.items()):
        element = inst.elements.get(incident.element_key)
        out.append({"id": f"{inst.instance_id}:{key}", "key": key,
                    "elementId": element.element_id if element else None,
                    "errorType": incident.error_type, "message": incident.message})
    return out


class InstanceProjection:
    """Runs the projection in a daemon thread until `stop`; restarts its consumer (from the
    last committed offsets) after any error."""

    def __init__(self, pool: ConnectionPool, bootstrap: str, topic: str, group: str,
                 metrics: ProjectionMetrics, *, batch_size: int = 500, poll_timeout_s: float = 0.5,
                 stale_after_s: float = 30.0) -> None:
        self._pool = pool
        self._topic = topic
        self._config = consumer_config(bootstrap, group, client_id="laneway-projection")
        self._metrics = metrics
        self._batch_size = batch_size
        self._poll_timeout_s = poll_timeout_s
        self._stale_after_s = stale_after_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="instances-projection",
                                        daemon=True)
        self._last_poll = time.monotonic()
        self._last_error: str | None = None

    def start(self) -> None:
        """Start consuming in the background."""
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the current batch and leave the group."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def problem(self) -> str | None:
        """None while the consumer thread runs and polls; else what is wrong (for /health)."""
        if not self._thread.is_alive():
            return "the projection thread is not running"
        idle = time.monotonic() - self._last_poll
        if idle > self._stale_after_s:
            return (f"the projection has not polled for {idle:.0f}s"
                    + (f"; last error: {self._last_error}" if self._last_error else ""))
        return None

    def _run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                self._consume()
                return
            except Exception as exc:  # any failure: start again from the committed offsets
                self._last_error = f"{type(exc).__name__}: {exc}"
                self._metrics.projection_errors.inc()
                _log.exception("instance projection failed; restarting in %.1fs", backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _consume(self) -> None:
        consumer = Consumer(self._config)
        try:
            consumer.subscribe([self._topic])
            while not self._stopping.is_set():
                messages = consumer.consume(self._batch_size, self._poll_timeout_s)
                self._last_poll = time.monotonic()
                if messages:
                    self._apply(consumer, messages)
                    self._last_error = None
                self._update_lag(consumer)
        finally:
            consumer.close()

    def _apply(self, consumer: Consumer, messages: list[Message]) -> None:
        rows: list[InstanceUpsert] = []
        offsets: dict[int, int] = {}
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.fatal() or err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise KafkaException(err)
                _log.warning("projection consumer: %s", err)
                continue
            partition, offset = msg.partition() or 0, msg.offset() or 0
            offsets[partition] = offset
            row = self._row(msg, partition, offset)
            if row is not None:
                rows.append(row)
        if rows:
            with self._pool.connection() as conn, conn.transaction():
                changed = upsert_instances(conn, rows)
            self._metrics.projected.labels("applied").inc(changed)
            self._metrics.projected.labels("stale").inc(len(rows) - changed)
        if offsets:
            # only after the database commit: a crash before this line repeats a no-op write
            consumer.commit(offsets=[TopicPartition(self._topic, p, o + 1)
                                     for p, o in offsets.items()], asynchronous=False)

    def _row(self, msg: Message, partition: int, offset: int) -> InstanceUpsert | None:
        key = (msg.key() or b"").decode("utf-8", "replace")
        value = msg.value()
        if key.startswith(PARTITION_STATE_PREFIX):
            self._metrics.projected.labels("skipped").inc()
            return None
        if value is None:
            self._metrics.projected.labels("tombstone").inc()
            return None
        try:
            return instance_row(decode_state(value), partition, offset)
        except (DecodeError, KeyError, TypeError, ValueError) as exc:
            # the engine's dead-letter handling owns bad records on `state`; the projection
            # must not stall behind one
            self._metrics.projected.labels("skipped").inc()
            _log.error("skipping undecodable snapshot %s/%d@%d: %s", self._topic, partition,
                       offset, exc)
            return None

    def _update_lag(self, consumer: Consumer) -> None:
        try:
            assigned = consumer.assignment()
            if not assigned:
                return
            self._metrics.projection_lag.set(sum(_lags(consumer, consumer.position(assigned))))
        except KafkaException as exc:
            _log.debug("projection lag unknown: %s", exc)


def _lags(consumer: Consumer, positions: Iterable[TopicPartition]) -> Iterable[int]:
    for tp in positions:
        _low, high = consumer.get_watermark_offsets(tp, cached=True)
        if tp.offset >= 0 and high >= 0:
            yield max(0, high - tp.offset)
