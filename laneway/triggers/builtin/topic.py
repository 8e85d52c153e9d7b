"""`topic`: records on a Kafka topic, another team's or agency's, each one instance.

Settings (docs/triggers.md, "topic"): `laneway:topic` (required), `laneway:bootstrap` (default
the deployment's Kafka: `LANEWAY_TRIGGER_TOPIC_BOOTSTRAP`, else `KAFKA_BOOTSTRAP_SERVERS`),
`laneway:format` (`json`, `avro` with `laneway:schema`, or `raw` text), `laneway:dedupField`,
`laneway:maxItems`, `laneway:maxRecordBytes`, and for a cluster that asks for them
`laneway:securityProtocol` and `laneway:saslMechanism` with the schedule's credentials
`saslUsername` and `saslPassword`. The deployment's own Kafka (`KAFKA_BOOTSTRAP_SERVERS`, when
neither names another) is read with the deployment's security settings (`LANEWAY_KAFKA_*`,
docs/kafka-security.md); another cluster only with the schedule's.

No consumer group: the trigger assigns the topic's partitions itself and keeps where it is in
the cursor, `{"offsets": {"<partition>": <next offset>}}`, saved by the scheduler only after
the starts are acknowledged, so a crash reads the same records again and their starts collapse
on their dedup keys. Nothing is committed to Kafka; the partner's topic sees a reader, never a
group. `skip-existing` (the default) starts at each partition's end; a partition that appears
later is read from its beginning (what is in it is new).

A record that cannot be decoded (not JSON, not the schema's Avro, not UTF-8 text, larger than
`maxRecordBytes`, a tombstone) is no item: it is logged and counted in the cursor (`skipped`,
`lastSkipped`), and the cursor moves past it, so it is never read again.

confluent-kafka is synchronous: each poll runs in a worker thread, reading until caught up, at
`maxItems` (then `more`) or at its time bound. Consumers are kept between polls of one schedule
(at most `MAX_CONSUMERS`, the oldest closed first) so a poll each second does not connect anew.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from uuid import UUID

import fastavro
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from fastavro.schema import fingerprint, to_parsing_canonical_form

from laneway.attributes import Attribute, polling
from laneway.jsonb import unstorable
from laneway.kafka import consumer_config
from laneway.kafka_security import KafkaSecurity
from laneway.triggers._api import (
    MAX_DEDUP_KEY,
    PollRequest,
    PollResult,
    Trigger,
    TriggerContext,
    TriggerFailed,
    TriggerItem,
)
from laneway.triggers._settings import whole_number

DEFAULT_MAX_ITEMS = 500
MAX_MAX_ITEMS = 1_000
"""The triggers service takes at most LANEWAY_TRIGGERS_MAX_ITEMS (1,000 by default) a poll."""
DEFAULT_MAX_RECORD_BYTES = 192 * 1024
"""The largest record value turned into an item: an instance's variables must fit
`LANEWAY_MAX_VARIABLES_BYTES` (256 KiB by default) with the rest of the item."""
MAX_MAX_RECORD_BYTES = 1_000_000
MAX_READ_S = 10.0
"""The longest one poll reads (less when the scheduler gives the poll less time)."""
MAX_CONSUMERS = 16
MAX_SCHEMA = 64 * 1024
MAX_HEADERS = 64
MISSING_TOPIC_WAIT_MS = 30_000
"""How long to wait before looking again for a topic that does not exist yet."""
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_FORMATS = ("json", "avro", "raw")
_FRAMINGS = ("none", "confluent", "single-object")
_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_LOCAL_KAFKA = "127.0.0.1:19092"
_SINGLE_OBJECT = b"\xc3\x01"
_NO_LEADER_YET = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                            KafkaError.UNKNOWN_TOPIC_OR_PART})


class _Undecodable(Exception):
    """A record that is no item; the message says why (never its content)."""


def _int_setting(settings: Mapping[str, str], name: str, default: int, most: int) -> int:
    return whole_number(settings, name, default, 1, most)


def parse_avro_schema(text: str) -> Any:
    """The parsed Avro schema of `laneway:schema`; ValueError saying what is wrong."""
    if len(text) > MAX_SCHEMA:
        raise ValueError(f"Expected laneway:schema of at most {MAX_SCHEMA} characters")
    try:
        return fastavro.parse_schema(json.loads(text))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        # fastavro's SchemaParseException is a ValueError
        raise ValueError(f"Expected laneway:schema to be an Avro schema in JSON, but "
                         f"{type(exc).__name__}: {str(exc)[:200]}") from None


def _text_or_base64(data: bytes | None) -> str | None:
    """Kafka keys and header values are bytes: text when they are UTF-8 (without U+0000),
    else `base64:<...>`."""
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" not in text:
        return text
    return "base64:" + base64.b64encode(data).decode("ascii")


def _jsonable(value: Any, depth: int = 0) -> Any:
    """What fastavro gives (bytes, dates, decimals, UUIDs of logical types) as JSON values."""
    if depth > 64:
        raise _Undecodable("nested deeper than 64 levels")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise _Undecodable(f"an Avro value of type {type(value).__name__}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True, slots=True)
class _Decoder:
    """Turns a record's value into the `record` variable, or raises `_Undecodable`."""

    format: str
    max_bytes: int
    schema: Any = None
    framing: str = "none"
    fingerprint: bytes = b""

    def size(self, message: Message) -> None:
        """Refuse a record whose value, key and headers together are over `max_bytes`: all
        of them become the instance's variables."""
        key = message.key()
        size = len(message.value() or b"") + len(key or b"") + sum(
            len(name) + len(raw or b"") for name, raw in _headers(message))
        if size > self.max_bytes:
            raise _Undecodable(f"it is {size} bytes (value, key and headers), over "
                               f"{self.max_bytes}")

    def __call__(self, value: bytes | None) -> Any:
        if value is None:
            raise _Undecodable("it has no value (a tombstone)")
        if self.format == "avro":
            decoded = self._avro(value)
        else:
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                raise _Undecodable("its value is not UTF-8 text") from None
            if self.format == "raw":
                decoded = text
            else:
                try:
                    decoded = json.loads(text, parse_constant=_no_constant)
                except (ValueError, RecursionError):
                    raise _Undecodable("its value is not JSON") from None
        flaw = unstorable(decoded)
        if flaw is not None:
            raise _Undecodable(f"its value cannot be kept: {flaw}")
        return decoded

    def _avro(self, value: bytes) -> Any:
        body = value
        if self.framing == "confluent":
            if len(value) < 5 or value[0] != 0:
                raise _Undecodable("its value does not start with the Confluent framing "
                                   "(magic byte 0 and a schema id)")
            body = value[5:]
        elif self.framing == "single-object":
            if value[:2] != _SINGLE_OBJECT:
                raise _Undecodable("its value does not start with Avro's single-object "
                                   "marker C3 01")
            if value[2:10] != self.fingerprint:
                raise _Undecodable("its value was written with another schema (fingerprint "
                                   f"{value[2:10].hex()})")
            body = value[10:]
        stream = io.BytesIO(body)
        try:
            decoded = fastavro.schemaless_reader(stream, self.schema)
        except Exception as exc:  # garbage makes fastavro fail in many ways
            raise _Undecodable(f"its value is not Avro of the schema "
                               f"({type(exc).__name__})") from None
        if stream.tell() != len(body):
            raise _Undecodable(f"{len(body) - stream.tell()} bytes are left after the Avro "
                               "record (another schema or framing?)")
        return _jsonable(decoded)


def _lookup(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


@dataclass(slots=True)
class _Read:
    """What one poll read."""

    offsets: dict[int, int]
    items: list[TriggerItem] = field(default_factory=list)
    skipped: list[tuple[int, int, str]] = field(default_factory=list)
    cut: bool = False
    """Stopped at maxItems or the time bound with more to read."""
    missing: bool = False
    """The topic does not exist (yet)."""


@dataclass(frozen=True, slots=True)
class _Plan:
    topic: str
    offsets: dict[int, int]
    skip_existing: bool
    """The first poll of a skip-existing schedule: only record where each partition ends."""
    max_items: int
    seconds: float
    decode: _Decoder
    dedup_field: str | None


def _headers(message: Message) -> list[tuple[str, bytes | None]]:
    given = message.headers() or []
    pairs = given.items() if isinstance(given, dict) else given
    return [(name, raw.encode() if isinstance(raw, str) else raw) for name, raw in pairs]


def _timestamp(message: Message) -> str | None:
    kind, stamp = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE:
        return None
    try:
        return datetime.fromtimestamp(stamp / 1000, UTC).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):  # a producer's clock can say anything
        return None


def _item(topic: str, message: Message, record: Any, dedup_field: str | None,
          log: Callable[[str], None]) -> TriggerItem:
    partition, offset = _position(message)
    raw_key = message.key()
    key = _text_or_base64(raw_key.encode() if isinstance(raw_key, str) else raw_key)
    headers = {name: _text_or_base64(raw) for name, raw in _headers(message)[:MAX_HEADERS]}
    dedup = f"{topic}:{partition}:{offset}"
    if dedup_field is not None:
        found = _lookup(record, dedup_field)
        if (isinstance(found, str) and found) or (isinstance(found, int | float)
                                                  and not isinstance(found, bool)):
            text = found if isinstance(found, str) else json.dumps(found)
            dedup = f"field:{text}"
            if len(dedup) > MAX_DEDUP_KEY:
                dedup = "field#" + hashlib.sha256(text.encode("utf-8")).hexdigest()
        else:
            log(f"record {partition}:{offset} has no {dedup_field} (a string or a number): "
                "deduplicated by its offset")
    variables = {
        "record": record, "topic": topic, "partition": partition, "offset": offset,
        "key": key, "headers": headers, "timestamp": _timestamp(message),
    }
    summary = {"topic": topic, "partition": partition, "offset": offset,
               "key": key[:100] if key else None}
    return TriggerItem(dedup, variables, summary)


def _position(message: Message) -> tuple[int, int]:
    partition, offset = message.partition(), message.offset()
    if partition is None or offset is None:  # only a client-side error has none
        raise _Failed("Kafka gave a record without a partition or offset")
    return partition, offset


class _Failed(Exception):
    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


def _end_offset(consumer: Consumer, partition: TopicPartition, deadline: float) -> int:
    """Where `partition` ends now. A topic just made has no leader for a moment (the broker
    answers NOT_LEADER_FOR_PARTITION): asked again until the poll's time is up."""
    while True:
        try:
            _, high = consumer.get_watermark_offsets(
                partition, timeout=max(0.1, deadline - time.monotonic()), cached=False)
            return int(high)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not (isinstance(error, KafkaError) and (
                    error.retriable() or error.code() in _NO_LEADER_YET)) or (
                    time.monotonic() + 0.1 >= deadline):
                raise
        time.sleep(0.1)  # the leader is being elected: a moment, within the poll's bound


def _read(consumer: Consumer, plan: _Plan, log: Callable[[str], None]) -> _Read:
    """One poll's reading, in a worker thread."""
    deadline = time.monotonic() + plan.seconds

    def left() -> float:
        return max(0.1, deadline - time.monotonic())

    metadata = consumer.list_topics(plan.topic, timeout=left())
    found = metadata.topics.get(plan.topic)
    if found is None or (found.error is not None
                         and found.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
        # kept: a topic that is back (or was only briefly unknown) goes on where it was, and
        # one made anew restarts at its earliest offset
        return _Read(dict(plan.offsets), missing=True)
    if found.error is not None:
        raise _Failed(f"Kafka refused the topic's metadata: {found.error.str()}")
    partitions = sorted(found.partitions)
    offsets = {p: o for p, o in plan.offsets.items() if p in found.partitions}
    if plan.skip_existing:
        for p in partitions:
            offsets[p] = _end_offset(consumer, TopicPartition(plan.topic, p), deadline)
        return _Read(offsets)
    consumer.assign([TopicPartition(plan.topic, p, offsets.get(p, OFFSET_BEGINNING))
                     for p in partitions])
    read = _Read(offsets)
    at_end: set[int] = set()
    try:
        while len(at_end) < len(partitions):
            if time.monotonic() >= deadline:
                read.cut = bool(read.items or read.skipped)
                break
            # consume() waits for the whole batch or the timeout: short waits, so a poll
            # ends soon after every partition said it is at its end
            batch = consumer.consume(num_messages=min(500, plan.max_items - len(read.items)),
                                     timeout=min(0.05, left()))
            for message in batch:
                if _take(message, plan, read, at_end, log):
                    read.cut = True
                    return read
    finally:
        consumer.unassign()  # a kept consumer must not fetch between polls
    return read


def _take(message: Message, plan: _Plan, read: _Read, at_end: set[int],
          log: Callable[[str], None]) -> bool:
    """Turn one consumed message into an item, a skip or an end; True: maxItems reached."""
    error = message.error()
    if error is not None and error.code() != KafkaError._PARTITION_EOF:
        raise _Failed(f"Kafka failed reading the topic: {error.str()}",
                      retryable=not error.fatal())
    partition, offset = _position(message)
    if error is not None:  # the end of the partition, for now
        at_end.add(partition)
        # where it ends now: after a reset (records deleted, the topic made anew) that may be
        # below the cursor's old offset, and it is the truth
        read.offsets[partition] = offset
        return False
    at_end.discard(partition)
    read.offsets[partition] = offset + 1
    try:
        plan.decode.size(message)
        record = plan.decode(message.value())
    except _Undecodable as bad:
        read.skipped.append((partition, offset, str(bad)))
        return False
    item = _item(plan.topic, message, record, plan.dedup_field, log)
    flaw = unstorable(item.variables)
    if flaw is not None:  # a header's name with U+0000, say: no store keeps it
        read.skipped.append((partition, offset, f"its variables cannot be kept: {flaw}"))
        return False
    read.items.append(item)
    return len(read.items) >= plan.max_items


class TopicTrigger(Trigger):
    """Records on a Kafka topic; see the module docstring."""

    type = "topic"

    attributes = (
        Attribute("topic", "Topic", "The Kafka topic to read", required=True),
        Attribute("bootstrap", "Brokers", "host:port,...; default the deployment's"),
        Attribute("format", "Format", "default json", kind="choice", choices=_FORMATS,
                  default="json"),
        Attribute("schema", "Avro schema", "With avro: the writer's schema as JSON",
                  kind="json"),
        Attribute("avroFraming", "Avro framing", "default none", kind="choice",
                  choices=_FRAMINGS, default="none"),
        Attribute("dedupField", "Dedup field", "A dotted path in the value naming the item"),
        Attribute("maxItems", "Max items per poll", "1 to 1000; default 500", kind="number",
                  low=1, high=1000),
        Attribute("securityProtocol", "Security protocol", "For a partner's cluster",
                  kind="choice", choices=_PROTOCOLS, group="security"),
        Attribute("saslMechanism", "SASL mechanism", "For a partner's cluster", kind="choice",
                  choices=_MECHANISMS, group="security"),
        *polling("PT1S"),
    )
    initial = "skip-existing"
    default_interval_ms = 1_000

    def __init__(self) -> None:
        self._consumers: OrderedDict[tuple[str, str], Consumer] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, settings: Mapping[str, str]) -> Iterator[str]:
        topic = settings.get("topic", "").strip()
        if not topic:
            yield "Expected laneway:topic, the Kafka topic to read, but there is none"
        elif not _TOPIC.match(topic) or topic in (".", ".."):
            yield f"Expected laneway:topic to be a Kafka topic name (letters, digits, '.', " \
                  f"'_', '-', at most 249), but got {topic[:60]!r}"
        if "bootstrap" in settings and not settings["bootstrap"].strip():
            yield "Expected laneway:bootstrap to list Kafka brokers (host:port,...), but it " \
                  "is empty"
        fmt = settings.get("format", "json").strip()
        if fmt not in _FORMATS:
            yield f"Expected laneway:format to be one of {', '.join(_FORMATS)}, but got " \
                  f"{fmt[:20]!r}"
        if fmt == "avro":
            if "schema" not in settings:
                yield "Expected laneway:schema, the records' Avro schema in JSON, with " \
                      "laneway:format=\"avro\", but there is none"
            else:
                try:
                    parse_avro_schema(settings["schema"])
                except ValueError as exc:
                    yield str(exc)
        framing = settings.get("avroFraming", "none").strip()
        if framing not in _FRAMINGS:
            yield f"Expected laneway:avroFraming to be one of {', '.join(_FRAMINGS)}, but got " \
                  f"{framing[:20]!r}"
        dedup = settings.get("dedupField")
        if dedup is not None and (not dedup.strip() or any(
                not part for part in dedup.strip().split("."))):
            yield f"Expected laneway:dedupField to be a dotted path such as 'permit.id', but " \
                  f"got {dedup[:60]!r}"
        for name, default, most in (("maxItems", DEFAULT_MAX_ITEMS, MAX_MAX_ITEMS),
                                    ("maxRecordBytes", DEFAULT_MAX_RECORD_BYTES,
                                     MAX_MAX_RECORD_BYTES)):
            try:
                _int_setting(settings, name, default, most)
            except ValueError as exc:
                yield str(exc)
        protocol = settings.get("securityProtocol")
        if protocol is not None and protocol.strip().upper() not in _PROTOCOLS:
            yield f"Expected laneway:securityProtocol to be one of {', '.join(_PROTOCOLS)}"
        mechanism = settings.get("saslMechanism")
        if mechanism is not None and mechanism.strip().upper() not in _MECHANISMS:
            yield f"Expected laneway:saslMechanism to be one of {', '.join(_MECHANISMS)}"

    async def poll(self, request: PollRequest, ctx: TriggerContext) -> PollResult:
        settings = request.schedule.settings
        topic = settings.get("topic", "").strip()
        try:
            decode = self._decoder(settings)
            max_items = _int_setting(settings, "maxItems", DEFAULT_MAX_ITEMS, MAX_MAX_ITEMS)
        except ValueError as exc:
            raise TriggerFailed(str(exc), retryable=False) from None
        cursor: dict[str, Any] = dict(request.cursor) if isinstance(request.cursor,
                                                                    dict) else {}
        offsets = {int(p): int(o) for p, o in (cursor.get("offsets") or {}).items()}
        policy = settings.get("initial", self.initial)
        plan = _Plan(topic, offsets, request.cursor is None and policy == "skip-existing",
                     max_items, min(MAX_READ_S, max(1.0, ctx.timeout * 0.8)), decode,
                     settings.get("dedupField", "").strip() or None)
        config = self._config(request, ctx)
        read = await asyncio.to_thread(self._read_with_kept_consumer, request.schedule.id,
                                       config, plan, ctx.log.info)
        for partition, offset, why in read.skipped[:20]:
            ctx.log.warning("record %s:%s of %s is no item: %s", partition, offset, topic, why)
        next_cursor: dict[str, Any] = {"offsets": {str(p): o for p, o in
                                                   sorted(read.offsets.items())}}
        skipped = int(cursor.get("skipped", 0)) + len(read.skipped)
        if skipped:
            next_cursor["skipped"] = skipped
            last = read.skipped[-1] if read.skipped else None
            next_cursor["lastSkipped"] = ({"partition": last[0], "offset": last[1],
                                           "why": last[2]} if last else cursor.get(
                                               "lastSkipped"))
        if read.missing:
            ctx.log.info("topic %s does not exist yet: looking again in %s s", topic,
                         MISSING_TOPIC_WAIT_MS // 1000)
            next_cursor["missing"] = True
            return PollResult([], next_cursor, next_poll_ms=request.now_ms
                              + MISSING_TOPIC_WAIT_MS)
        return PollResult(read.items, next_cursor, more=read.cut)

    def _decoder(self, settings: Mapping[str, str]) -> _Decoder:
        fmt = settings.get("format", "json").strip()
        max_bytes = _int_setting(settings, "maxRecordBytes", DEFAULT_MAX_RECORD_BYTES,
                                 MAX_MAX_RECORD_BYTES)
        if fmt not in _FORMATS:
            raise ValueError(f"Expected laneway:format to be one of {', '.join(_FORMATS)}")
        if fmt != "avro":
            return _Decoder(fmt, max_bytes)
        if "schema" not in settings:
            raise ValueError("Expected laneway:schema with laneway:format=\"avro\"")
        schema = parse_avro_schema(settings["schema"])
        framing = settings.get("avroFraming", "none").strip()
        if framing not in _FRAMINGS:
            raise ValueError(f"Expected laneway:avroFraming to be one of {', '.join(_FRAMINGS)}")
        print_ = bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
        return _Decoder(fmt, max_bytes, schema, framing, print_)

    @staticmethod
    def _config(request: PollRequest, ctx: TriggerContext) -> dict[str, Any]:
        settings = request.schedule.settings
        bootstrap = (settings.get("bootstrap", "").strip() or ctx.settings.get("bootstrap", ""))
        # the deployment's own Kafka is reached with the deployment's security settings
        # (LANEWAY_KAFKA_*); a partner's cluster only with what its schedule says
        security = None if not bootstrap else KafkaSecurity()
        bootstrap = bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        if not bootstrap:
            if os.environ.get("LANEWAY_ENV", "development") == "production":
                raise TriggerFailed("Expected laneway:bootstrap, LANEWAY_TRIGGER_TOPIC_BOOTSTRAP "
                                    "or KAFKA_BOOTSTRAP_SERVERS to name Kafka's brokers, but "
                                    "none is set", retryable=False)
            bootstrap = _LOCAL_KAFKA
        # a group id only because the client wants one: nothing joins it or commits to it
        config = consumer_config(bootstrap, f"laneway-trigger-{request.schedule.id}",
                                 client_id=f"laneway-trigger-{request.schedule.id}",
                                 security=security)
        config.update({
            "enable.partition.eof": True,
            # what a kept consumer holds in memory between fetches, per partition
            "queued.max.messages.kbytes": 4096,
            "socket.timeout.ms": 10_000,
            # a caught-up partition is known by an empty fetch: the broker holds one up to
            # this long (librdkafka's default of 500 ms made each quiet poll last a second)
            "fetch.wait.max.ms": 50,
        })
        protocol = settings.get("securityProtocol", "").strip().upper()
        user = request.credentials.get("saslUsername")
        password = request.credentials.get("saslPassword")
        if user and password:
            ctx.secrets.remember(password)
            config.update({"sasl.username": user, "sasl.password": password,
                           "sasl.mechanism": settings.get("saslMechanism",
                                                          "SCRAM-SHA-512").strip().upper()})
            protocol = protocol or "SASL_SSL"
        if protocol:
            config["security.protocol"] = protocol
        return config

    def _read_with_kept_consumer(self, schedule_id: str, config: dict[str, Any], plan: _Plan,
                                 log: Callable[[str], None]) -> _Read:
        fingerprint_ = json.dumps(config, sort_keys=True)
        key = (schedule_id, hashlib.sha256(fingerprint_.encode()).hexdigest())
        with self._lock:
            consumer = self._consumers.pop(key, None)
        try:
            if consumer is None:
                consumer = Consumer(config)
            read = _read(consumer, plan, log)
        except (KafkaException, _Failed, ValueError) as exc:
            if consumer is not None:
                consumer.close()
            retryable = exc.retryable if isinstance(exc, _Failed) else True
            message = exc.message if isinstance(exc, _Failed) else (
                f"Kafka failed: {type(exc).__name__}: {str(exc)[:300]}")
            raise TriggerFailed(message, retryable=retryable) from None
        except BaseException:
            if consumer is not None:
                consumer.close()
            raise
        evicted: list[Consumer] = []
        with self._lock:
            if key in self._consumers:  # a poll of the same schedule ran beside this one
                evicted.append(consumer)
            else:
                self._consumers[key] = consumer
            while len(self._consumers) > MAX_CONSUMERS:
                evicted.append(self._consumers.popitem(last=False)[1])
        for old in evicted:
            old.close()
        return read

    async def close(self) -> None:
        with self._lock:
            consumers = list(self._consumers.values())
            self._consumers.clear()
        for consumer in consumers:
            await asyncio.to_thread(consumer.close)
