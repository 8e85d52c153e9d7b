"""The engine service against the real Kafka: every test has its own topic prefix and group,
creates its own topics, deploys through `definitions`, drives instances through `commands`
and `messages`, and asserts on what the service wrote to `events`, `jobs.<type>` and `dlq`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from psycopg import sql

from laneway.bpmn import LANEWAY_NS
from laneway.codec import (
    DefinitionRecord,
    JobRecord,
    decode_job,
    decode_record,
    encode_definition,
    encode_record,
    read_dead_letter_headers,
)
from laneway.engine import Engine, ProcessingResult
from laneway.engine.processors.call_activity import child_instance_id
from laneway.kafka import RenewingProducer, consumer_config, producer_config
from laneway.records import SYSTEM, Command, Principal, PrincipalKind, Record, RecordKind, command
from laneway.service_schemas import schema_name as audit_schema_name
from laneway.settings import Settings
from laneway.telemetry import setup_tracing
from laneway.topics import Topics, is_broadcast
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from services.audit import db as audit_db
from services.audit.metrics import SinkMetrics
from services.audit.sink import AuditSink
from services.engine.loop import EngineLoop
from services.engine.metrics import EngineMetrics
from services.engine.settings import EngineSettings
from tests.otlp_receiver import otlp_receiver

pytestmark = pytest.mark.integration

PARTITIONS = 4
ROOT = Path(__file__).resolve().parents[2]
NS = ('xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
      f'xmlns:laneway="{LANEWAY_NS}"')


def bpmn(body: str, process_id: str) -> bytes:
    """A one-process document."""
    return (f'<definitions {NS} id="d-{process_id}" targetNamespace="t">'
            f'{body.replace("PROCESS", process_id)}</definitions>').encode()


SIMPLE = """<process id="PROCESS" isExecutable="true">
  <startEvent id="s"/><task id="t"/><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
  <sequenceFlow id="f2" sourceRef="t" targetRef="e"/></process>"""
SIGNAL = """<signal id="sg" name="go"/>
  <process id="PROCESS" isExecutable="true">
  <startEvent id="s"/>
  <intermediateCatchEvent id="wait"><signalEventDefinition signalRef="sg"/>
  </intermediateCatchEvent><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
  <sequenceFlow id="f2" sourceRef="wait" targetRef="e"/></process>"""
SERVICE = """<process id="PROCESS" isExecutable="true">
  <startEvent id="s"/><serviceTask id="work" laneway:type="JOBTYPE"/><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
  <sequenceFlow id="f2" sourceRef="work" targetRef="e"/></process>"""
USER_TASK = """<process id="PROCESS" isExecutable="true">
  <startEvent id="s"/><userTask id="review"/><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
  <sequenceFlow id="f2" sourceRef="review" targetRef="e"/></process>"""
MESSAGE = """<message id="m" name="docs">
  <extensionElements><zeebe:subscription correlationKey="=ref"/></extensionElements></message>
  <process id="PROCESS" isExecutable="true">
  <startEvent id="s"/>
  <intermediateCatchEvent id="wait"><messageEventDefinition messageRef="m"/>
  </intermediateCatchEvent><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
  <sequenceFlow id="f2" sourceRef="wait" targetRef="e"/></process>"""
TIMER = """<process id="PROCESS" isExecutable="true">
  <startEvent id="s"/>
  <intermediateCatchEvent id="wait"><timerEventDefinition>
    <timeDuration>DURATION</timeDuration></timerEventDefinition></intermediateCatchEvent>
  <endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
  <sequenceFlow id="f2" sourceRef="wait" targetRef="e"/></process>"""
CALL = """<process id="PROCESS" isExecutable="true">
  <startEvent id="s"/>
  <callActivity id="call">
    <extensionElements><zeebe:calledElement processId="CHILD"/></extensionElements>
  </callActivity><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="call"/>
  <sequenceFlow id="f2" sourceRef="call" targetRef="e"/></process>"""


def partition_of(key: str, partitions: int = PARTITIONS) -> int:
    """Kafka's murmur2 partitioner (the one `laneway.kafka` configures), for choosing ids
    that land on different partitions."""
    data = key.encode()
    m, h = 0x5BD1E995, (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    for i in range(0, len(data) - len(data) % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[len(data) - len(data) % 4:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


# -- the test's own topics, clients and service ---------------------------------------------


@dataclasses.dataclass
class World:
    """One test's topics and the clients it talks to them with."""

    bootstrap: str
    topics: Topics
    group: str
    producer: Producer
    seq: int = 0

    def settings(self, replica: str = "r1") -> EngineSettings:
        """Engine settings for this test's topics and group."""
        common = dataclasses.replace(
            Settings.from_env("engine", {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap}),
            topic_prefix=self.topics.prefix, startup_timeout_s=30.0, http_port=1)
        return EngineSettings(common=common, replica=replica, group=self.group,
                              batch_size=500, poll_timeout_s=0.05, definitions_wait_s=5.0,
                              restore_timeout_s=30.0)

    def deploy(self, process_id: str, xml: bytes, version: int = 1,
               metadata: dict[str, str] | None = None) -> None:
        """What the definitions service does when a version is authorized (or retired:
        `metadata={"state": "RETIRED"}`)."""
        record = DefinitionRecord(process_id, version, xml, "digest", int(time.time() * 1000),
                                  metadata=metadata or {})
        self.producer.produce(self.topics.definitions, encode_definition(record),
                              record.key.encode())
        self.producer.flush(10)

    def send(self, intent: Command, instance_id: str, value: dict[str, Any],
             principal: Principal = SYSTEM) -> Record:
        """Produce a command where a client would (commands, or messages by correlation key)."""
        self.seq += 1
        cmd = command(intent, instance_id, value, record_id=f"test-{uuid.uuid4()}",
                      timestamp=int(time.time() * 1000), principal=principal)
        assert not is_broadcast(cmd)
        topic, key = self.topics.route(cmd)
        self.producer.produce(topic, encode_record(cmd), key.encode())
        self.producer.flush(10)
        return cmd

    def broadcast(self, name: str) -> None:
        """A signal as a client writes it: once, to the partition of its name (the engine
        fans it out to every partition)."""
        cmd = command(Command.BROADCAST_SIGNAL, "", {"name": name, "variables": {}},
                      record_id=f"test-{uuid.uuid4()}", timestamp=int(time.time() * 1000))
        self.producer.produce(self.topics.messages, encode_record(cmd), name.encode())
        self.producer.flush(10)

    def start(self, process_id: str, instance_id: str | None = None,
              variables: dict[str, Any] | None = None) -> str:
        """START_INSTANCE; the instance id."""
        iid = instance_id or str(uuid.uuid4())
        self.send(Command.START_INSTANCE, iid,
                  {"processId": process_id, "variables": variables or {}})
        return iid


class Reader:
    """Reads a topic (all partitions, from the beginning, committed records) as it grows."""

    def __init__(self, bootstrap: str, topic: str, decode: Callable[[bytes], Any]) -> None:
        self.decode = decode
        self.items: list[Any] = []
        self.raw: list[Any] = []
        self._consumer = Consumer(consumer_config(bootstrap, unique_name("reader")))
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                               for p in range(PARTITIONS)])

    def poll(self) -> list[Any]:
        """Read what arrived; everything read so far."""
        for msg in self._consumer.consume(1000, timeout=0.05):
            if msg.error() is None:
                self.raw.append(msg)
                self.items.append(self.decode(msg.value() or b""))
        return self.items

    def wait_for(self, predicate: Callable[[list[Any]], Any], timeout: float = 20.0,
                 message: str = "records") -> Any:
        """Poll until `predicate(items)` is truthy; its value."""
        return wait_until(lambda: predicate(self.poll()), timeout, 0.01, message)

    def close(self) -> None:
        """Leave."""
        self._consumer.close()


def of(records: list[Record], instance_id: str) -> list[Record]:
    """The records of one instance, in order."""
    return [r for r in records if r.instance_id == instance_id]


def completed(instance_id: str) -> Callable[[list[Record]], bool]:
    """Predicate: the instance's process element completed."""
    return lambda recs: any(r.intent == "ELEMENT_COMPLETED" and r.element_type == "process"
                            for r in of(recs, instance_id))


def find(intent: str, instance_id: str) -> Callable[[list[Record]], Record | None]:
    """Predicate: the instance's first event of this intent."""
    return lambda recs: next((r for r in of(recs, instance_id) if r.intent == intent), None)


class ThreadService:
    """The engine loop in a background thread of the test process."""

    def __init__(self, settings: EngineSettings) -> None:
        self.loop = EngineLoop(settings)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="engine")
        self._thread.start()

    def _run(self) -> None:
        try:
            self.loop.run()
        except BaseException as exc:
            self.error = exc
            raise

    def stop(self) -> None:
        """Graceful stop; the loop must not have failed."""
        self.loop.stop()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the engine loop did not stop"
        assert self.error is None, f"the engine loop failed: {self.error!r}"


@pytest.fixture
def world(stack: Connections) -> Iterator[World]:
    """A fresh set of Laneway topics under a unique prefix, and a producer for them."""
    prefix = unique_name("eng") + "."
    topics = Topics(prefix)
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
    specs = [NewTopic(t, num_partitions=PARTITIONS, replication_factor=1)
             for t in (topics.commands, topics.events, topics.messages)]
    specs += [NewTopic(topics.state, num_partitions=PARTITIONS, replication_factor=1,
                       config={"cleanup.policy": "compact"}),
              NewTopic(topics.definitions, num_partitions=1, replication_factor=1,
                       config={"cleanup.policy": "compact"}),
              NewTopic(topics.dlq, num_partitions=1, replication_factor=1)]
    for future in admin.create_topics(specs, operation_timeout=30).values():
        future.result(30)
    producer = Producer(producer_config(stack.kafka_bootstrap_servers))
    yield World(stack.kafka_bootstrap_servers, topics, unique_name("engine"), producer)
    producer.flush(10)


@pytest.fixture
def service(world: World) -> Iterator[ThreadService]:
    """The engine service on the test's topics."""
    svc = ThreadService(world.settings())
    yield svc
    svc.stop()


@pytest.fixture
def events(world: World) -> Iterator[Reader]:
    """The test's `events` topic, decoded."""
    reader = Reader(world.bootstrap, world.topics.events, decode_record)
    yield reader
    reader.close()


# -- the tests -------------------------------------------------------------------------------


def test_a_deployed_process_started_right_away_runs_to_its_end(
        world: World, service: ThreadService, events: Reader) -> None:
    world.deploy("simple", bpmn(SIMPLE, "simple"))
    iid = world.start("simple")

    events.wait_for(completed(iid), message="instance completed")

    recs = of(events.items, iid)
    assert [(r.intent, r.element_id) for r in recs if r.intent.startswith("ELEMENT")] == [
        ("ELEMENT_ACTIVATED", "simple"), ("ELEMENT_ACTIVATED", "s"), ("ELEMENT_COMPLETED", "s"),
        ("ELEMENT_ACTIVATED", "t"), ("ELEMENT_COMPLETED", "t"), ("ELEMENT_ACTIVATED", "e"),
        ("ELEMENT_COMPLETED", "e"), ("ELEMENT_COMPLETED", "simple")]
    assert all(r.kind == RecordKind.EVENT for r in recs)


# a Zeebe connector's type has colons, which no Kafka topic name may have: its topic is made
# one (laneway.topics.job_topic_part); before, creating it failed and the engine stalled
@pytest.mark.parametrize("kind", ["plain", "zeebe"])
def test_a_job_goes_to_its_type_topic_and_completing_it_twice_is_rejected(
        world: World, service: ThreadService, events: Reader, kind: str) -> None:
    job_type = unique_name("mail").replace("-", "")
    if kind == "zeebe":
        job_type = f"io.camunda:{job_type}:1"
    world.deploy("svc", bpmn(SERVICE.replace("JOBTYPE", job_type), "svc"))
    iid = world.start("svc", variables={"to": "ann"})
    jobs_topic = world.topics.jobs(job_type)
    wait_until(lambda: jobs_topic in AdminClient({"bootstrap.servers": world.bootstrap})
               .list_topics(timeout=5).topics, 20, 0.1, "jobs topic created")
    jobs = Reader(world.bootstrap, jobs_topic, decode_job)
    try:
        [job] = jobs.wait_for(lambda items: items, message="a job")
        assert isinstance(job, JobRecord)
        assert (job.instance_id, job.type, dict(job.variables)) == (iid, job_type, {"to": "ann"})
        # counted by type once its transaction committed (docs/metrics.md)
        wait_until(lambda: service.loop.metrics.registry.get_sample_value(
            "laneway_engine_jobs_created_total", {"type": job_type}) == 1, 10, 0.05,
            "the job counted under its type")

        world.send(Command.COMPLETE_JOB, iid, {"jobKey": job.key, "variables": {"sent": True}})
        events.wait_for(completed(iid), message="instance completed")
        world.send(Command.COMPLETE_JOB, iid, {"jobKey": job.key, "variables": {}})

        rejection = events.wait_for(
            lambda recs: next((r for r in of(recs, iid) if r.kind == RecordKind.REJECTION),
                              None), message="rejection")
        assert rejection.intent == "COMPLETE_JOB"
        assert jobs.poll() == [job]
    finally:
        jobs.close()


def test_a_user_task_completes_on_command(
        world: World, service: ThreadService, events: Reader) -> None:
    world.deploy("ut", bpmn(USER_TASK, "ut"))
    iid = world.start("ut")
    task = events.wait_for(find("USER_TASK_CREATED", iid), message="user task")

    world.send(Command.COMPLETE_USER_TASK, iid, {"taskKey": task.value["key"],
                                                 "variables": {"ok": True}})

    events.wait_for(completed(iid), message="instance completed")


LANED_TASK = """<process id="PROCESS" isExecutable="true">
  <laneSet id="ls"><lane id="desk" laneway:persona="clerk"><flowNodeRef>review</flowNodeRef>
  </lane></laneSet>
  <startEvent id="s"/>
  <userTask id="review" laneway:slaMinutes="0.0001" laneway:escalationConnector="JOBTYPE"/>
  <endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
  <sequenceFlow id="f2" sourceRef="review" targetRef="e"/></process>"""


def test_personas_escalation_notification_and_retirement_through_the_service(
        world: World, service: ThreadService, events: Reader) -> None:
    job_type = unique_name("notify")
    xml = bpmn(LANED_TASK.replace("JOBTYPE", job_type), "lt")
    # the review mapped the lane to another persona than the diagram's
    world.deploy("lt", xml, metadata={"state": "AUTHORIZED", "persona:desk": "registrar"})
    iid = world.start("lt")
    task = events.wait_for(find("USER_TASK_CREATED", iid), message="user task")
    assert task.value["persona"] == "registrar"
    key = task.value["key"]

    world.send(Command.COMPLETE_USER_TASK, iid, {"taskKey": key})
    refused = events.wait_for(find("COMPLETE_USER_TASK", iid), message="rejection")
    assert refused.kind == RecordKind.REJECTION
    assert refused.value["rejectionType"] == "FORBIDDEN"

    wait_until(lambda: time.time() * 1000 > task.value["dueDate"], 5, 0.001, "the task due")
    jobs = Reader(world.bootstrap, world.topics.jobs(job_type), decode_job)
    try:
        world.send(Command.ESCALATE_USER_TASK, iid, {"taskKey": key},
                   Principal(PrincipalKind.AGENT, "worklist:sla"))
        [job] = jobs.wait_for(lambda items: items, message="the notification job")
        assert isinstance(job, JobRecord)
        assert (job.instance_id, job.type, job.extra.get("notification")) == (
            iid, job_type, True)
        assert job.extra.get("taskKey") == key
    finally:
        jobs.close()

    registrar = Principal(PrincipalKind.HUMAN, "rita", (), {"personas": ["Registrar"]})
    world.send(Command.COMPLETE_USER_TASK, iid, {"taskKey": key}, registrar)
    events.wait_for(completed(iid), message="instance completed")

    world.deploy("lt", xml, metadata={"state": "RETIRED", "persona:desk": "registrar"})
    retired = wait_until(lambda: _start_rejection(world, events, "lt"), 20, 0.2,
                         "a start of the retired version rejected")
    assert retired.value["rejectionType"] == "NOT_FOUND"
    assert "retired" in retired.value["reason"]


def _start_rejection(world: World, events: Reader, process_id: str) -> Record | None:
    """Start the process and wait briefly for its answer: the rejection, or None when it
    started (the retirement had not been read yet)."""
    iid = world.start(process_id)
    first = events.wait_for(lambda recs: next(iter(of(recs, iid)), None), message="an answer")
    assert isinstance(first, Record)
    return first if first.kind == RecordKind.REJECTION else None


def test_a_message_correlates_across_partitions(
        world: World, service: ThreadService, events: Reader) -> None:
    world.deploy("msg", bpmn(MESSAGE, "msg"))
    iid = str(uuid.uuid4())
    ref = next(r for r in (f"order-{i}" for i in range(100))
               if partition_of(r) != partition_of(iid))
    world.start("msg", iid, {"ref": ref})
    events.wait_for(find("MESSAGE_SUBSCRIPTION_CREATED", iid), message="subscription")

    world.send(Command.PUBLISH_MESSAGE, "", {
        "name": "docs", "correlationKey": ref, "variables": {"pages": 3},
        "messageId": str(uuid.uuid4()), "ttl": 60_000})

    events.wait_for(completed(iid), message="instance completed")
    published = next(m for m in events.raw if decode_record(m.value()).intent
                     == "MESSAGE_PUBLISHED")
    assert published.partition() == partition_of(ref) != partition_of(iid)


CONDITIONAL_START = """<process id="PROCESS" isExecutable="true">
  <startEvent id="s"><conditionalEventDefinition><condition>=amount &gt; 100</condition>
  </conditionalEventDefinition></startEvent><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="e"/></process>"""


def test_evaluate_conditions_starts_an_instance_through_the_service(
        world: World, service: ThreadService, events: Reader) -> None:
    world.deploy("cond", bpmn(CONDITIONAL_START, "cond"))

    def answer() -> Record | None:
        # until the engine has read the definition, the command finds no process (NOT_FOUND)
        cmd = world.send(Command.EVALUATE_CONDITIONS, "", {
            "processId": "cond", "variables": {"amount": 500}})
        found = events.wait_for(lambda recs: next(
            (r for r in recs if r.record_id.startswith(cmd.record_id + ".")
             and (r.kind == RecordKind.REJECTION or (
                 r.intent == "ELEMENT_COMPLETED" and r.element_type == "process"))), None),
            message="an answer to EVALUATE_CONDITIONS")
        assert isinstance(found, Record)
        return None if found.kind == RecordKind.REJECTION else found

    done = wait_until(answer, 30, 0.2, "an instance started by its condition")
    assert done.element_id == "cond"


def test_a_timer_fires_from_the_service_heap(
        world: World, service: ThreadService, events: Reader) -> None:
    world.deploy("tm", bpmn(TIMER.replace("DURATION", "PT1S"), "tm"))
    iid = world.start("tm")
    created = events.wait_for(find("TIMER_CREATED", iid), message="timer created")

    fired = events.wait_for(find("TIMER_TRIGGERED", iid), message="timer fired")
    events.wait_for(completed(iid), message="instance completed")

    assert fired.timestamp >= created.value["due"]


def test_call_activities_complete_when_the_child_lives_on_another_partition(
        world: World, service: ThreadService, events: Reader) -> None:
    world.deploy("child", bpmn(SIMPLE, "child"))
    world.deploy("parent", bpmn(CALL.replace("CHILD", "child"), "parent"))
    parents = [p for p in (str(uuid.uuid4()) for _ in range(100))
               if all(partition_of(child_instance_id(p, k)) != partition_of(p)
                      for k in range(1, 8))][:3]
    for parent in parents:
        world.start("parent", parent)

    for parent in parents:
        events.wait_for(completed(parent), message="parent completed")
    children = {r.instance_id for r in events.items if r.intent == "ELEMENT_ACTIVATED"
                and r.element_id == "child"}
    assert len(children) == 3
    assert all(completed(c)(events.items) for c in children)


def test_an_undecodable_command_goes_to_the_dlq_and_the_loop_carries_on(
        world: World, service: ThreadService, events: Reader) -> None:
    world.deploy("simple", bpmn(SIMPLE, "simple"))
    world.producer.produce(world.topics.commands, b"not avro", b"k")
    world.producer.flush(10)
    iid = world.start("simple")
    dlq = Reader(world.bootstrap, world.topics.dlq, lambda b: b)
    try:
        [dead] = dlq.wait_for(lambda items: items, message="dead letter")
        events.wait_for(completed(iid), message="instance completed")
        assert dead == b"not avro"
        headers = read_dead_letter_headers(dlq.raw[0].headers() or [])
        assert headers["reason"] == "bad-marker"
        assert headers["topic"] == world.topics.commands
    finally:
        dlq.close()


def test_a_broadcast_signal_reaches_waiting_instances_on_every_partition(
        world: World, service: ThreadService, events: Reader) -> None:
    world.deploy("sig", bpmn(SIGNAL, "sig"))
    ids = [str(uuid.uuid4()) for _ in range(40)]
    waiting = [next(i for i in ids if partition_of(i) == p) for p in range(PARTITIONS)]
    for iid in waiting:
        world.start("sig", iid)
    for iid in waiting:
        events.wait_for(find("SIGNAL_SUBSCRIPTION_CREATED", iid), message="subscribed")

    world.broadcast("go")

    for iid in waiting:
        events.wait_for(completed(iid), message="instance completed")
    broadcasts = [r for r in events.items if r.intent == "SIGNAL_BROADCAST"]
    assert len(broadcasts) == PARTITIONS
    assert len({r.record_id for r in broadcasts}) == PARTITIONS


def test_a_failing_batch_is_aborted_redone_once_and_its_poison_record_dead_lettered(
        world: World, events: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    world.deploy("simple", bpmn(SIMPLE, "simple"))
    bomb = str(uuid.uuid4())
    original = Engine.process

    def process(self: Engine, cmd: Record, *, delivery: str = "") -> ProcessingResult:
        if cmd.instance_id == bomb:
            raise RuntimeError("engine bug")
        return original(self, cmd, delivery=delivery)

    monkeypatch.setattr(Engine, "process", process)
    # all three in one partition, so they share batches with the bomb
    ids = [str(uuid.uuid4()) for _ in range(60)]
    before, after = [i for i in ids if partition_of(i) == partition_of(bomb)][:2]
    world.start("simple", before)
    world.start("simple", bomb)
    world.start("simple", after)
    svc = ThreadService(world.settings())
    dlq = Reader(world.bootstrap, world.topics.dlq, decode_record)
    try:
        [dead] = dlq.wait_for(lambda items: items, message="dead letter")
        events.wait_for(completed(after), message="instance after the bomb completed")
    finally:
        svc.stop()
        dlq.close()

    assert dead.instance_id == bomb
    assert read_dead_letter_headers(dlq.raw[0].headers() or [])["reason"] == "unhandled"
    events.poll()
    for iid in (before, after):
        assert len([r for r in of(events.items, iid) if r.element_type == "process"]) == 2
    assert of(events.items, bomb) == []


LOOP = """<process id="PROCESS" isExecutable="true">
  <startEvent id="s"/><task id="a"/><task id="b"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="a"/>
  <sequenceFlow id="f2" sourceRef="a" targetRef="b"/>
  <sequenceFlow id="f3" sourceRef="b" targetRef="a"/></process>"""


def test_a_runaway_instance_gets_a_budget_incident_and_the_others_go_on(
        world: World, events: Reader) -> None:
    # a loop of plain tasks runs until the command's work budget; its partial events are
    # discarded (the batch is aborted and redone), the incident is committed instead, and
    # an instance on the same partition, in the same batch, completes
    world.deploy("loop", bpmn(LOOP, "loop"))
    world.deploy("simple", bpmn(SIMPLE, "simple"))
    runaway = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(60)]
    before, after, later = [i for i in ids if partition_of(i) == partition_of(runaway)][:3]
    world.start("simple", before)
    world.start("loop", runaway)
    world.start("simple", after)
    registry = EngineMetrics.default().registry

    def raised() -> float:
        return registry.get_sample_value("laneway_engine_incidents_created_total") or 0.0

    incidents_before = raised()
    svc = ThreadService(world.settings())
    dlq = Reader(world.bootstrap, world.topics.dlq, decode_record)
    try:
        incident = events.wait_for(find("INCIDENT_CREATED", runaway), timeout=60,
                                   message="the runaway's incident")
        events.wait_for(completed(after), message="the instance after the runaway completed")
        # the incident is counted once committed, for the incidents-rising alert
        wait_until(lambda: raised() > incidents_before, 10, 0.05, "the incident counted")
    finally:
        svc.stop()
    assert incident.value["errorType"] == "BUDGET_EXCEEDED"
    assert "more than 10000 events" in incident.value["message"]
    # nothing of the runaway's loop reached the topic
    assert [r.intent for r in of(events.poll(), runaway)] == [
        "ELEMENT_ACTIVATED", "INCIDENT_CREATED"]
    assert completed(before)(events.items)

    # the command was committed: a restarted service does not run it again
    svc = ThreadService(world.settings())
    try:
        world.start("simple", later)
        events.wait_for(completed(later), message="an instance started after the restart")
        assert dlq.poll() == []
    finally:
        svc.stop()
        dlq.close()
    assert [r.intent for r in of(events.poll(), runaway)] == [
        "ELEMENT_ACTIVATED", "INCIDENT_CREATED"]


def free_port() -> int:
    """A port nobody listens on now (for the subprocess's health endpoint)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SubprocessService:
    """`python -m services.engine` as a deployment runs it, with its log kept for failures."""

    def __init__(self, world: World, replica: str, log_dir: Path,
                 extra: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.log = log_dir / f"engine-{replica}.log"
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": world.bootstrap,
               "LANEWAY_TOPIC_PREFIX": world.topics.prefix,
               "LANEWAY_ENGINE_GROUP": world.group, "LANEWAY_ENGINE_REPLICA": replica,
               "LANEWAY_HTTP_PORT": str(self.port), "LANEWAY_ENGINE_POLL_S": "0.05",
               "PYTHONPATH": str(ROOT), **(extra or {})}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "services.engine"], cwd=ROOT,
                                         env=env, stdout=out, stderr=subprocess.STDOUT)

    def health(self, path: str = "/health") -> int:
        """The status of GET `path` (0 when it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                        timeout=2) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return 0

    def health_body(self) -> dict[str, Any]:
        """The body of GET /health, whatever its status."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health",
                                        timeout=2) as resp:
                return dict(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read()))

    def terminate(self) -> None:
        """SIGTERM; it must stop cleanly."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        assert code == 0, f"exit {code}:\n{self.log.read_text()[-4000:]}"


def test_a_restarted_service_restores_parked_instances_and_their_timers(
        world: World, events: Reader, tmp_path: Path) -> None:
    world.deploy("ut", bpmn(USER_TASK, "ut"))
    # long enough that the first replica cannot fire it before it is stopped, even when a
    # loaded machine makes its start and stop take seconds (PT5S fired in the first one)
    world.deploy("tm", bpmn(TIMER.replace("DURATION", "PT15S"), "tm"))
    first = SubprocessService(world, "a", tmp_path)
    try:
        waiting = world.start("ut")
        timed = world.start("tm")
        task = events.wait_for(find("USER_TASK_CREATED", waiting), message="user task")
        events.wait_for(find("TIMER_CREATED", timed), message="timer created")
    finally:
        first.terminate()
    stopped = int(time.time() * 1000)

    second = SubprocessService(world, "b", tmp_path)
    try:
        wait_until(lambda: second.health() == 200, 20, 0.1, "healthy")
        # ready once its partitions are restored: started, and alive
        assert (second.health("/health/started"), second.health("/health/live")) == (200, 200)
        world.send(Command.COMPLETE_USER_TASK, waiting, {"taskKey": task.value["key"]})
        events.wait_for(completed(waiting), message="user task instance completed")
        fired = events.wait_for(find("TIMER_TRIGGERED", timed), 60, message="timer fired")
        events.wait_for(completed(timed), message="timer instance completed")
    finally:
        second.terminate()
    # the trigger's time is when the replica wrote it: after the first one stopped
    assert fired.timestamp > stopped
    assert [r.intent for r in events.items if r.kind == RecordKind.REJECTION] == []


def _rejections(recs: list[Record], instance_id: str) -> list[Record]:
    return [r for r in of(recs, instance_id) if r.kind == RecordKind.REJECTION]


def test_an_ended_instance_id_is_not_started_again_even_after_a_restart(
        world: World, events: Reader) -> None:
    world.deploy("simple", bpmn(SIMPLE, "simple"))
    first = ThreadService(world.settings("a"))
    try:
        iid = world.start("simple")
        events.wait_for(completed(iid), message="instance completed")
        world.start("simple", iid)
        [again] = events.wait_for(lambda recs: _rejections(recs, iid), message="rejection")
    finally:
        first.stop()
    assert again.value["rejectionType"] == "ALREADY_EXISTS"
    assert "ended" in again.value["reason"]

    # a fresh replica restores the ended id from `state`, not from its memory
    second = ThreadService(world.settings("b"))
    try:
        world.start("simple", iid)
        events.wait_for(lambda recs: len(_rejections(recs, iid)) == 2,
                        message="second rejection")
    finally:
        second.stop()
    starts = [r for r in of(events.items, iid)
              if r.intent == "ELEMENT_ACTIVATED" and r.element_type == "process"]
    assert len(starts) == 1


def test_an_ended_instance_id_is_forgotten_after_the_retention(
        world: World, events: Reader) -> None:
    world.deploy("simple", bpmn(SIMPLE, "simple"))
    state = Reader(world.bootstrap, world.topics.state, lambda data: data)
    svc = ThreadService(dataclasses.replace(world.settings(), ended_ids_retention_s=1.0))
    try:
        iid = world.start("simple")
        events.wait_for(completed(iid), message="completed")
        key = f"__ended__/{iid}".encode()
        # the marker, then (once the retention has passed, with no other traffic) its tombstone
        state.wait_for(lambda _: [m.value() is None for m in state.raw if m.key() == key]
                       == [False, True], message="marker written and then deleted")
        world.start("simple", iid)
        events.wait_for(lambda recs: len([
            r for r in of(recs, iid)
            if r.intent == "ELEMENT_COMPLETED" and r.element_type == "process"]) == 2,
            message="started again")
    finally:
        svc.stop()
        state.close()
    assert _rejections(events.items, iid) == []


def test_health_fails_naming_the_loop_when_the_engine_keeps_failing_on_one_batch(
        world: World, events: Reader, tmp_path: Path) -> None:
    # a `jobs.<type>` topic an operator made smaller than the job's record: the broker refuses
    # the record at the transaction's commit (a Kafka error, which the loop retries, as it
    # would a broker that is away), so the batch aborts, is read again and fails again
    job_type = unique_name("tiny").replace("-", "")
    admin = AdminClient({"bootstrap.servers": world.bootstrap})
    topic = world.topics.jobs(job_type)
    # (room for the broker's own transaction markers, about 80 bytes; not for the job, whose
    # variables do not compress)
    admin.create_topics([NewTopic(topic, 1, 1, config={"max.message.bytes": "512"})])[
        topic].result(30)
    world.deploy("badjob", bpmn(SERVICE.replace("JOBTYPE", job_type), "badjob"))
    svc = SubprocessService(world, "stuck", tmp_path, {"LANEWAY_STALL_S": "2"})
    try:
        wait_until(lambda: svc.health() == 200, 30, 0.1, "healthy")
        world.start("badjob", variables={"letter": secrets.token_hex(2000)})
        body = wait_until(lambda: svc.health_body() if svc.health() == 503 else None, 30,
                          0.1, "unhealthy")
        # not ready, but alive: the loop goes round (aborts and retries), and a restart
        # would fail on the same record, so the liveness probe leaves it be
        live = [svc.health("/health/live") for _ in range(3)]
        ready = svc.health("/health/ready")
    finally:
        svc.terminate()
    assert live == [200, 200, 200]
    assert ready == 503
    assert list(body["failing"]) == ["loop"]
    assert "engine loop has kept failing at" in body["failing"]["loop"]
    assert f"{world.topics.commands}[" in body["failing"]["loop"]


def test_the_audit_sink_keeps_the_events_and_every_rejection_of_one_command(
        world: World, events: Reader, stack: Connections) -> None:
    # given the engine and the audit sink (which skips a record id it already has)
    world.deploy("simple", bpmn(SIMPLE, "simple"))
    schema = audit_schema_name(unique_name("ids").replace("-", "_"), "audit")
    audit_db.ensure_schema(stack.database_url, schema)
    with audit_db.connect(stack.database_url, schema) as conn:
        audit_db.migrate(conn)
    sink = AuditSink(
        Consumer(consumer_config(world.bootstrap, unique_name(f"{world.topics.prefix}audit"))),
        RenewingProducer.from_config(producer_config(world.bootstrap)),
        lambda: audit_db.connect(stack.database_url, schema),
        events_topic=world.topics.events, dlq_topic=world.topics.dlq, poll_timeout_s=0.05,
        metrics=SinkMetrics(CollectorRegistry()))
    thread = threading.Thread(target=sink.run, name="audit-sink", daemon=True)
    thread.start()
    svc = ThreadService(world.settings())
    try:
        # when one START_INSTANCE reaches the engine three times (a client's retries)
        iid = str(uuid.uuid4())
        cmd = command(Command.START_INSTANCE, iid, {"processId": "simple", "variables": {}},
                      record_id=f"test-{uuid.uuid4()}", timestamp=int(time.time() * 1000))
        for _ in range(3):
            world.producer.produce(world.topics.commands, encode_record(cmd), iid.encode())
        world.producer.flush(10)
        events.wait_for(lambda recs: len(_rejections(recs, iid)) == 2, message="2 rejections")

        # then the log has its events and both rejections, each once
        def rows() -> list[tuple[str, str]] | None:
            with audit_db.connect(stack.database_url, schema) as conn:
                got = [(str(k), str(r)) for k, r in conn.execute(
                    "SELECT kind, record_id FROM audit_log WHERE instance_id = %s ORDER BY seq",
                    (iid,))]
            return got if len(got) == len(of(events.poll(), iid)) else None

        logged = wait_until(rows, 30, 0.1, "every record of the instance in the audit log")
    finally:
        svc.stop()
        sink.stop()
        thread.join(30)
        sink.close()
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    kinds = [kind for kind, _ in logged]
    assert kinds.count("REJECTION") == 2
    assert kinds.count("EVENT") == len(logged) - 2
    assert len({record_id for _, record_id in logged}) == len(logged)


def test_the_service_exports_a_span_per_command_to_the_otlp_endpoint_and_logs_json(
        world: World, events: Reader, tmp_path: Path) -> None:
    # the OTEL_* settings pass through to the process as a deployment sets them
    world.deploy("simple", bpmn(SIMPLE, "simple"))
    with otlp_receiver() as received:
        svc = SubprocessService(world, "traced", tmp_path, {
            "OTEL_EXPORTER_OTLP_ENDPOINT": received.url, "OTEL_BSP_SCHEDULE_DELAY": "100"})
        try:
            iid = world.start("simple")
            events.wait_for(completed(iid), message="instance completed")
        finally:
            svc.terminate()  # flushes what is still queued
        spans = [(service, s) for service, s in received.spans()
                 if s.name == "laneway.engine.start_instance"
                 and s.trace_id.hex() == iid.replace("-", "")]
    assert [service for service, _ in spans] == ["laneway-engine"]
    ((_, span),) = spans
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["laneway.instance_id"].string_value == iid
    assert attributes["laneway.events.count"].int_value == len(of(events.items, iid))
    # every line of its log is one JSON object naming the service
    lines = [json.loads(line) for line in svc.log.read_text().splitlines() if line.strip()]
    assert lines
    assert {line["service"] for line in lines} == {"engine"}


def test_the_audit_sinks_write_joins_the_instances_trace_under_the_engines_span(
        world: World, events: Reader, stack: Connections, tmp_path: Path) -> None:
    # given the engine process exporting over OTLP, and the audit sink in this process with
    # the SDK's in-memory exporter
    world.deploy("simple", bpmn(SIMPLE, "simple"))
    schema = audit_schema_name(unique_name("trc").replace("-", "_"), "audit")
    audit_db.ensure_schema(stack.database_url, schema)
    with audit_db.connect(stack.database_url, schema) as conn:
        audit_db.migrate(conn)
    exporter = InMemorySpanExporter()
    telemetry = setup_tracing("audit", {}, exporter=exporter)
    sink = AuditSink(
        Consumer(consumer_config(world.bootstrap, unique_name(f"{world.topics.prefix}audit"))),
        RenewingProducer.from_config(producer_config(world.bootstrap)),
        lambda: audit_db.connect(stack.database_url, schema),
        events_topic=world.topics.events, dlq_topic=world.topics.dlq, poll_timeout_s=0.05,
        metrics=SinkMetrics(CollectorRegistry()))
    thread = threading.Thread(target=sink.run, name="audit-sink", daemon=True)
    thread.start()
    try:
        with otlp_receiver() as received:
            svc = SubprocessService(world, "traced", tmp_path, {
                "OTEL_EXPORTER_OTLP_ENDPOINT": received.url, "OTEL_BSP_SCHEDULE_DELAY": "100"})
            try:
                iid = world.start("simple")
                events.wait_for(completed(iid), message="instance completed")

                def written() -> list[ReadableSpan] | None:
                    assert telemetry.provider is not None
                    telemetry.provider.force_flush()
                    return [s for s in exporter.get_finished_spans()
                            if s.name == "laneway.audit.write"
                            and dict(s.attributes or {})["laneway.instance_id"] == iid] or None

                (write,) = wait_until(written, 30, 0.1, "the audit write's span")
            finally:
                svc.terminate()
            (engine,) = [s for _, s in received.spans()
                         if s.name == "laneway.engine.start_instance"
                         and s.trace_id.hex() == iid.replace("-", "")]
    finally:
        sink.stop()
        thread.join(30)
        sink.close()
        telemetry.shutdown()
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    # then the write is in the instance's trace, a child of the engine's command span
    assert write.context is not None
    assert f"{write.context.trace_id:032x}" == iid.replace("-", "")
    assert write.parent is not None
    assert write.parent.span_id == int.from_bytes(engine.span_id, "big")
    assert dict(write.attributes or {})["laneway.audit.rows"] == len(of(events.items, iid))


JS_LOOP = """<process id="PROCESS" isExecutable="true">
  <startEvent id="s"/>
  <scriptTask id="js" scriptFormat="javascript"><script>SCRIPT</script></scriptTask>
  <exclusiveGateway id="more" default="done"/><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="js"/>
  <sequenceFlow id="f2" sourceRef="js" targetRef="more"/>
  <sequenceFlow id="again" sourceRef="more" targetRef="js">
    <conditionExpression>=i &lt; 5</conditionExpression></sequenceFlow>
  <sequenceFlow id="done" sourceRef="more" targetRef="e"/></process>"""


def test_javascript_runs_in_the_service_and_a_runaway_script_is_an_incident(
        world: World, events: Reader) -> None:
    # the script loops on its own variable until the gateway lets it out; a script that never
    # ends stops at its time limit with an incident, and the loop goes on with the next one
    world.deploy("counts", bpmn(JS_LOOP.replace("SCRIPT", "i++"), "counts"))
    world.deploy("spins", bpmn(JS_LOOP.replace("SCRIPT", "while (true) {}"), "spins"))
    settings = world.settings()
    settings = dataclasses.replace(settings, limits=dataclasses.replace(
        settings.limits, scripts=dataclasses.replace(settings.limits.scripts,
                                                     max_seconds=0.2)))
    svc = ThreadService(settings)
    try:
        spinning = world.start("spins", variables={"i": 0})
        counting = world.start("counts", variables={"i": 0})
        incident = events.wait_for(find("INCIDENT_CREATED", spinning), timeout=60,
                                   message="the spinning script's incident")
        events.wait_for(completed(counting), message="the counting instance completed")
    finally:
        svc.stop()
    assert incident.value["errorType"] == "SCRIPT_ERROR"
    assert "ran longer than 0.2 s" in incident.value["message"]
    ends = [r for r in of(events.items, counting)
            if r.intent == "ELEMENT_COMPLETED" and r.element_id == "counts"]
    assert ends[0].value["variables"] == {"i": 5}
