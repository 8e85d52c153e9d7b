"""The agency bridge: partners' messages in, PUBLISH_MESSAGE into this agency's engine out.

Per batch polled from the receive topics (read_committed, so only what a partner's engine
committed): each record is checked (`translate`: size, schema, the sender is the partner
configured for that topic, the envelope is for this agency, fields in bounds) and becomes a
PUBLISH_MESSAGE on this agency's `messages` topic with the principal `agency:<partner>` (kind
agent) and the message id `agency:<partner>:<envelope id>`; what fails a check goes to the
dead-letter topic with the reason. Offsets are committed only after Kafka acknowledged every
command and dead letter of the batch: a crash before that reads the batch again, and the
engine refuses the repeated message id (ALREADY_EXISTS) while the message is buffered
(`LANEWAY_AGENCY_MESSAGE_TTL_S`), so it is correlated once. Each command's record id is derived
from the envelope too, so a repeat is recognisable in the events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Histogram

from laneway.agencies import AgencyConfig, Refused, decode_envelope
from laneway.codec import DecodeError, encode_record
from laneway.consuming import DeadLetterProducer
from laneway.kafka import RenewingProducer, consumer_config, fatal_error, fetch, producer_config
from laneway.limits import TooLarge, record_size, variables_too_large
from laneway.records import Command, Record, RecordKind
from laneway.service import Metrics
from laneway.service.progress import Progress, position
from laneway.service.shared_metrics import ServiceMetrics
from laneway.topics import Topics
from services.bridge.settings import BridgeSettings

_log = logging.getLogger(__name__)

MAX_NAME = 256
"""The longest message name, message id and agency element id an envelope may carry."""
MAX_CORRELATION_KEY = 1024


class BridgeMetrics(Metrics):
    """`laneway_bridge_*`: made once per process with `BridgeMetrics.default()`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.service = ServiceMetrics.of("bridge", r, http=False)
        """Consumer lag of the receive topics and the loop's watchdog."""
        self.messages = Counter("laneway_bridge_messages",
                                "Partners' messages published into this agency's engine",
                                ["partner"], registry=r)
        self.dead_letters = Counter("laneway_bridge_dead_letters",
                                    "Records sent to the dead-letter topic, by reason",
                                    ["reason"], registry=r)
        self.latency = Histogram(
            "laneway_bridge_send_to_publish_seconds",
            "From the partner's engine sending to this bridge's command acknowledged",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r)


@dataclass(frozen=True, slots=True)
class Limits:
    """How large what a partner sends may be."""

    record_bytes: int
    variables_bytes: int


def translate(topic: str, value: bytes | None, key: bytes | None, config: AgencyConfig, *,
              now_ms: int, ttl_ms: int, limits: Limits) -> tuple[Record, str | None]:
    """The PUBLISH_MESSAGE (and its trace parent) for one record of a receive topic; raises
    `Refused`, `DecodeError` or `TooLarge` with the reason it cannot be published."""
    size = record_size(key, value)
    if size > limits.record_bytes:
        raise TooLarge(f"Expected a record of at most {limits.record_bytes} bytes, but it is "
                       f"{size}")
    env = decode_envelope(value or b"")
    me = config.name
    partner = config.receive_topics.get(topic)
    if env.from_agency not in config.partners:
        raise Refused("unknown-agency", f"Expected a message from a configured partner "
                      f"agency, but '{env.from_agency[:80]}' is not in "
                      f"LANEWAY_AGENCY_PARTNERS")
    if partner is None or partner.name != env.from_agency:
        raise Refused("wrong-agency", f"Expected only agency "
                      f"'{partner.name if partner else '?'}' to write {topic}, but the "
                      f"envelope says it is from '{env.from_agency}'")
    if env.to_agency != me:
        raise Refused("wrong-agency", f"Expected a message for agency '{me}', but it is for "
                      f"'{env.to_agency[:80]}'")
    if not env.message_id or len(env.message_id) > MAX_NAME:
        raise Refused("invalid-envelope", f"Expected a message id of 1 to {MAX_NAME} "
                      f"characters, but it has {len(env.message_id)}")
    if not env.name or len(env.name) > MAX_NAME:
        raise Refused("invalid-envelope", f"Expected a message name of 1 to {MAX_NAME} "
                      f"characters, but it has {len(env.name)}")
    if len(env.correlation_key) > MAX_CORRELATION_KEY:
        raise Refused("invalid-envelope", f"Expected a correlation key of at most "
                      f"{MAX_CORRELATION_KEY} characters, but it has "
                      f"{len(env.correlation_key)}")
    too_large = variables_too_large({"variables": env.variables}, limits.variables_bytes)
    if too_large is not None:
        raise TooLarge(too_large)
    sender = env.principal
    principal = config.sender_principal(env.from_agency, {
        # who acted in the sending agency, as that agency says: for the audit, not for rights
        "sentBy": {"kind": sender.kind.value, "id": sender.id[:MAX_NAME]},
        "sentFrom": {"instanceId": env.source_instance_id[:MAX_NAME],
                     "elementId": env.source_element_id[:MAX_NAME]},
    })
    message_id = f"agency:{env.from_agency}:{env.message_id}"
    cmd = Record(
        record_id=message_id, kind=RecordKind.COMMAND, intent=Command.PUBLISH_MESSAGE.value,
        instance_id="", timestamp=now_ms, principal=principal,
        value={"name": env.name, "correlationKey": env.correlation_key,
               "variables": dict(env.variables), "messageId": message_id, "ttl": ttl_ms,
               "sentAt": env.timestamp})
    return cmd, env.trace_parent


@dataclass(slots=True)
class _Batch:
    commands: list[tuple[Record, str | None, Message]] = field(default_factory=list)
    dead: list[tuple[Message, BaseException]] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)


class Bridge:
    """Consumes the receive topics and publishes into this agency's engine (one thread)."""

    def __init__(self, settings: BridgeSettings, *, metrics: BridgeMetrics | None = None,
                 clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.settings = settings
        common = settings.common
        self.topics = Topics(common.topic_prefix)
        self.limits = Limits(common.max_record_bytes, common.max_variables_bytes)
        self.metrics = metrics or BridgeMetrics.default()
        self._clock_ms = clock_ms
        config = consumer_config(common.kafka_bootstrap_servers, settings.group,
                                 client_id=f"{common.topic_prefix}bridge")
        config["session.timeout.ms"] = settings.session_timeout_ms
        config.update(self.metrics.service.lag_config(settings.group))
        self._consumer = Consumer(config)
        self._producer = RenewingProducer.from_config(producer_config(
            common.kafka_bootstrap_servers, client_id=f"{common.topic_prefix}bridge"))
        self._dead = DeadLetterProducer(self._producer, self.topics.dlq,
                                        max_record_bytes=common.max_record_bytes)
        self.progress = Progress("bridge", common.stall_s)
        self._assigned: list[TopicPartition] | None = None
        self._started = time.monotonic()
        self.published = 0
        self.dead_lettered = 0

    # -- loop -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Poll, publish, dead-letter, commit until `stop`."""
        topics = sorted(self.settings.agencies.receive_topics)
        self._consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_revoke)
        _log.info("agency '%s' bridging %s", self.settings.agencies.name, ", ".join(topics))
        try:
            while not stop.is_set():
                # the first record ends the wait, the rest is what is buffered: a partner's
                # message does not wait out the poll interval for a batch that will not fill
                messages = fetch(self._consumer, self.settings.batch_size,
                                 self.settings.poll_timeout_s)
                self.progress.polled()
                real = [m for m in messages if not _partition_eof(m)]
                if real:
                    self.handle(real)
        finally:
            self.close()

    def handle(self, messages: Sequence[Message]) -> None:
        """One batch: translate, produce and wait, dead-letter, then commit."""
        batch = _Batch()
        now = self._clock_ms()
        for msg in messages:
            topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
            batch.offsets[(topic, partition)] = offset + 1
            try:
                cmd, trace = translate(topic, msg.value(), msg.key(),
                                       self.settings.agencies, now_ms=now,
                                       ttl_ms=self.settings.message_ttl_ms, limits=self.limits)
            except (Refused, DecodeError, TooLarge) as exc:
                _log.warning("dead letter from %s: %s", position(topic, partition, offset), exc)
                batch.dead.append((msg, exc))
                continue
            batch.commands.append((cmd, trace, msg))
        if batch.commands:
            self._publish(batch)
        if batch.dead:
            self._dead.send(batch.dead)
            self.dead_lettered += len(batch.dead)
            for _, why in batch.dead:
                self.metrics.dead_letters.labels(_reason(why)).inc()
        partitions = [TopicPartition(t, p, o) for (t, p), o in batch.offsets.items()]
        try:
            self._consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as exc:
            # the next owner reads the batch again; the engine refuses the repeated ids
            _log.warning("offset commit failed (%s); the batch will be read again", exc)
        self.progress.advanced()

    def _publish(self, batch: _Batch) -> None:
        """Produce every command and wait until Kafka has each; tried `attempts` times, then
        the error is raised (the process restarts from the committed offsets)."""
        pending = [(c, t) for c, t, _ in batch.commands]
        error: BaseException | None = None
        for attempt in range(1, self.settings.attempts + 1):
            producer = self._producer.current
            reports: dict[int, KafkaError | None] = {}

            def report(i: int, into: dict[int, KafkaError | None] = reports
                       ) -> Callable[[KafkaError | None, Message], None]:
                def on_delivery(err: KafkaError | None, _msg: Message) -> None:
                    into[i] = err
                return on_delivery

            try:
                for i, (cmd, trace) in enumerate(pending):
                    topic, key = self.topics.route(cmd)
                    producer.produce(topic, encode_record(cmd, trace_parent=trace),
                                     key.encode(), on_delivery=report(i))
                producer.flush(30)
            except (KafkaException, BufferError) as exc:
                error = exc
            failed = [i for i in range(len(pending)) if i not in reports or reports[i]]
            if not failed:
                now = self._clock_ms()
                for cmd, _ in pending:
                    partner = str(cmd.principal.claims.get("agency", ""))
                    self.metrics.messages.labels(partner).inc()
                    sent_at = cmd.value.get("sentAt")
                    if isinstance(sent_at, int):
                        self.metrics.latency.observe(max(0, now - sent_at) / 1000)
                self.published += len(pending)
                return
            refused = next((reports.get(i) for i in failed if reports.get(i)), None)
            error = KafkaException(refused) if refused is not None else error
            if refused is not None and fatal_error(KafkaException(refused)) is not None:
                self._producer.renew_if_fatal(producer, refused)
            first = batch.commands[0][2]
            self.progress.failed(position(first.topic(), first.partition(), first.offset()))
            _log.warning("bridge: %d of %d commands not acknowledged (attempt %d): %s",
                         len(failed), len(pending), attempt, error)
            # a repeat of what did land is refused by the engine (same message id)
            time.sleep(min(0.2 * attempt, 2.0))
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, (
            f"Expected Kafka to take the bridge's commands within "
            f"{self.settings.attempts} attempts, but: {error}")))

    # -- health ---------------------------------------------------------------------------

    def health(self) -> str | None:
        """None while the loop polls and has joined its group; else what is wrong."""
        stalled = self.progress.check()
        if stalled is not None:
            return stalled
        if self._assigned is None and time.monotonic() - self._started > 60:
            return "the bridge has not joined its consumer group"
        return None

    def close(self) -> None:
        """Leave the group and deliver what the producer holds."""
        try:
            self._consumer.close()
        finally:
            self._producer.flush(10)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = list(partitions)

    def _on_revoke(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        self._assigned = []


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DecodeError):
        return exc.reason
    if isinstance(exc, TooLarge):
        return "too-large"
    return str(getattr(exc, "dead_letter_reason", "unhandled"))


def _partition_eof(msg: Message) -> bool:
    err = msg.error()
    if err is None:
        return False
    if err.code() == KafkaError._PARTITION_EOF:
        return True
    raise KafkaException(err)
