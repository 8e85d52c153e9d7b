"""The live feed's source: each event of the `events` topic, shaped small, published to Redis
for the open instance pages (`GET /api/instances/{id}/live`, `services.audit.live_streams`).

`LiveFeeder` is a thread of the audit service beside its sink: a plain group consumer of
`events` (read_committed, so a page never sees what the engine's transaction then aborted),
in a group of its own that every audit replica joins, so each partition is published by one
replica. It writes nothing durable, so it commits its offsets on a timer (auto-commit): a
partition handed to another replica goes on from about where the last left off, and a
replica that starts after a long stop skips to the last `REPLAY_LIMIT_S` seconds rather than
replaying history nobody is watching.

Only the events of watched instances are decoded and published. Every open stream keeps its
instance in a Redis sorted set (`LiveKeys.watching`, score: until when), written before the
stream subscribes and answers `ready`; the feeder reads that set after each poll, so an event
committed after a page got `ready` is read after the page's entry was written, and published.
With nobody watching, the feeder costs a key comparison per record.

What is published is `live_event(...)`: ids, positions and names, never variables (they can
be large, and the page reads the instance with its own token's visibility). A record that does
not decode is skipped here; the audit sink dead-letters it. Redis down: logged once, the
records are read and dropped (nobody can be subscribed), /health shows it without failing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from confluent_kafka import OFFSET_END, Consumer, KafkaException, Message, TopicPartition

from laneway.codec import DecodeError, decode_record
from laneway.engine.state import PROCESS_KIND
from laneway.kafka import consumer_config
from laneway.records import Event, Record, RecordKind
from services.audit.metrics import LiveMetrics

__all__ = ["LIVE_ENDS", "LIVE_HEAD", "MAX_EVENT_BYTES", "REPLAY_LIMIT_S", "LiveFeeder",
           "LiveKeys", "live_event", "live_json"]

_log = logging.getLogger(__name__)

REPLAY_LIMIT_S = 60.0
"""A partition is started at most this far back in time (see the module's text)."""
MAX_EVENT_BYTES = 4096
"""The largest JSON published for one event; a larger one is cut to its core fields."""
MAX_TEXT = 500
"""The most characters of a free text (a rejection's reason, an incident's message)."""
MAX_NAME = 200
"""The most characters of a name (element, lane, persona)."""
_CORE = ("position", "instanceId", "key", "intent", "elementId", "elementType",
         "flowScopeKey", "principal", "at")
_INCIDENT_EVENTS = frozenset({Event.INCIDENT_CREATED.value, Event.INCIDENT_RESOLVED.value})
_INSTANCE_ENDS = frozenset({Event.ELEMENT_COMPLETED.value, Event.ELEMENT_TERMINATED.value})
LIVE_HEAD = b'{"position":"'
"""How every published event begins: its position follows, up to the next quote."""
LIVE_ENDS = b',"ends":true}'
"""How the event that ends its instance ends (the process completed or was terminated)."""


@dataclass(frozen=True, slots=True)
class LiveKeys:
    """Redis names of one Laneway (its topic prefix): test runs and deployments that share a
    Redis do not see each other's instances (pub/sub channels ignore Redis' database
    number)."""

    topic_prefix: str

    def channel(self, instance_id: str) -> str:
        """The channel an instance's events are published on."""
        return f"laneway:{self.topic_prefix}live:{instance_id}"

    @property
    def watching(self) -> str:
        """The sorted set of watched instance ids, scored by until when (epoch seconds)."""
        return f"laneway:{self.topic_prefix}live-watching"


def live_event(record: Record, partition: int, offset: int, produced_ms: int | None
               ) -> dict[str, Any]:
    """What a page is told of one event or rejection (docs/console.md, "Live feed").

    `produced_ms` is the Kafka timestamp (when the engine produced the record); without one,
    the record's own (its command's) timestamp."""
    # `position` first and `ends` last: the route reads both from the bytes (LIVE_HEAD,
    # LIVE_ENDS) without parsing the JSON of every event for every stream
    out: dict[str, Any] = {
        "position": f"{partition}:{offset}",
        "instanceId": record.instance_id,
        "key": record.token_id,
        "intent": record.intent,
        "elementId": record.element_id or None,
        "elementType": record.element_type or None,
        "flowScopeKey": record.scope_id,
        "principal": record.principal.ref(),
        "at": produced_ms if produced_ms is not None and produced_ms > 0 else record.timestamp,
    }
    value = record.value
    name = value.get("elementName")
    if isinstance(name, str) and name:
        out["elementName"] = name[:MAX_NAME]
    for field in ("lane", "persona"):  # a user task's or job's lane: the page's lane strips
        text = value.get(field)
        if isinstance(text, str) and text:
            out[field] = text[:MAX_NAME]
    if record.kind == RecordKind.REJECTION:
        out["rejection"] = {"type": _text(value.get("rejectionType"), MAX_NAME),
                            "reason": _text(value.get("reason"), MAX_TEXT)}
    elif record.intent in _INCIDENT_EVENTS:
        incident: dict[str, Any] = {"key": value.get("key")
                                    if isinstance(value.get("key"), int) else None}
        for field, bound in (("errorType", MAX_NAME), ("message", MAX_TEXT),
                             ("reason", MAX_NAME)):
            if field in value:
                incident[field] = _text(value.get(field), bound)
        out["incident"] = incident
    if record.element_type == PROCESS_KIND and record.intent in _INSTANCE_ENDS:
        out["ends"] = True
    return out


def live_json(event: Mapping[str, Any]) -> bytes | None:
    """`event` as compact JSON of at most MAX_EVENT_BYTES: its core fields alone (and
    `"truncated": true`) when the whole is larger; None when even those are (an instance id
    that long cannot be watched: no page's URL holds it)."""
    data = _dumps(event)
    if len(data) <= MAX_EVENT_BYTES:
        return data
    core = {k: event[k] for k in _CORE if k in event}
    for k in ("elementId", "elementType"):
        if isinstance(core.get(k), str):
            core[k] = core[k][:MAX_NAME]
    core["truncated"] = True
    if event.get("ends"):
        core["ends"] = True
    data = _dumps(core)
    return data if len(data) <= MAX_EVENT_BYTES else None


def _dumps(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "backslashreplace")


def _text(value: Any, bound: int) -> str | None:
    return None if value is None else str(value)[:bound]
class LiveFeeder:
    """Consumes `events` and publishes the watched instances' events, in a daemon thread
    until `stop`; started again (a new consumer) after any error."""

    def __init__(self, bootstrap: str, topic: str, group: str, keys: LiveKeys,
                 redis_client: redis.Redis, metrics: LiveMetrics, *,
                 session_timeout_ms: int | None = None, batch_size: int = 500,
                 clock: Callable[[], float] = time.time) -> None:
        """`redis_client` should have short socket timeouts: the thread waits on it."""
        self._config = {**consumer_config(bootstrap, group, client_id="laneway-live"),
                        # nothing durable is written: offsets are kept on a timer, and a
                        # group without any starts at the end (no history replayed)
                        "enable.auto.commit": True, "enable.auto.offset.store": True,
                        "auto.commit.interval.ms": 1000, "auto.offset.reset": "latest",
                        **metrics.service.lag_config(group)}
        if session_timeout_ms is not None:
            self._config["session.timeout.ms"] = session_timeout_ms
        self.topic = topic
        self.keys = keys
        self._redis = redis_client
        self._metrics = metrics
        self._batch_size = batch_size
        self._clock = clock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-feeder", daemon=True)
        self._redis_down: str | None = None
        self._retry_redis_at = 0.0
        self._last_error: str | None = None
        self._next_trim = 0.0

    def start(self) -> None:
        """Start consuming in the background."""
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the batch in hand and leave the group."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def problem(self) -> str | None:
        """None while the feed works; else what is wrong (for /health, which shows it without
        failing: the audit log does not depend on it)."""
        problems = []
        if not self._thread.is_alive():
            problems.append("the live feed's thread is not running")
        if self._redis_down is not None:
            problems.append(f"Redis is unavailable, live events are dropped: "
                            f"{self._redis_down}")
        if self._last_error is not None:
            problems.append(f"the live feed's consumer failed and was started again: "
                            f"{self._last_error}")
        return "; ".join(problems) or None

    # -- the loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            consumer: Consumer | None = None
            try:
                consumer = Consumer(self._config)
                consumer.subscribe([self.topic], on_assign=self._assigned)
                while not self._stopping.is_set():
                    self.feed(self._poll(consumer))
                    self._last_error = None
                    backoff = 0.5
            except Exception as exc:  # any failure: a new consumer, from the kept offsets
                self._last_error = f"{type(exc).__name__}: {exc}"
                _log.exception("the live feed failed; starting again in %.1fs", backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if consumer is not None:
                    try:
                        consumer.close()
                    except (KafkaException, RuntimeError) as exc:
                        _log.warning("closing the live feed's consumer: %s", exc)

    def _poll(self, consumer: Consumer) -> list[Message]:
        """What arrived: waits for the first record (at most 0.5 s, so a stop is heard), then
        takes what is already fetched without waiting (a batch wait would add its timeout to
        every event's way to the page)."""
        first = consumer.poll(0.5)
        if first is None:
            return []
        batch = [first, *consumer.consume(self._batch_size - 1, timeout=0)]
        out = []
        for msg in batch:
            error = msg.error()
            if error is None:
                out.append(msg)
            elif error.fatal():
                raise KafkaException(error)
        return out

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each partition at its kept offset, but no further back than REPLAY_LIMIT_S,
        and at its end when nothing was kept."""
        cutoff_ms = int((self._clock() - REPLAY_LIMIT_S) * 1000)
        try:
            kept = {(p.topic, p.partition): p.offset
                    for p in consumer.committed(partitions, timeout=10)}
            recent = {(p.topic, p.partition): p.offset for p in consumer.offsets_for_times(
                [TopicPartition(p.topic, p.partition, cutoff_ms) for p in partitions],
                timeout=10)}
        except KafkaException as exc:
            _log.warning("live feed: no kept offsets (%s); starting at the end", exc)
            kept, recent = {}, {}
        for p in partitions:
            at = kept.get((p.topic, p.partition), -1)
            since = recent.get((p.topic, p.partition), -1)
            # since < 0: no record as recent as the cutoff, so whatever was kept is older
            p.offset = max(at, since) if at >= 0 and since >= 0 else OFFSET_END
        consumer.assign(partitions)

    def feed(self, messages: Sequence[Message]) -> int:
        """Publish the events of `messages` whose instance is watched; how many."""
        if not messages:
            return 0
        watched = self._watched()
        if not watched:
            return 0
        pipe = self._redis.pipeline(transaction=False)
        produced: list[int] = []
        for msg in messages:
            if msg.key() not in watched:
                continue
            data = self._shape(msg)
            if data is None:
                continue
            instance_id, payload, produced_ms = data
            pipe.publish(self.keys.channel(instance_id), payload)
            produced.append(produced_ms)
        if not produced or self._redis_call(pipe.execute) is None:
            return 0
        now = self._clock()
        for ms in produced:
            self._metrics.lag.observe(max(0.0, now - ms / 1000))
        self._metrics.published.inc(len(produced))
        return len(produced)

    def _shape(self, msg: Message) -> tuple[str, bytes, int] | None:
        try:
            record = decode_record(msg.value() or b"")
        except (DecodeError, KeyError, TypeError, ValueError):
            self._metrics.skipped.labels("undecodable").inc()
            return None
        kind, stamp = msg.timestamp()
        produced = stamp if kind != 0 and stamp > 0 else record.timestamp
        payload = live_json(live_event(record, msg.partition() or 0, msg.offset() or 0,
                                       produced))
        if payload is None:
            self._metrics.skipped.labels("too_large").inc()
            return None
        return record.instance_id, payload, produced

    def _watched(self) -> set[bytes]:
        """The instance ids some page watches now (as the records' keys); empty while Redis
        is away (tried again after a second, so a Redis that hangs does not stall the
        feed)."""
        now = self._clock()
        if self._redis_down is not None and now < self._retry_redis_at:
            return set()
        if now >= self._next_trim:  # the entries of streams that ended long ago
            self._next_trim = now + 60.0
            if self._redis_call(lambda: self._redis.zremrangebyscore(
                    self.keys.watching, "-inf", now)) is None:
                return set()
        members = self._redis_call(lambda: self._redis.zrangebyscore(self.keys.watching,
                                                                     now, "+inf"))
        return set(members) if isinstance(members, list) else set()

    def _redis_call(self, call: Callable[[], Any]) -> Any:
        try:
            result = call()
        except redis.RedisError as exc:
            if self._redis_down is None:
                _log.warning("live feed: Redis is unavailable, live events are dropped until "
                             "it is back: %s", exc)
            self._redis_down = f"{type(exc).__name__}: {exc}"
            self._retry_redis_at = self._clock() + 1.0
            return None
        if self._redis_down is not None:
            _log.info("live feed: Redis is back")
            self._redis_down = None
        return result
