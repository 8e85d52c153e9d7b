"""The HTTP API (the definitions, worklist and audit services behind the edge's path table)
against the real Kafka and PostgreSQL.

The engine service is not involved: the tests assert on what the API writes to Kafka and
PostgreSQL, and feed the `state` topic themselves to check the instance projection. Each
module run has its own topic prefix and PostgreSQL schema, each test its own process ids.
The client sends a modeler's token (`tests.lifecycle.AUTHOR`); versions that must reach the
topic or be started are authorized first (`tests.lifecycle.authorize`). The lifecycle's and
the edge's own rules are tested in test_lifecycle.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from laneway.bpmn import parse
from laneway.codec import (
    StateSnapshot,
    decode_definition,
    decode_record,
    encode_state,
)
from laneway.engine.repository import DefinitionRepository
from laneway.engine.runner import Answers, LocalRunner
from laneway.engine.state import Incident, InstanceState
from laneway.kafka import producer_config
from laneway.publisher import Publisher
from laneway.records import SYSTEM, Command, RecordKind
from laneway.telemetry import install, tracer_provider, uninstall
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from services.audit.db import connect
from services.audit.instances import InstanceUpsert, upsert_instances
from services.audit.metrics import InstanceMetrics
from services.audit.projection import InstanceProjection
from services.definitions.app import create_app
from services.definitions.deps import ServiceDeps
from services.definitions.republish import republish_missing
from services.definitions.service import running
from tests.auth import auth_header, verifier
from tests.integration.api_harness import (
    Api,
    create_topics,
    delete_topics,
    drop_schema,
    running_api,
    service_settings,
)
from tests.lifecycle import AUTHOR, authorize

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs_{pid}" targetNamespace="http://laneway.dev/test">
  <bpmn:process id="{pid}" name="{name}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="review" name="Review"/>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done"/>{extra}
  </bpmn:process>
</bpmn:definitions>
"""
XML = {"content-type": "application/xml"}


# instances are read and messages published by an operator: a modeler's token (the client's)
# takes part in no instance and publishes nothing (tests/integration/test_access.py)
OPERATOR = auth_header("olga", roles=["operator"])


def diagram(pid: str, name: str = "Review", extra: str = "") -> bytes:
    """A small runnable diagram: start, one user task, end."""
    return BPMN.format(pid=pid, name=name, extra=extra).encode()


def new_pid() -> str:
    return f"p_{uuid.uuid4().hex[:10]}"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema(stack: Connections) -> Iterator[str]:
    name = unique_name("test_api").replace("-", "_")
    yield name
    drop_schema(stack, name)


@pytest.fixture(scope="module")
def api(stack: Connections, schema: str) -> Iterator[Api]:
    with running_api(stack, "test.api", Api, schema=schema, headers=AUTHOR) as api:
        yield api


# --- Kafka helpers -----------------------------------------------------------------------------


def read_topic(bootstrap: str, topic: str, until: Any, timeout: float = 30.0
               ) -> list[tuple[str, bytes | None, int, int]]:
    """(key, value, partition, offset) of every record from the beginning, until
    `until(records)` holds."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("test.read"),
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest"})
    records: list[tuple[str, bytes | None, int, int]] = []
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, -2) for p in parts])

        def done() -> bool:
            msg = consumer.poll(0.2)
            err = None if msg is None else msg.error()
            if msg is not None and err is None:
                records.append(((msg.key() or b"").decode(), msg.value(), msg.partition() or 0,
                                msg.offset() or 0))
            elif err is not None and err.code() != KafkaError._PARTITION_EOF:
                raise AssertionError(str(err))
            return bool(until(records))

        wait_until(done, timeout=timeout, interval=0, message=f"records on {topic}")
    finally:
        consumer.close()
    return records


def with_key(key: str) -> Any:
    return lambda records: any(r[0] == key for r in records)


def produce(bootstrap: str, topic: str, items: list[tuple[str, bytes | None]]) -> None:
    producer = Producer(producer_config(bootstrap))
    for key, value in items:
        producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


# --- definitions -------------------------------------------------------------------------------


def test_deploying_a_valid_diagram_stores_and_publishes_version_1(api: Api) -> None:
    # given a valid diagram
    pid = new_pid()
    xml = diagram(pid)

    # when it is deployed
    started = time.perf_counter()
    response = api.client.post("/api/definitions", content=xml,
                               headers={**XML, "x-file-name": "review.bpmn"})
    elapsed = time.perf_counter() - started

    # then it is version 1, new, a DRAFT in the database
    assert response.status_code == 201, response.text
    assert response.json() == {"deployed": [{"processId": pid, "version": 1, "new": True}]}
    rows = api.sql("SELECT version, xml, file_name, state FROM definitions WHERE process_id = %s",
                   pid)
    assert rows == [(1, xml, "review.bpmn", "DRAFT")]

    # and once authorized, on the definitions topic
    authorize(api.client, pid, 1)
    records = read_topic(api.conns.kafka_bootstrap_servers, api.topics.definitions,
                         with_key(f"{pid}@1"))
    value = next(v for k, v, _, _ in records if k == f"{pid}@1")
    assert value is not None
    record = decode_definition(value)
    assert (record.process_id, record.version, record.bpmn_xml) == (pid, 1, xml)
    assert record.metadata == {"file": "review.bpmn", "name": "Review", "state": "AUTHORIZED"}
    print(f"\n[api] deploy latency {elapsed * 1000:.1f} ms")


def test_deploying_the_same_diagram_again_returns_the_same_version_with_200(api: Api) -> None:
    pid = new_pid()
    assert api.client.post("/api/definitions", content=diagram(pid), headers=XML).status_code \
        == 201

    again = api.client.post("/api/definitions", content=diagram(pid), headers=XML)

    assert again.status_code == 200, again.text
    assert again.json() == {"deployed": [{"processId": pid, "version": 1, "new": False}]}
    assert api.sql("SELECT count(*) FROM definitions WHERE process_id = %s", pid) == [(1,)]


def test_deploying_a_changed_diagram_makes_version_2(api: Api) -> None:
    pid = new_pid()
    api.client.post("/api/definitions", content=diagram(pid), headers=XML)

    changed = api.client.post("/api/definitions", content=diagram(pid, name="Review v2"),
                              headers=XML)

    assert changed.status_code == 201, changed.text
    assert changed.json() == {"deployed": [{"processId": pid, "version": 2, "new": True}]}
    listed = api.client.get("/api/definitions", params={"processId": pid}).json()
    assert [(d["version"], d["name"]) for d in listed] == [(2, "Review v2"), (1, "Review")]


def test_deploying_a_multipart_upload_keeps_the_file_name_and_bytes(api: Api) -> None:
    pid = new_pid()
    xml = diagram(pid).replace(b"\n", b"\r\n")

    response = api.client.post("/api/definitions",
                               files={"file": ("from-form.bpmn", xml, "application/xml")})

    assert response.status_code == 201, response.text
    assert api.sql("SELECT xml, file_name FROM definitions WHERE process_id = %s", pid) == [
        (xml, "from-form.bpmn")]


def test_an_invalid_diagram_is_refused_with_file_line_element_and_message(api: Api) -> None:
    # given a diagram with an event nothing leads to
    pid = new_pid()
    xml = diagram(pid, extra='\n    <bpmn:intermediateThrowEvent id="orphan"/>')

    response = api.client.post("/api/definitions", content=xml,
                               headers={**XML, "x-file-name": "bad.bpmn"})

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert errors == [{"file": "bad.bpmn", "line": 10, "elementId": "orphan",
                       "message": "Expected an incoming sequence flow on this "
                                  "intermediateThrowEvent, but it has none"}]
    assert api.sql("SELECT count(*) FROM definitions WHERE process_id = %s", pid) == [(0,)]


def test_an_element_the_engine_cannot_run_is_refused(api: Api) -> None:
    pid = new_pid()
    xml = diagram(pid).replace(b'<bpmn:userTask id="review" name="Review"/>',
                               b'<bpmn:choreographyTask id="review"/>')

    response = api.client.post("/api/definitions", content=xml, headers=XML)

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["file"], error["line"], error["elementId"]) == ("upload.bpmn", 6, "review")
    assert "choreographies describe, they do not run" in error["message"]


def test_malformed_xml_is_refused_with_its_line(api: Api) -> None:
    response = api.client.post("/api/definitions", content=b"<?xml version='1.0'?>\n<a>\n<b>\n</a>",
                               headers=XML)

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["file"] == "upload.bpmn"
    assert error["line"] == 4
    assert error["elementId"] is None


def test_a_body_over_20_mib_is_refused_with_413(api: Api) -> None:
    response = api.client.post("/api/definitions", content=b" " * (20 * 1024 * 1024 + 70_000),
                               headers=XML)

    assert response.status_code == 413, response.text


def test_the_exported_xml_is_byte_identical_and_unknown_versions_are_404(api: Api) -> None:
    pid = new_pid()
    xml = diagram(pid).replace(b"<bpmn:endEvent", b"<!-- kept as written -->\n<bpmn:endEvent")
    api.client.post("/api/definitions", content=xml, headers=XML)

    exported = api.client.get(f"/api/definitions/{pid}/versions/1/xml")
    missing_version = api.client.get(f"/api/definitions/{pid}/versions/7/xml")
    missing_process = api.client.get("/api/definitions/nope/versions/1/xml")

    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/xml"
    assert exported.content == xml
    assert missing_version.status_code == 404
    assert missing_version.json()["detail"] == (
        f"Expected version 7 of process '{pid}', but it has versions [1]")
    assert missing_process.status_code == 404
    assert "Expected a deployed process 'nope'" in missing_process.json()["detail"]


def test_the_list_shows_the_latest_deploy_first(api: Api) -> None:
    first, second = new_pid(), new_pid()
    api.client.post("/api/definitions", content=diagram(first), headers=XML)
    api.client.post("/api/definitions", content=diagram(second), headers=XML)

    listed = api.client.get("/api/definitions").json()

    ids = [d["processId"] for d in listed]
    assert ids.index(second) < ids.index(first)
    entry = next(d for d in listed if d["processId"] == first)
    assert set(entry) == {"processId", "version", "name", "deployedAt", "digest", "state",
                          "author"}
    assert entry["state"] == "DRAFT"
    assert entry["author"] == "test-modeler"  # the client's token (AUTHOR)


def test_republish_restores_a_definition_deleted_from_the_topic(api: Api) -> None:
    # given a deployed version whose record was deleted from the topic (a tombstone)
    pid = new_pid()
    xml = diagram(pid)
    api.client.post("/api/definitions", content=xml, headers=XML)
    authorize(api.client, pid, 1)
    bootstrap = api.conns.kafka_bootstrap_servers
    produce(bootstrap, api.topics.definitions, [(f"{pid}@1", None)])

    # when the service republishes what the topic lacks
    republished = republish_missing(api.deps.definitions, api.deps.publisher, bootstrap)

    # then the version is on the topic again, with the same XML
    assert f"{pid}@1" in republished
    records = read_topic(bootstrap, api.topics.definitions,
                         lambda rs: [r for r in rs if r[0] == f"{pid}@1" and r[1] is not None
                                     and r[3] > min(x[3] for x in rs if x[0] == f"{pid}@1")])
    last = [v for k, v, _, _ in records if k == f"{pid}@1"][-1]
    assert last is not None
    assert decode_definition(last).bpmn_xml == xml


def test_the_service_start_republishes_every_stored_version_to_a_fresh_topic(
    api: Api, schema: str
) -> None:
    # given authorized versions (and a draft) and a topic the service has never written to
    pid, draft = new_pid(), new_pid()
    api.client.post("/api/definitions", content=diagram(pid), headers=XML)
    api.client.post("/api/definitions", content=diagram(draft), headers=XML)
    authorize(api.client, pid, 1)
    stored = {f"{p}@{v}" for p, v in api.sql(
        "SELECT process_id, version FROM definitions WHERE state IN ('AUTHORIZED', 'RETIRED')")}
    assert f"{pid}@1" in stored
    fresh = unique_name("test.api.fresh") + "."
    create_topics(api.conns, fresh)
    try:
        # when the service starts on it
        settings = service_settings(api.conns, fresh, schema)
        with running(settings) as deps:
            republished = deps.metrics.registry.get_sample_value(
                "laneway_definitions_republished_total")

        # then every authorized version is on the topic, and no draft
        records = read_topic(api.conns.kafka_bootstrap_servers, f"{fresh}definitions",
                             lambda rs: {r[0] for r in rs} >= stored)
        assert {k for k, _, _, _ in records} == stored
        assert f"{draft}@1" not in stored
        assert republished == len(stored)
    finally:
        delete_topics(api.conns, fresh)


def test_a_deploy_kafka_did_not_acknowledge_is_503_and_the_same_upload_repairs_it(
    api: Api,
) -> None:
    # given an authorized version whose record was lost from the topic (a tombstone), and an
    # API whose Kafka does not answer
    pid = new_pid()
    xml = diagram(pid)
    api.client.post("/api/definitions", content=xml, headers=XML)
    authorize(api.client, pid, 1)
    key = f"{pid}@1"
    produce(api.conns.kafka_bootstrap_servers, api.topics.definitions, [(key, None)])
    dead = Publisher("127.0.0.1:1", api.topics, timeout_s=1.0)
    broken = ServiceDeps(pool=api.deps.pool, publisher=dead)
    try:
        with TestClient(create_app(api.settings, broken, verifier()), headers=AUTHOR) as client:
            # when the same file is deployed again
            failed = client.post("/api/definitions", content=xml, headers=XML)
    finally:
        dead.close(0.1)

    # then the caller is told to retry (the authorized version was to be published again)
    assert failed.status_code == 503, failed.text
    assert "Retry the request" in failed.json()["detail"]
    assert api.settings.topic_prefix not in failed.text  # no topic names in an answer
    assert api.sql("SELECT version FROM definitions WHERE process_id = %s", pid) == [(1,)]

    # when the caller retries the same upload where Kafka answers
    retried = api.client.post("/api/definitions", content=xml, headers=XML)

    # then nothing new is stored and the version is on the topic again
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"deployed": [{"processId": pid, "version": 1, "new": False}]}
    records = read_topic(api.conns.kafka_bootstrap_servers, api.topics.definitions,
                         lambda rs: [r for r in rs if r[0] == key][-1:]
                         and [r for r in rs if r[0] == key][-1][1] is not None)
    value = [v for k, v, _, _ in records if k == key][-1]
    assert value is not None
    assert decode_definition(value).bpmn_xml == xml


def test_concurrent_deploys_of_one_process_number_versions_without_gaps(api: Api) -> None:
    # given six different diagrams of one process and two copies of each, deployed at once
    pid = new_pid()
    files = [diagram(pid, name=f"Review {i}") for i in range(6)] * 2

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(
            lambda xml: api.deps.deployer.deploy(xml, "x.bpmn", SYSTEM)[0], files))

    # then each distinct diagram got one version, numbered 1..6, and its copy the same one
    by_digest: dict[str, set[int]] = {}
    for stored in results:
        by_digest.setdefault(stored.digest, set()).add(stored.version)
    assert all(len(v) == 1 for v in by_digest.values())
    assert sorted(v.pop() for v in by_digest.values()) == [1, 2, 3, 4, 5, 6]
    assert sum(s.new for s in results) == 6


# --- instances and messages --------------------------------------------------------------------


def test_starting_an_instance_writes_start_instance_keyed_by_the_new_id(api: Api) -> None:
    pid = new_pid()
    api.client.post("/api/definitions", content=diagram(pid), headers=XML)
    authorize(api.client, pid, 1)

    started = time.perf_counter()
    response = api.client.post("/api/instances", json={
        "processId": pid, "variables": {"amount": 1500, "items": ["a", {"b": None}]},
        "businessKey": "order-7"})
    elapsed = time.perf_counter() - started

    assert response.status_code == 201, response.text
    instance_id = response.json()["instanceId"]
    assert uuid.UUID(instance_id)
    records = read_topic(api.conns.kafka_bootstrap_servers, api.topics.commands,
                         with_key(instance_id))
    [value] = [v for k, v, _, _ in records if k == instance_id]
    assert value is not None
    record = decode_record(value)
    assert (record.kind, record.intent, record.instance_id) == (
        RecordKind.COMMAND, Command.START_INSTANCE.value, instance_id)
    assert dict(record.value) == {"processId": pid, "businessKey": "order-7", "version": 1,
                                  "variables": {"amount": 1500, "items": ["a", {"b": None}]}}
    assert (record.principal.kind.value, record.principal.id) == ("human", "test-modeler")
    print(f"\n[api] start latency {elapsed * 1000:.1f} ms")


def test_a_start_is_the_first_span_of_the_instances_trace_and_its_command_carries_it(
        api: Api) -> None:
    pid = new_pid()
    api.client.post("/api/definitions", content=diagram(pid), headers=XML)
    authorize(api.client, pid, 1)
    exporter = InMemorySpanExporter()
    provider = tracer_provider("laneway-definitions", None)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    install(provider)
    try:
        response = api.client.post("/api/instances", json={"processId": pid, "variables": {}})
    finally:
        uninstall()
    assert response.status_code == 201, response.text
    iid = response.json()["instanceId"]
    (span,) = [s for s in exporter.get_finished_spans()
               if s.name == "laneway.api.start_instance"]
    assert span.context is not None
    assert span.parent is None
    assert span.context.trace_id == uuid.UUID(iid).int
    assert dict(span.attributes or {})["laneway.process_id"] == pid
    # the START_INSTANCE record carries the span's context in its headers
    consumer = Consumer({"bootstrap.servers": api.conns.kafka_bootstrap_servers,
                         "group.id": unique_name("test.trace"), "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([api.topics.commands])
    try:
        def headers() -> list[tuple[str, bytes]] | None:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None or msg.key() != iid.encode():
                return None
            return list(msg.headers() or [])
        got = wait_until(headers, 30, 0, "the START_INSTANCE record")
    finally:
        consumer.close()
    assert dict(got)["traceparent"] == (
        f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01").encode()


def test_a_start_may_name_its_own_instance_id_so_a_retry_starts_nothing_twice(
        api: Api) -> None:
    pid = new_pid()
    api.client.post("/api/definitions", content=diagram(pid), headers=XML)
    authorize(api.client, pid, 1)
    chosen = str(uuid.uuid4())

    # the same start sent twice (a retry after a lost answer) names the same instance
    for _ in range(2):
        response = api.client.post("/api/instances", json={"processId": pid,
                                                           "instanceId": chosen})
        assert response.status_code == 201, response.text
        assert response.json() == {"instanceId": chosen}
    records = read_topic(api.conns.kafka_bootstrap_servers, api.topics.commands,
                         lambda recs: sum(r[0] == chosen for r in recs) >= 2)
    starts = [decode_record(v) for k, v, _, _ in records if k == chosen and v is not None]
    assert [r.instance_id for r in starts] == [chosen, chosen]

    refused = api.client.post("/api/instances", json={"processId": pid,
                                                      "instanceId": "../../etc"})
    assert refused.status_code == 422, refused.text


def test_starting_a_given_version_names_it_and_unknown_ones_are_404(api: Api) -> None:
    pid = new_pid()
    api.client.post("/api/definitions", content=diagram(pid), headers=XML)
    authorize(api.client, pid, 1)

    ok = api.client.post("/api/instances", json={"processId": pid, "version": 1})
    unknown_version = api.client.post("/api/instances", json={"processId": pid, "version": 2})
    unknown_process = api.client.post("/api/instances", json={"processId": new_pid()})

    assert ok.status_code == 201
    instance_id = ok.json()["instanceId"]
    records = read_topic(api.conns.kafka_bootstrap_servers, api.topics.commands,
                         with_key(instance_id))
    [value] = [v for k, v, _, _ in records if k == instance_id]
    assert value is not None
    assert decode_record(value).value["version"] == 1
    assert unknown_version.status_code == 404
    assert unknown_version.json()["detail"] == (
        f"Expected version 2 of process '{pid}', but it has versions [1]")
    assert unknown_process.status_code == 404
    assert "Expected a deployed process" in unknown_process.json()["detail"]


def test_publishing_a_message_writes_publish_message_keyed_by_correlation_key(api: Api) -> None:
    key = unique_name("order")

    response = api.client.post("/api/messages", json={
        "name": "paid", "correlationKey": key, "variables": {"paid": True}, "ttlSeconds": 1.5},
        headers=OPERATOR)

    assert response.status_code == 202, response.text
    message_id = response.json()["messageId"]
    records = read_topic(api.conns.kafka_bootstrap_servers, api.topics.messages, with_key(key))
    [value] = [v for k, v, _, _ in records if k == key]
    assert value is not None
    record = decode_record(value)
    assert record.intent == Command.PUBLISH_MESSAGE.value
    assert dict(record.value) == {"name": "paid", "correlationKey": key,
                                  "variables": {"paid": True}, "messageId": message_id,
                                  "ttl": 1500}
    assert uuid.UUID(message_id)


def test_a_given_message_id_is_kept(api: Api) -> None:
    response = api.client.post("/api/messages", json={
        "name": "paid", "correlationKey": "k", "messageId": "m-1"}, headers=OPERATOR)

    assert response.status_code == 202
    assert response.json() == {"messageId": "m-1"}


# --- the instance projection -------------------------------------------------------------------


def run_to_states(pid: str, business_key: str) -> tuple[InstanceState, InstanceState]:
    """An instance of `diagram(pid)` waiting at its user task, and the same one completed."""
    repository = DefinitionRepository()
    repository.deploy(parse(diagram(pid)))
    runner = LocalRunner(repository)
    iid = runner.start(pid, {"amount": 5}, instance_id=str(uuid.uuid4()),
                       business_key=business_key)
    runner.drain()
    waiting = runner.instance(iid)
    assert waiting is not None
    active = InstanceState.from_dict(waiting.to_dict())
    runner.run(iid, Answers(tasks={"review": [{"approved": True}]}))
    done = runner.instance(iid)
    assert done is not None
    return active, done


def snapshot(inst: InstanceState, ts: int = 1_767_225_600_000) -> bytes:
    return encode_state(StateSnapshot.of(inst, ts))


def snapshots_read(metrics: InstanceMetrics, outcome: str) -> float:
    """How many snapshots a projection read with this outcome."""
    value = metrics.registry.get_sample_value("laneway_audit_instances_snapshots_total",
                                              {"outcome": outcome})
    return value or 0.0


def get_instance(api: Api, iid: str, status: str) -> dict[str, Any] | None:
    response = api.client.get(f"/api/instances/{iid}", headers=OPERATOR)
    if response.status_code == 200 and response.json()["status"] == status:
        body: dict[str, Any] = response.json()
        return body
    return None


def test_snapshots_project_to_the_final_status_and_a_tombstone_keeps_the_row(api: Api) -> None:
    # given an instance's snapshots: waiting at the task, completed, then the tombstone
    pid = new_pid()
    active, done = run_to_states(pid, "bk-1")
    iid = active.instance_id
    bootstrap = api.conns.kafka_bootstrap_servers

    # when the engine's writes land on `state`
    produce(bootstrap, api.topics.state, [(iid, snapshot(active))])
    seen_active = wait_until(lambda: get_instance(api, iid, "ACTIVE"), timeout=30,
                             message="ACTIVE instance")
    produce(bootstrap, api.topics.state, [(iid, snapshot(done)), (iid, None),
                                          ("__messages-0", b"partition state")])

    # then the instance shows waiting at the task, and then completed with its variables
    assert seen_active == {
        "instanceId": iid, "processId": pid, "version": 1, "businessKey": "bk-1",
        "status": "ACTIVE", "activeElements": ["review"], "variables": {"amount": 5},
        "incidents": [], "updatedAt": "2026-01-01T00:00:00Z"}
    final = wait_until(lambda: get_instance(api, iid, "COMPLETED"), timeout=30,
                       message="COMPLETED instance")
    assert final["activeElements"] == []
    assert final["variables"] == {"amount": 5, "approved": True}
    # the tombstone and the partition state came after and changed nothing
    wait_until(lambda: snapshots_read(api.audit.metrics, "tombstone") >= 1,
               timeout=30, message="tombstone read")
    wait_until(lambda: snapshots_read(api.audit.metrics, "skipped") >= 1,
               timeout=30, message="partition state skipped")
    assert get_instance(api, iid, "COMPLETED") is not None
    assert api.client.get(f"/api/instances/{uuid.uuid4()}", headers=OPERATOR).status_code \
        == 404


def test_a_replayed_older_snapshot_does_not_overwrite_a_newer_one(api: Api) -> None:
    # given an instance projected to COMPLETED
    pid = new_pid()
    active, done = run_to_states(pid, "bk-2")
    iid = active.instance_id
    bootstrap = api.conns.kafka_bootstrap_servers
    produce(bootstrap, api.topics.state, [(iid, snapshot(active)), (iid, snapshot(done))])
    wait_until(lambda: get_instance(api, iid, "COMPLETED"), timeout=30, message="COMPLETED")

    snapshots = [r for r in read_topic(bootstrap, api.topics.state,
                                       lambda rs: sum(r[0] == iid for r in rs) >= 2)
                 if r[1] is not None and not r[0].startswith("__")]

    # when a second projection (a new group: as after lost offsets) reads the topic again
    metrics = InstanceMetrics(CollectorRegistry())
    replay = InstanceProjection(
        lambda: connect(api.conns.database_url, api.audit.settings.database_schema),
        bootstrap, api.topics.state, unique_name("test.replay"), metrics)
    replay.start()
    try:
        wait_until(lambda: snapshots_read(metrics, "stale") >= len(snapshots), timeout=60,
                   message="every snapshot read again")
    finally:
        replay.stop()

    # then every replayed snapshot, the ACTIVE one included, was older than its row
    assert snapshots_read(metrics, "applied") == 0
    assert get_instance(api, iid, "COMPLETED") is not None
    # and directly: an upsert from an older offset changes nothing
    [(partition, offset)] = api.sql(
        "SELECT last_partition, last_offset FROM instances WHERE instance_id = %s", iid)
    with api.audit.pool.connection() as conn:
        older = InstanceUpsert(iid, pid, 1, "bk-2", "ACTIVE", ["review"], {}, [],
                               datetime.now(UTC), partition, offset - 1)
        assert upsert_instances(conn, [older]) == 0


def test_the_instance_list_filters_by_process_and_status_with_the_total_count(api: Api) -> None:
    # given two instances of one process (one completed) and one of another
    first, second = new_pid(), new_pid()
    a_active, _ = run_to_states(first, "a1")
    _, a_done = run_to_states(first, "a2")
    b_active, _ = run_to_states(second, "b1")
    produce(api.conns.kafka_bootstrap_servers, api.topics.state,
            [(s.instance_id, snapshot(s)) for s in (a_active, a_done, b_active)])
    wait_until(lambda: get_instance(api, b_active.instance_id, "ACTIVE")
               and get_instance(api, a_done.instance_id, "COMPLETED")
               and get_instance(api, a_active.instance_id, "ACTIVE"),
               timeout=30, message="three instances projected")

    def page(**params: Any) -> dict[str, Any]:
        response = api.client.get("/api/instances", params=params, headers=OPERATOR)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    everything = page(processId=first)
    active_only = page(processId=first, status="ACTIVE")
    one_page = page(processId=first, limit=1, offset=1)

    assert everything["count"] == 2
    assert {i["instanceId"] for i in everything["items"]} == {a_active.instance_id,
                                                             a_done.instance_id}
    assert active_only["count"] == 1
    assert [i["instanceId"] for i in active_only["items"]] == [a_active.instance_id]
    assert one_page["count"] == 2
    assert len(one_page["items"]) == 1
    assert page(processId=second, status="COMPLETED") == {"count": 0, "items": []}
    assert api.client.get("/api/instances", params={"status": "SLEEPING"}).status_code == 422


# --- health, metrics, OpenAPI ------------------------------------------------------------------


def test_health_reports_database_kafka_and_projection(api: Api) -> None:
    response = api.client.get("/health")

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "kafka": "ok"}}
    # the projection is the audit service's, which reports it on its own /health
    assert api.audit.projection is not None
    assert api.audit.projection.problem() is None


def test_metrics_count_deploys_starts_and_messages(api: Api) -> None:
    pid = new_pid()
    api.client.post("/api/definitions", content=diagram(pid), headers=XML)
    authorize(api.client, pid, 1)
    assert api.client.post("/api/instances", json={"processId": pid}).status_code == 201
    api.client.post("/api/messages", json={"name": "m", "correlationKey": "k"},
                    headers=OPERATOR)

    text = api.client.get("/metrics").text

    for name in ('laneway_definitions_deploys_total{outcome="new"}',
                 "laneway_definitions_instance_starts_total",
                 "laneway_definitions_messages_published_total",
                 # timed by route template and status class, never by the raw path
                 'laneway_definitions_http_request_duration_seconds_count{method="POST",'
                 'route="/api/instances",status="2xx"}'):
        assert name in text
    assert pid not in text


def test_openapi_lists_every_route(api: Api) -> None:
    # each service documents its own routes (/openapi/<service>.json); together, the API's
    spec = api.openapi()
    docs = api.client.get("/docs/definitions")

    paths = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    # other parts (worklist, forms) add their routes to the same app: these are this API's
    assert paths >= {
        ("/api/definitions", "POST"), ("/api/definitions", "GET"),
        ("/api/definitions/{process_id}/versions/{version}/xml", "GET"),
        ("/api/instances", "POST"), ("/api/instances", "GET"),
        ("/api/instances/{instance_id}", "GET"),
        ("/api/messages", "POST"), ("/health", "GET"), ("/metrics", "GET"),
        ("/api/instances/{instance_id}/history", "GET"),
        ("/api/instances/{instance_id}/verify", "GET"),
        ("/api/instances/{instance_id}/replay", "GET"),
        ("/api/incidents/{incident_id}/resolve", "POST"),
        ("/api/definitions/{process_id}/versions/{version}/transitions", "POST"),
        ("/api/definitions/{process_id}/versions/{version}/history", "GET"),
    }
    assert docs.status_code == 200
    deployed = spec["components"]["schemas"]["DeployedVersion"]["properties"]
    assert set(deployed) == {"processId", "version", "new"}
    assert all("description" in p for p in deployed.values())


def test_audit_routes_answer_from_the_audit_log_in_the_same_schema(api: Api) -> None:
    # given the audit tables in the audit service's schema (it migrates them) and one row
    from services.audit import db as audit_db
    from services.audit.chain import ZERO_HASH

    with api.audit.pool.connection() as conn:
        audit_db.migrate(conn)
    iid = unique_name("audited")
    api.sql(
        "INSERT INTO audit_log (instance_id, seq, record_id, kind, intent, element_id, "
        "element_type, token_id, scope_id, principal, value, event_time, written_at, "
        "source_topic, source_partition, source_offset, prev_hash, hash) VALUES (%s, 1, %s, "
        "'EVENT', 'ELEMENT_ACTIVATED', 'p', 'process', 1, 0, %s, %s, "
        "to_timestamp(1767225600), now(), 't', 0, 0, %s, %s) RETURNING seq",
        # history does not check hashes (verify does), so any well-formed hash will do here
        iid, f"{iid}.0", json.dumps({"kind": "system", "id": "engine"}), json.dumps({"key": 1}),
        ZERO_HASH, ZERO_HASH)
    # when the API is asked, then it answers from that log
    auditor = auth_header("audrey", roles=["auditor"])
    history = api.client.get(f"/api/instances/{iid}/history", headers=auditor)
    assert history.status_code == 200, history.text
    assert [e["intent"] for e in history.json()["events"]] == ["ELEMENT_ACTIVATED"]
    assert api.client.get("/api/instances/nobody/verify", headers=auditor).status_code == 404
    # a modeler is not an auditor
    assert api.client.get(f"/api/instances/{iid}/history").status_code == 403


def test_resolving_an_incident_sends_resolve_incident_for_its_instance(api: Api) -> None:
    # given an instance projected with an incident (a job that ran out of retries)
    pid = new_pid()
    active, _ = run_to_states(pid, "bk-incident")
    iid = active.instance_id
    active.incidents[99] = Incident(99, next(iter(active.elements)), "JOB_NO_RETRIES", "boom",
                                    stage="job")
    produce(api.conns.kafka_bootstrap_servers, api.topics.state, [(iid, snapshot(active))])
    seen = wait_until(lambda: get_instance(api, iid, "INCIDENT"), timeout=30,
                      message="instance with an incident")
    [incident] = seen["incidents"]
    assert incident["id"] == f"{iid}:99"

    # when an operator resolves it through the API with two retries
    operator = auth_header("olga", roles=["operator"])
    response = api.client.post(f"/api/incidents/{incident['id']}/resolve", json={"retries": 2},
                               headers=operator)

    # then a RESOLVE_INCIDENT command for that instance is on `commands`
    assert response.status_code == 202, response.text
    assert response.json() == {"instanceId": iid, "incidentKey": 99}
    records = read_topic(api.conns.kafka_bootstrap_servers, api.topics.commands,
                         with_key(iid))
    [record] = [decode_record(v) for k, v, _, _ in records if k == iid and v is not None]
    assert (record.intent, dict(record.value)) == (
        Command.RESOLVE_INCIDENT.value, {"incidentKey": 99, "retries": 2})
    assert record.principal.id == "olga"
    # and ids that name nothing are refused
    assert api.client.post(f"/api/incidents/{uuid.uuid4()}:1/resolve",
                           headers=operator).status_code == 404
    assert api.client.post("/api/incidents/not-an-id/resolve",
                           headers=operator).status_code == 404


def test_each_service_keeps_its_tables_in_its_own_schema(api: Api) -> None:
    # each service migrated its own schema under the module's base, and only its own tables
    definitions, worklist, audit, triggers = api.schemas
    tables = {schema: {row[0] for row in api.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", schema)}
        for schema in api.schemas}
    assert {"definitions", "form_schemas"} <= tables[definitions]
    assert {"audit_log", "instances"} <= tables[audit]
    assert {"tasks", "task_commands"} <= tables[worklist]
    assert {"schedules", "fires"} <= tables[triggers]
    assert not tables[definitions] & (tables[audit] | tables[worklist] | tables[triggers])
    assert not tables[audit] & (tables[worklist] | tables[triggers])
    assert not tables[worklist] & tables[triggers]
    # and the edge sends each path to the service whose tables answer it
    tasks = api.client.get("/api/tasks", params={"processId": new_pid()})
    assert (tasks.status_code, tasks.json()["count"]) == (200, 0), tasks.text
    history = api.client.get(f"/api/instances/{uuid.uuid4()}/history",
                             headers=auth_header("ida", roles=["auditor"]))
    assert history.status_code == 404, history.text


class _FatalProducer(Producer):
    """A producer in the state librdkafka reaches when an idempotent producer's sequence is
    lost for good (a broker that forgot its producer state): every produce is refused with a
    fatal error. librdkafka cannot be put there on demand, so this stands in for it."""

    def produce(self, *args: Any, **kwargs: Any) -> None:
        raise KafkaException(KafkaError(KafkaError._FATAL, "producer fenced", fatal=True))


def test_a_producer_gone_fatal_is_replaced_so_the_retry_goes_through(api: Api) -> None:
    publisher = api.deps.publisher
    broken = _FatalProducer({"bootstrap.servers": api.conns.kafka_bootstrap_servers})
    publisher._producer = broken
    pid = new_pid()
    first = api.client.post("/api/definitions", content=diagram(pid),
                            headers={"Content-Type": "application/xml"})
    # the deploy is stored; its audit record was refused: 503, retry
    assert first.status_code == 503, first.text
    assert publisher._producer is not broken
    again = api.client.post("/api/definitions", content=diagram(pid),
                            headers={"Content-Type": "application/xml"})
    assert again.status_code == 200, again.text
    events = read_topic(api.conns.kafka_bootstrap_servers, api.topics.events,
                        lambda rs: any(k == f"definition:{pid}:1" for k, _, _, _ in rs))
    assert [decode_record(v).value["to"] for k, v, _, _ in events
            if k == f"definition:{pid}:1" and v is not None] == ["DRAFT"]
