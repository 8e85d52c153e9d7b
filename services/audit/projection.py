"""The instance projection: the `state` topic into the `instances` table.

A background thread of the audit service, beside its sink, running the kit's
`laneway.consuming.ProjectionLoop` as a group consumer (`<prefix>instances-projection`,
read_committed): each batch is written in one database transaction, and the Kafka offsets are
committed only after that commit. A crash between the two reads the batch again, and the rows'
`(last_partition, last_offset)` guard turns the repeat into a no-op. A tombstone (the instance
ended) leaves the row as the final snapshot wrote it. A snapshot that does not decode is
skipped, not dead-lettered: the engine's dead-letter handling owns bad records on `state`, and
the projection must not stall behind one. A row PostgreSQL refuses goes to `dlq`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from confluent_kafka import Consumer, Message

from laneway.codec import DecodeError, StateSnapshot, decode_state
from laneway.consuming import Consumed, DeadLetterProducer, ProjectionLoop
from laneway.engine.state import (
    PROCESS_KIND,
    ElementInstance,
    Incident,
    InstanceState,
    InstanceStatus,
)
from laneway.kafka import RenewingProducer, consumer_config, producer_config
from laneway.service.progress import DEFAULT_STALL_S, Progress
from laneway.topics import Topics
from services.audit.instances import InstanceUpsert, upsert_instances
from services.audit.metrics import InstanceMetrics

_log = logging.getLogger(__name__)

PARTITION_STATE_PREFIX = "__"
"""Keys of partition-level state on `state` (message buffers), not instances."""


def instance_row(snapshot: StateSnapshot, partition: int, offset: int) -> InstanceUpsert:
    """What the API shows of one snapshot.

    Read from the snapshot's dict (`InstanceState.to_dict`'s form) for the five fields shown:
    building the whole `InstanceState` (`from_dict`, every element, job, task and timer as
    an object) was about 30 % of the projection's CPU per snapshot. A snapshot whose fields
    are not as `to_dict` writes them (that `from_dict` also reads) is read the full way
    (`full_instance_row`), which decides (and raises on what it refuses, as before)."""
    try:
        return _row_from_dict(snapshot, partition, offset)
    except (KeyError, TypeError, ValueError, AttributeError):
        return full_instance_row(snapshot, partition, offset)


_ELEMENT_FIELDS = frozenset(f.name for f in dataclasses.fields(ElementInstance))
_INCIDENT_FIELDS = frozenset(f.name for f in dataclasses.fields(Incident))


def _row_from_dict(snapshot: StateSnapshot, partition: int, offset: int) -> InstanceUpsert:
    state = snapshot.state
    elements = {int(k): v for k, v in state["elements"].items()}
    for e in elements.values():
        if not e.keys() <= _ELEMENT_FIELDS:  # a field from_dict refuses or drops
            raise ValueError
    root_key = state["root_key"]
    if type(root_key) is not int:
        raise TypeError
    variables = {int(k): v for k, v in state["variables"].items()}
    open_incidents = state["incidents"]
    status = state["status"]
    effective = (InstanceStatus.INCIDENT if status == InstanceStatus.ACTIVE and open_incidents
                 else status)
    active = [elements[k]["element_id"] for k in sorted(elements)
              if elements[k]["kind"] != PROCESS_KIND]
    instance_id = state["instance_id"]
    shown: list[dict[str, Any]] = []
    for key, incident in sorted((int(k), v) for k, v in open_incidents.items()):
        if not incident.keys() <= _INCIDENT_FIELDS:
            raise ValueError
        element = elements.get(incident["element_key"])
        shown.append({"id": f"{instance_id}:{key}", "key": key,
                      "elementId": element["element_id"] if element is not None else None,
                      "errorType": incident["error_type"], "message": incident["message"]})
    return InstanceUpsert(
        instance_id=snapshot.instance_id,
        process_id=snapshot.process_id,
        version=snapshot.version,
        business_key=state.get("business_key"),
        status=effective,
        active_elements=list(dict.fromkeys(active)),
        variables=dict(variables.get(root_key, {})),
        incidents=shown,
        updated_at=datetime.fromtimestamp(snapshot.timestamp / 1000, tz=UTC),
        partition=partition,
        offset=offset,
    )


def full_instance_row(snapshot: StateSnapshot, partition: int, offset: int) -> InstanceUpsert:
    """`instance_row` through the whole `InstanceState`."""
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
    """Runs the projection's loop in a daemon thread until `stop`; starts it again (from the
    last committed offsets) after any error."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], bootstrap: str,
                 topic: str, group: str, metrics: InstanceMetrics, *,
                 dlq_topic: str | None = None, batch_size: int = 500,
                 poll_timeout_s: float = 0.5, stall_s: float = DEFAULT_STALL_S,
                 session_timeout_ms: int | None = None,
                 commit_interval_s: float = 0.0) -> None:
        """`connect` opens a connection on the audit's schema (the loop holds one);
        `dlq_topic` defaults to the `dlq` beside `topic` (`<prefix>state` → `<prefix>dlq`);
        `session_timeout_ms` as the sink's: a killed replica's partitions move on after it,
        and with the client's default (45 s) the instance list lagged that long (chaos run);
        `commit_interval_s` as `ProjectionLoop`'s (its writes are guarded by partition and
        offset: a batch read again changes nothing)."""
        self._connect = connect
        self._topic = topic
        self._dlq_topic = dlq_topic or Topics(topic.removesuffix("state")).dlq
        self._consumer_config = consumer_config(bootstrap, group,
                                                client_id="laneway-projection")
        if session_timeout_ms is not None:
            self._consumer_config["session.timeout.ms"] = session_timeout_ms
        self._consumer_config.update(metrics.service.lag_config(group))
        self._producer_config = producer_config(bootstrap, client_id="laneway-projection")
        self._metrics = metrics
        self._batch_size = batch_size
        self._poll_timeout_s = poll_timeout_s
        self._commit_interval_s = commit_interval_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="instances-projection",
                                        daemon=True)
        self._loop: ProjectionLoop[InstanceUpsert] | None = None
        # one for every loop it builds: a loop that fails and is built again on the same
        # record still counts as not advancing
        self.progress = Progress("instance projection", stall_s)
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
        """None while the loop runs and polls; else what is wrong (for /health)."""
        if not self._thread.is_alive():
            return "the projection thread is not running"
        loop = self._loop
        problem = loop.health() if loop is not None else None
        if problem is not None and self._last_error:
            problem += f"; last error: {self._last_error}"
        return problem

    def live(self) -> str | None:
        """None while the projection's thread goes round (a database that refuses does not
        stop it: it retries); else what is wrong (for /health/live)."""
        if not self._thread.is_alive():
            return "the projection thread is not running"
        return self.progress.check_live()

    def _run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            loop = self._loop = self._build()
            try:
                loop.run()
                return
            except Exception as exc:  # any failure: start again from the committed offsets
                self._last_error = f"{type(exc).__name__}: {exc}"
                self.progress.failed(f"{self._topic} (the loop ended on {type(exc).__name__})")
                self._metrics.projection_errors.inc()
                _log.exception("instance projection failed; restarting in %.1fs", backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                loop.close()

    def _build(self) -> ProjectionLoop[InstanceUpsert]:
        return ProjectionLoop(
            Consumer(self._consumer_config), [self._topic], self._write, self._connect,
            DeadLetterProducer(RenewingProducer.from_config(self._producer_config),
                               self._dlq_topic),
            decode=self._decode, batch_size=self._batch_size,
            poll_timeout_s=self._poll_timeout_s, on_commit=self._count,
            metrics=self._metrics.loop, stop=self._stopping, name="instance projection",
            progress=self.progress, commit_interval_s=self._commit_interval_s)

    def _decode(self, msg: Message) -> InstanceUpsert | None:
        key = (msg.key() or b"").decode("utf-8", "replace")
        value = msg.value()
        partition, offset = msg.partition() or 0, msg.offset() or 0
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
            # must not stall behind one, nor send it to the dlq a second time
            self._metrics.projected.labels("skipped").inc()
            _log.error("skipping undecodable snapshot %s/%d@%d: %s", self._topic, partition,
                       offset, exc)
            return None

    @staticmethod
    def _write(conn: psycopg.Connection[Any],
               items: Sequence[Consumed[InstanceUpsert]]) -> int:
        return upsert_instances(conn, [item.record for item in items])

    def _count(self, items: Sequence[Consumed[InstanceUpsert]], changed: int) -> None:
        self._metrics.projected.labels("applied").inc(changed)
        self._metrics.projected.labels("stale").inc(len(items) - changed)
