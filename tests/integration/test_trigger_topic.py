"""The `topic` trigger against the real local Kafka: a topic of its own per test, records
produced as a partner would (JSON, Avro, text), polled as the scheduler polls."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from fastavro.schema import fingerprint, to_parsing_canonical_form

from laneway.triggers import PollResult, TriggerFailed
from laneway.triggers.builtin.topic import TopicTrigger
from laneway.triggers.testing import make_context, make_schedule, poll_once
from scripts.stack import Connections
from tests.integration.conftest import unique_name

PERMIT_SCHEMA = {
    "type": "record", "name": "PermitFiled", "namespace": "gov.partner",
    "fields": [
        {"name": "permitId", "type": "string"},
        {"name": "area", "type": "double"},
        {"name": "filedAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "fee", "type": {"type": "bytes", "logicalType": "decimal", "precision": 8,
                                 "scale": 2}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}


@pytest.fixture
def admin(stack: Connections) -> AdminClient:
    return AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})


def _create(admin: AdminClient, name: str, partitions: int = 1) -> None:
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions,
                                            replication_factor=1)])
    futures[name].result(timeout=30)


@pytest.fixture
def topic(admin: AdminClient) -> Iterator[str]:
    name = unique_name("partner.permits")
    _create(admin, name, partitions=2)
    yield name
    admin.delete_topics([name], operation_timeout=30)[name].result(timeout=30)


@pytest.fixture
def producer(stack: Connections) -> Iterator[Producer]:
    made = Producer({"bootstrap.servers": stack.kafka_bootstrap_servers, "linger.ms": 0})
    yield made
    made.flush(10)


def _send(producer: Producer, topic: str, *values: bytes | str | None, key: str | None = None,
          partition: int = 0, headers: Mapping[str, bytes] | None = None) -> None:
    for value in values:
        producer.produce(topic, value=value, key=key, partition=partition,
                         headers=dict(headers or {}))
    assert producer.flush(10) == 0


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


class Poller:
    """Polls one schedule as the scheduler does: each poll continues from the last cursor."""

    def __init__(self, stack: Connections, tmp_path: Path, settings: Mapping[str, str]) -> None:
        self.trigger = TopicTrigger()
        self.schedule = make_schedule("topic", settings)
        self.bootstrap = stack.kafka_bootstrap_servers
        self.tmp_path = tmp_path
        self.cursor: Any = None

    def poll(self, cursor: Any = "last") -> PollResult:
        async def go() -> PollResult:
            async with httpx.AsyncClient() as http:
                ctx = make_context(http, self.tmp_path, settings={"bootstrap": self.bootstrap})
                return await poll_once(self.trigger, self.schedule, ctx,
                                       cursor=self.cursor if cursor == "last" else cursor)
        result = asyncio.run(go())
        self.cursor = result.cursor
        return result

    def close(self) -> None:
        asyncio.run(self.trigger.close())


@pytest.fixture
def poller(stack: Connections, tmp_path: Path) -> Iterator[Any]:
    made: list[Poller] = []

    def make(settings: Mapping[str, str]) -> Poller:
        made.append(Poller(stack, tmp_path, settings))
        return made[-1]
    yield make
    for p in made:
        p.close()


def test_skip_existing_starts_at_the_end_and_reads_what_comes_after(
        topic: str, producer: Producer, poller: Any) -> None:
    # given records already on the partner's topic
    _send(producer, topic, _json({"permitId": "old-1"}), _json({"permitId": "old-2"}))
    watcher = poller({"topic": topic})

    # when the schedule first polls, it only records where each partition ends
    first = watcher.poll()
    assert first.items == []
    assert first.cursor["offsets"] == {"0": 2, "1": 0}

    # then what is produced afterwards is read, with the record's facts as variables
    _send(producer, topic, _json({"permitId": "P-7", "area": 120.5}), key="P-7",
          headers={"source": b"partner-x", "blob": b"\xff\x00"})
    _send(producer, topic, _json({"permitId": "P-8"}), partition=1)
    result = watcher.poll()
    by_id = {i.variables["record"]["permitId"]: i for i in result.items}
    assert set(by_id) == {"P-7", "P-8"}
    p7 = by_id["P-7"]
    assert p7.dedup_key == f"{topic}:0:2"
    assert p7.variables["record"] == {"permitId": "P-7", "area": 120.5}
    assert (p7.variables["topic"], p7.variables["partition"], p7.variables["offset"]) == (
        topic, 0, 2)
    assert p7.variables["key"] == "P-7"
    assert p7.variables["headers"] == {"source": "partner-x", "blob": "base64:/wA="}
    stamp = datetime.fromisoformat(p7.variables["timestamp"])
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 120
    assert p7.summary == {"topic": topic, "partition": 0, "offset": 2, "key": "P-7"}
    assert by_id["P-8"].dedup_key == f"{topic}:1:0"
    assert result.cursor["offsets"] == {"0": 3, "1": 1}
    assert result.more is False
    # and nothing twice
    assert watcher.poll().items == []


def test_fire_existing_reads_the_topic_from_its_beginning(
        topic: str, producer: Producer, poller: Any) -> None:
    _send(producer, topic, _json({"n": 1}), _json({"n": 2}))
    result = poller({"topic": topic, "initial": "fire-existing"}).poll()
    assert [i.variables["record"]["n"] for i in result.items] == [1, 2]


def test_the_cursor_resumes_where_the_last_poll_stopped_at_max_items(
        topic: str, producer: Producer, poller: Any) -> None:
    watcher = poller({"topic": topic, "maxItems": "3"})
    watcher.poll()
    _send(producer, topic, *(_json({"n": n}) for n in range(7)))

    seen: list[int] = []
    flags: list[bool] = []
    before_second = None
    for poll in range(4):
        if poll == 1:
            before_second = watcher.cursor
        result = watcher.poll()
        seen += [i.variables["record"]["n"] for i in result.items]
        flags.append(result.more)
    assert seen == list(range(7))
    assert flags == [True, True, False, False]

    # a crash before the cursor was saved reads the same records again: the same dedup keys
    again = watcher.poll(cursor=before_second)
    assert [i.dedup_key for i in again.items] == [f"{topic}:0:{n}" for n in (3, 4, 5)]


def test_dedup_field_names_the_item_and_a_record_without_it_falls_back_to_its_offset(
        topic: str, producer: Producer, poller: Any) -> None:
    watcher = poller({"topic": topic, "dedupField": "permit.id"})
    watcher.poll()
    _send(producer, topic, _json({"permit": {"id": "P-1"}, "v": 1}),
          _json({"permit": {"id": "P-1"}, "v": 2}), _json({"permit": {"id": 42}}),
          _json({"permit": {}}))

    keys = [i.dedup_key for i in watcher.poll().items]

    assert keys == ["field:P-1", "field:P-1", "field:42", f"{topic}:0:3"]


def _avro(record: Mapping[str, Any], schema: Any = PERMIT_SCHEMA) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), dict(record))
    return out.getvalue()


PERMIT = {"permitId": "P-9", "area": 88.0,
          "filedAt": datetime(2026, 12, 6, 9, 30, tzinfo=UTC), "fee": Decimal("120.50"),
          "tags": ["roof", "garage"], "note": None}
PERMIT_VARIABLES = {"permitId": "P-9", "area": 88.0, "filedAt": "2026-12-06T09:30:00+00:00",
                    "fee": "120.50", "tags": ["roof", "garage"], "note": None}


@pytest.mark.parametrize("framing", ["none", "confluent", "single-object"])
def test_avro_records_are_decoded_with_the_declared_schema(
        topic: str, producer: Producer, poller: Any, framing: str) -> None:
    body = _avro(PERMIT)
    parsed = fastavro.parse_schema(PERMIT_SCHEMA)
    framed = {"none": body, "confluent": b"\x00\x00\x00\x00\x07" + body,
              "single-object": b"\xc3\x01" + bytes.fromhex(fingerprint(
                  to_parsing_canonical_form(parsed), "CRC-64-AVRO")) + body}[framing]
    other = _avro({"x": 1}, {"type": "record", "name": "X", "fields": [
        {"name": "x", "type": "long"}]})
    watcher = poller({"topic": topic, "format": "avro", "schema": json.dumps(PERMIT_SCHEMA),
                      "avroFraming": framing})
    watcher.poll()
    _send(producer, topic, framed, b"\x00garbage that is no permit", other)

    result = watcher.poll()

    (item,) = result.items
    assert item.variables["record"] == PERMIT_VARIABLES
    assert result.cursor["skipped"] == 2
    assert result.cursor["offsets"]["0"] == 3


def test_raw_records_are_text_and_bytes_that_are_not_utf8_are_skipped(
        topic: str, producer: Producer, poller: Any) -> None:
    watcher = poller({"topic": topic, "format": "raw"})
    watcher.poll()
    _send(producer, topic, "PERMIT P-3 FILED", b"\xff\xfe\x00binary", "{not json, fine}")

    result = watcher.poll()

    assert [i.variables["record"] for i in result.items] == ["PERMIT P-3 FILED",
                                                             "{not json, fine}"]
    assert result.cursor["skipped"] == 1
    assert result.cursor["lastSkipped"] == {"partition": 0, "offset": 1,
                                            "why": "its value is not UTF-8 text"}


def test_undecodable_records_are_skipped_counted_and_never_read_again(
        topic: str, producer: Producer, poller: Any, caplog: pytest.LogCaptureFixture) -> None:
    watcher = poller({"topic": topic, "maxRecordBytes": "1000"})
    watcher.poll()
    _send(producer, topic, _json({"n": 1}), b"{broken", b'{"n": NaN}', None,
          _json({"pad": "x" * 2000}), b'"\\u0000"')
    _send(producer, topic, _json({"small": True}), headers={"trace": b"t" * 2000})
    _send(producer, topic, _json({"n": 2}))

    result = watcher.poll()

    assert [i.variables["record"] for i in result.items] == [{"n": 1}, {"n": 2}]
    assert [i.variables["offset"] for i in result.items] == [0, 7]
    assert result.cursor["skipped"] == 6
    assert result.cursor["lastSkipped"]["offset"] == 6
    assert result.cursor["lastSkipped"]["why"].startswith("it is 20")
    assert result.cursor["offsets"]["0"] == 8
    # each is a warning naming where it is and why, never what it holds
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 6
    assert f"record 0:6 of {topic} is no item: it is 20" in warned[5]
    assert not any("ttttt" in w for w in warned)
    # the cursor moved past them: the next poll reads nothing, the count stays
    later = watcher.poll()
    assert later.items == []
    assert later.cursor["skipped"] == 6


def test_a_partition_added_later_is_read_from_its_beginning(
        admin: AdminClient, producer: Producer, poller: Any) -> None:
    name = unique_name("partner.grow")
    _create(admin, name, partitions=1)
    try:
        watcher = poller({"topic": name})
        watcher.poll()
        admin.create_partitions([NewPartitions(name, 2)])[name].result(timeout=30)
        _send(producer, name, _json({"on": "new partition"}), partition=1)

        result = watcher.poll()

        assert [(i.variables["partition"], i.variables["record"]) for i in result.items] == [
            (1, {"on": "new partition"})]
    finally:
        admin.delete_topics([name], operation_timeout=30)[name].result(timeout=30)


def test_a_topic_that_does_not_exist_yet_is_waited_for_and_read_from_its_beginning(
        admin: AdminClient, producer: Producer, poller: Any) -> None:
    name = unique_name("partner.later")
    watcher = poller({"topic": name})
    first = watcher.poll()
    assert first.items == []
    assert first.cursor["missing"] is True
    assert first.next_poll_ms is not None

    _create(admin, name)
    try:
        _send(producer, name, _json({"first": True}))
        result = watcher.poll()
        assert [i.variables["record"] for i in result.items] == [{"first": True}]
        assert "missing" not in result.cursor
    finally:
        admin.delete_topics([name], operation_timeout=30)[name].result(timeout=30)


def test_an_unreachable_bootstrap_fails_the_poll_retryably(tmp_path: Path) -> None:
    trigger = TopicTrigger()
    schedule = make_schedule("topic", {"topic": "partner.permits",
                                       "bootstrap": "127.0.0.1:1"})

    async def go() -> PollResult:
        async with httpx.AsyncClient() as http:
            ctx = make_context(http, tmp_path, timeout=2.0)
            try:
                return await poll_once(trigger, schedule, ctx)
            finally:
                await trigger.close()

    with pytest.raises(TriggerFailed) as failed:
        asyncio.run(go())
    assert failed.value.retryable is True


def test_check_refuses_what_cannot_be_read() -> None:
    trigger = TopicTrigger()
    assert list(trigger.check({"topic": "partner.permits"})) == []
    assert list(trigger.check({"topic": "p", "format": "avro",
                               "schema": json.dumps(PERMIT_SCHEMA)})) == []
    problems = {
        "no topic": {},
        "bad name": {"topic": "permits/2026"},
        "too long": {"topic": "x" * 250},
        "format": {"topic": "p", "format": "xml"},
        "no schema": {"topic": "p", "format": "avro"},
        "bad schema": {"topic": "p", "format": "avro", "schema": '{"type": "recrod"}'},
        "not json schema": {"topic": "p", "format": "avro", "schema": "{"},
        "framing": {"topic": "p", "format": "avro", "schema": '"string"',
                    "avroFraming": "magic"},
        "dedup": {"topic": "p", "dedupField": "permit..id"},
        "max items": {"topic": "p", "maxItems": "0"},
        "max bytes": {"topic": "p", "maxRecordBytes": "99999999"},
        "protocol": {"topic": "p", "securityProtocol": "TLS"},
    }
    for why, settings in problems.items():
        found = list(trigger.check(settings))
        assert len(found) == 1, why
        assert found[0].startswith("Expected"), why


def test_an_offset_the_topic_no_longer_has_restarts_at_the_earliest(
        topic: str, producer: Producer, poller: Any) -> None:
    # a cursor from a topic that was made anew (its offsets start at 0 again)
    _send(producer, topic, _json({"n": 1}), _json({"n": 2}))
    watcher = poller({"topic": topic})

    result = watcher.poll(cursor={"offsets": {"0": 500, "1": 0}})

    assert [i.variables["record"] for i in result.items] == [{"n": 1}, {"n": 2}]
    assert result.cursor["offsets"] == {"0": 2, "1": 0}
