"""Producing to Kafka from a request: definitions, engine commands and messages.

What the services that answer HTTP requests share (the definitions service's routes, the
worklist's task commands and its SLA loop).

Every call produces, then waits (bounded) until Kafka acknowledged each record, so a 2xx answer
means the record is on the topic. What can never be on the topic is refused first with
`TooLarge` (the API's 413, not a 503 a retry cannot cure): a command whose variables are over
the variables limit, and a record over the record limit (`laneway.limits`). The producer is
idempotent with `acks=all` (`laneway.kafka.producer_config`), so the retries librdkafka makes
itself never duplicate. Each record carries the current span's W3C trace context in its
headers (`traceparent`, `tracestate`; none when tracing is off), so the engine's span for a
command is a child of the request's (`laneway.telemetry`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from laneway.codec import DefinitionRecord, encode_definition, encode_record
from laneway.kafka import RenewingProducer, producer_config
from laneway.limits import (
    DEFAULT_MAX_RECORD_BYTES,
    DEFAULT_MAX_VARIABLES_BYTES,
    TooLarge,
    record_size,
    variables_too_large,
)
from laneway.records import Record
from laneway.telemetry import trace_headers
from laneway.topics import Topics, is_broadcast

_log = logging.getLogger(__name__)

Headers = list[tuple[str, str | bytes | None]]


class PublishError(RuntimeError):
    """Kafka did not acknowledge a record in time. Retryable: the same request again is safe
    (deploys are idempotent; a command is a new command)."""


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
                 client_id: str = "laneway", *,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                 max_variables_bytes: int = DEFAULT_MAX_VARIABLES_BYTES,
                 linger_ms: int | None = None) -> None:
        """`linger_ms`: librdkafka's `linger.ms` when not the default's
        (`laneway.kafka.producer_config`): 0 where every record is a request waiting for
        it, and there is no batch worth waiting for."""
        self.topics = topics
        self.max_record_bytes = max_record_bytes
        """The largest record produced (`Settings.max_record_bytes`)."""
        self.max_variables_bytes = max_variables_bytes
        """The largest variables a command carries (`Settings.max_variables_bytes`)."""
        self._timeout_s = timeout_s
        config = producer_config(bootstrap, client_id=client_id)
        # librdkafka gives up on a record when the request does: after a 503 the record is
        # not delivered minutes later behind the caller's back (unless the broker wrote it
        # and only the acknowledgement was lost)
        config["message.timeout.ms"] = max(1000, int(timeout_s * 1000))
        if linger_ms is not None:
            config["linger.ms"] = linger_ms
        self._make = lambda: Producer(config)
        # replaced when it turns fatal (laneway.kafka.RenewingProducer), so the caller's
        # retry after a 503 goes through a fresh one
        self._renewing = RenewingProducer(self._make)
        # one thread serves every delivery report; a request waits only for its own records
        # (a flush per request would also wait for every other request's)
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._serve_reports, daemon=True,
                                        name=f"{client_id}-producer")
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
        self.check_variables(command.value.get("variables"))
        topic, key = self.topics.route(command)
        return self._send([(topic, key, encode_record(command))])[0]

    def send_commands(self, commands: Sequence[Record],
                      headers: Sequence[Headers | None] | None = None) -> list[Delivered]:
        """Produce several commands at once and wait for every acknowledgement (a trigger's
        starts of one poll); `headers`, one per command, carry each its own trace context
        (default: the current span's for all)."""
        items = []
        for cmd in commands:
            if is_broadcast(cmd):
                raise ValueError("a broadcast goes to every partition; not supported here")
            self.check_variables(cmd.value.get("variables"))
            topic, key = self.topics.route(cmd)
            items.append((topic, key, encode_record(cmd)))
        return self._send(items, headers)

    def check_variables(self, variables: object) -> None:
        """Raise TooLarge when `variables` are over the variables limit (a route that does
        more work with them first, such as a form check, asks before it)."""
        reason = variables_too_large({"variables": variables}, self.max_variables_bytes)
        if reason is not None:
            raise TooLarge(reason)

    def reachable(self, timeout_s: float = 2.0) -> str | None:
        """None when a broker answers a metadata request, else what is wrong."""
        try:
            self._producer.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            return f"Kafka did not answer a metadata request: {exc}"
        return None

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is still queued (bounded), then shut the producer down; once only."""
        self._closing.set()
        self._poller.join()
        left = self._renewing.close(timeout_s)
        if left:
            _log.warning("%d records were not delivered before closing", left)

    @property
    def _producer(self) -> Producer:
        """The producer in use now."""
        return self._renewing.current

    @_producer.setter
    def _producer(self, producer: Producer) -> None:
        # a test puts a stand-in here (a producer gone fatal) to see it renewed
        self._renewing = RenewingProducer(self._make, producer)

    def _serve_reports(self) -> None:
        while not self._closing.is_set():
            self._renewing.poll(0.05)

    def _send(self, items: Sequence[tuple[str, str, bytes]],
              each: Sequence[Headers | None] | None = None) -> list[Delivered]:
        # the trace context: the request's span for all its records, unless given per record
        shared = trace_headers() if each is None else None
        headers = list(each) if each is not None else [shared] * len(items)
        for (_, key, value), extra in zip(items, headers, strict=True):
            size = record_size(key.encode(), value, extra)
            if size > self.max_record_bytes:
                # the record names no topic: the answer goes to a client
                raise TooLarge(f"Expected a record of at most {self.max_record_bytes} bytes, "
                               f"but this one would be {size}")
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
                                     headers=headers[i], on_delivery=report(i))
                    break
                except BufferError:  # local queue full: let deliveries drain, then retry
                    time.sleep(0.05)
                except KafkaException as exc:
                    if _too_large(exc.args[0] if exc.args else None):
                        raise TooLarge("Expected a record Kafka takes, but this one is larger "
                                       "than its limit") from exc
                    self._renewing.renew_if_fatal(producer, exc)
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
            # the purged records' reports answer their requests 503 now
            self._renewing.renew_if_fatal(producer, fatal)
        if any(_too_large(r) for _, _, r in failed):
            # the broker's limit is below the one checked above: no retry can succeed
            raise TooLarge("Expected a record Kafka takes, but this one is larger than the "
                           "topic's limit")
        if failed:
            topic, key, err = failed[0]
            raise PublishError(f"Expected Kafka to acknowledge {len(items)} record(s), but "
                               f"{len(failed)} failed; first: key {key!r} on {topic}: "
                               f"{err or 'timed out'}")
        return [r for r in results if isinstance(r, Delivered)]



def _too_large(error: object) -> bool:
    return isinstance(error, KafkaError) and error.code() in (
        KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE)
