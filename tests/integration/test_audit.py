"""The audit service against the real Kafka and PostgreSQL.

Records come from real engine runs (`LocalRunner`), encoded and produced to this module's own
`events` topic (a unique prefix); the sink writes them into this module's own PostgreSQL
schema. The HTTP routes are mounted on a bare FastAPI app. The crash test runs the service as
a subprocess (`python -m services.audit`) and kills it with SIGKILL mid-stream.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from psycopg import sql

from laneway.bpmn import LANEWAY_NS, parse
from laneway.codec import encode_record, read_dead_letter_headers
from laneway.engine import DefinitionRepository
from laneway.engine.appliers import LATEST_VERSION, RECORD_VERSION
from laneway.engine.runner import Answers, LocalRunner
from laneway.health import HealthChecks
from laneway.kafka import RenewingProducer, consumer_config, producer_config
from laneway.records import SYSTEM, Command, Principal, PrincipalKind, Record, RecordKind
from laneway.service_schemas import schema_name
from laneway.topics import Topics
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from services.audit.app import create_app
from services.audit.chain import verify_chain
from services.audit.db import MIGRATIONS_DIR, connect, ensure_schema, migrate, open_pool
from services.audit.deps import AuditDeps
from services.audit.metrics import SinkMetrics
from services.audit.queries import rows
from services.audit.sink import AuditSink
from tests.auth import auth_header, verifier
from tests.ports import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 3

ANA = Principal(PrincipalKind.HUMAN, "ana", ("clerk",),
                {"iss": "https://idp.example", "mfa": True, "amr": ["pwd", "otp"],
                 "exp": 1_767_229_200})
CREDIT_BOT = Principal(PrincipalKind.AGENT, "connector:credit", ("connector",))
# the routes want a bearer token with the role auditor or operator (or admin)
AUDITOR = auth_header("audrey", roles=["auditor"])

_NS = ('xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
       f'xmlns:laneway="{LANEWAY_NS}"')


def _definitions(body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><definitions {_NS} id="d" '
            f'targetNamespace="http://laneway.test">{body}</definitions>').encode()


# A user task, then a service task whose BPMN error a boundary event catches.
LOAN = _definitions("""
<error id="declined" errorCode="DECLINED"/>
<process id="loan" isExecutable="true">
  <startEvent id="s"/>
  <userTask id="prepare"/>
  <serviceTask id="check" laneway:type="credit"/>
  <boundaryEvent id="on_declined" attachedToRef="check">
    <errorEventDefinition errorRef="declined"/>
  </boundaryEvent>
  <endEvent id="approved"/>
  <endEvent id="rejected"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="prepare"/>
  <sequenceFlow id="f2" sourceRef="prepare" targetRef="check"/>
  <sequenceFlow id="f3" sourceRef="check" targetRef="approved"/>
  <sequenceFlow id="f4" sourceRef="on_declined" targetRef="rejected"/>
</process>
""")

# A parent calls a child that waits for a message: records of the parent, the child and the
# message side (no instance) interleave.
CALLS = _definitions("""
<message id="m" name="paid"/>
<process id="parent" isExecutable="true">
  <startEvent id="ps"/>
  <callActivity id="call" calledElement="child"/>
  <endEvent id="pe"/>
  <sequenceFlow id="p1" sourceRef="ps" targetRef="call"/>
  <sequenceFlow id="p2" sourceRef="call" targetRef="pe"/>
</process>
<process id="child" isExecutable="true">
  <startEvent id="cs"/>
  <intermediateCatchEvent id="wait">
    <messageEventDefinition messageRef="m"/>
    <extensionElements/>
  </intermediateCatchEvent>
  <serviceTask id="ship" laneway:type="ship"/>
  <endEvent id="ce"/>
  <sequenceFlow id="c1" sourceRef="cs" targetRef="wait"/>
  <sequenceFlow id="c2" sourceRef="wait" targetRef="ship"/>
  <sequenceFlow id="c3" sourceRef="ship" targetRef="ce"/>
</process>
""")

SMALL = _definitions("""
<process id="small" isExecutable="true">
  <startEvent id="s"/><serviceTask id="t" laneway:type="w"/><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
  <sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
</process>
""")


# -- running the engine ---------------------------------------------------------------------

@dataclasses.dataclass
class Run:
    """A LocalRunner run: every record it emitted (ids made unique to this run), and each
    instance's state after every command that emitted a record of it, by that record's seq."""

    runner: LocalRunner
    records: list[Record] = dataclasses.field(default_factory=list)
    states: dict[str, list[tuple[int, dict[str, Any]]]] = dataclasses.field(
        default_factory=dict)

    def of(self, instance_id: str) -> list[Record]:
        return [r for r in self.records if r.instance_id == instance_id]


def _engine_run(*documents: bytes) -> Run:
    repository = DefinitionRepository()
    for doc in documents:
        repository.deploy(parse(doc, "test.bpmn"))
    run = Run(LocalRunner(repository, keep_records=True))
    tag = uuid.uuid4().hex[:8]
    seqs: dict[str, int] = {}
    engine = run.runner.engine
    process = engine.process

    def recording(cmd: Record) -> Any:
        result = process(cmd)
        touched: set[str] = set()
        for rec in result.events:
            # record ids are unique per runner only ("run-N.M"); the log wants them unique
            run.records.append(dataclasses.replace(rec, record_id=f"{tag}-{rec.record_id}"))
            seqs[rec.instance_id] = seqs.get(rec.instance_id, 0) + 1
            touched.add(rec.instance_id)
        for iid in touched:
            inst = engine.state.instances.get(iid)
            if inst is not None:
                run.states.setdefault(iid, []).append((seqs[iid], _plain(inst.to_dict())))
        return result

    engine.process = recording  # type: ignore[method-assign]
    return run


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True))


def _loan_run(count: int = 3) -> tuple[Run, list[str]]:
    """`count` loan instances: each prepared by Ana, declined by the credit connector (the
    boundary catches it), and one refused second completion of the user task."""
    run = _engine_run(LOAN)
    runner = run.runner
    ids = []
    for n in range(count):
        runner.principal = ANA
        iid = runner.start("loan", {"amount": 1000 + n, "ratio": 0.25},
                           instance_id=str(uuid.uuid4()))
        runner.drain()
        inst = runner.instance(iid)
        assert inst is not None
        task_key = next(iter(inst.user_tasks))
        runner.submit(Command.COMPLETE_USER_TASK, iid, {"taskKey": task_key,
                                                        "variables": {"ok": True}})
        runner.drain()
        runner.submit(Command.COMPLETE_USER_TASK, iid, {"taskKey": task_key, "variables": {}})
        runner.drain()  # rejected: the task is done
        runner.principal = CREDIT_BOT
        job = next(r for r in run.of(iid) if r.intent == "JOB_CREATED")
        runner.submit(Command.THROW_ERROR, iid, {"jobKey": job.value["key"],
                                                 "errorCode": "DECLINED",
                                                 "variables": {"score": 310}})
        runner.drain()
        runner.principal = SYSTEM
        ids.append(iid)
    return run, ids


# -- fixtures -------------------------------------------------------------------------------

@dataclasses.dataclass
class Env:
    """This module's topics, schema, sink and API."""

    stack: Connections
    topics: Topics
    schema: str
    sink: AuditSink
    metrics: SinkMetrics
    api: TestClient
    producer: Producer

    def produce(self, records: list[Record]) -> None:
        for rec in records:
            self.producer.produce(self.topics.events, key=rec.instance_id.encode(),
                                  value=encode_record(rec))
            self.producer.poll(0)
        assert self.producer.flush(30) == 0

    def db(self) -> psycopg.Connection[Any]:
        return connect(self.stack.database_url, self.schema, autocommit=True)

    def count(self, instance_id: str | None = None) -> int:
        with self.db() as conn:
            if instance_id is None:
                row = conn.execute("SELECT count(*) FROM audit_log").fetchone()
            else:
                row = conn.execute("SELECT count(*) FROM audit_log WHERE instance_id = %s",
                                   (instance_id,)).fetchone()
        assert row is not None
        return int(row[0])


def _create_topics(bootstrap: str, topics: Topics) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topics.events, PARTITIONS, 1),
                                   NewTopic(topics.dlq, 1, 1)])
    for future in futures.values():
        future.result(timeout=30)


def _drop(stack: Connections, topics: Topics, schema: str) -> None:
    AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers}).delete_topics(
        [topics.events, topics.dlq])
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _migrated_schema(stack: Connections) -> str:
    """The audit's schema under a fresh base (`<base>_audit`, as the service names it)."""
    schema = schema_name(unique_name("audit").replace("-", "_"), "audit")
    ensure_schema(stack.database_url, schema)
    with connect(stack.database_url, schema) as conn:
        # every migration of the directory, in name order (other items add theirs)
        applied = migrate(conn)
        assert applied[:2] == ["001_audit_log.sql", "002_instances.sql"]
        assert applied == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
        assert {"003_append_only_roles.sql", "004_instance_readers.sql"} <= set(applied)
        assert migrate(conn) == []  # idempotent
    return schema


@pytest.fixture(scope="module")
def env(stack: Connections) -> Iterator[Env]:
    topics = Topics(unique_name("audit") + ".")
    _create_topics(stack.kafka_bootstrap_servers, topics)
    schema = _migrated_schema(stack)
    metrics = SinkMetrics(CollectorRegistry())
    sink = AuditSink(
        Consumer(consumer_config(stack.kafka_bootstrap_servers, f"{topics.prefix}audit")),
        RenewingProducer.from_config(producer_config(stack.kafka_bootstrap_servers)),
        lambda: connect(stack.database_url, schema),
        events_topic=topics.events, dlq_topic=topics.dlq, batch_size=1000,
        poll_timeout_s=0.05, metrics=metrics)
    thread = threading.Thread(target=sink.run, name="audit-sink", daemon=True)
    thread.start()
    pool = open_pool(stack.database_url, schema)
    app = create_app(verifier(), HealthChecks("audit"), CollectorRegistry(), AuditDeps(pool))
    producer = Producer(producer_config(stack.kafka_bootstrap_servers))
    try:
        yield Env(stack, topics, schema, sink, metrics, TestClient(app, headers=AUDITOR),
                  producer)
    finally:
        sink.stop()
        thread.join(30)
        sink.close()
        pool.close()
        _drop(stack, topics, schema)


@pytest.fixture(scope="module")
def loans(env: Env) -> tuple[Run, list[str]]:
    """Three loan instances, produced once and written by the sink."""
    run, ids = _loan_run(3)
    env.produce(run.records)
    for iid in ids:
        wait_until(lambda iid=iid: env.count(iid) == len(run.of(iid)), 30,
                   message=f"all records of {iid} written")
    return run, ids


# -- the tests ------------------------------------------------------------------------------

def test_given_an_engine_run_when_produced_then_every_record_is_written_in_order(
    env: Env, loans: tuple[Run, list[str]],
) -> None:
    run, ids = loans
    for iid in ids:
        with env.db() as conn:
            stored = conn.execute(
                "SELECT seq, record_id, kind, intent, principal->>'id', prev_hash, hash "
                "FROM audit_log WHERE instance_id = %s ORDER BY seq", (iid,)).fetchall()
        expected = run.of(iid)
        assert [s[0] for s in stored] == list(range(1, len(expected) + 1))
        assert [s[1] for s in stored] == [r.record_id for r in expected]
        assert [(s[2], s[3], s[4]) for s in stored] == [
            (r.kind.value, r.intent, r.principal.id) for r in expected]
        assert stored[0][5] == "0" * 64
        assert all(b[5] == a[6] for a, b in itertools.pairwise(stored))
    kinds = {r.kind for r in run.records}
    assert kinds == {RecordKind.EVENT, RecordKind.REJECTION}


def test_history_returns_the_events_with_principals_paged(
    env: Env, loans: tuple[Run, list[str]],
) -> None:
    run, ids = loans
    iid = ids[0]
    expected = run.of(iid)
    page = env.api.get(f"/api/instances/{iid}/history", params={"limit": 1000}).json()
    events = page["events"]
    assert [e["seq"] for e in events] == list(range(1, len(expected) + 1))
    assert page["nextAfter"] is None
    first = events[0]
    assert first["time"] == "2026-01-01T00:00:00.000Z"
    assert (first["kind"], first["intent"], first["elementId"], first["elementType"]) == (
        "EVENT", "ELEMENT_ACTIVATED", "loan", "process")
    assert first["principal"] == {"kind": "human", "id": "ana", "roles": ["clerk"]}
    declined = next(e for e in events if e["intent"] == "JOB_ERROR_THROWN")
    assert declined["principal"] == {"kind": "agent", "id": "connector:credit",
                                     "roles": ["connector"]}
    refused = [e for e in events if e["kind"] == "REJECTION"]
    assert len(refused) == 1
    assert refused[0]["intent"] == "COMPLETE_USER_TASK"
    assert refused[0]["value"]["reason"]
    assert events[-1]["intent"] == "ELEMENT_COMPLETED"
    assert events[-1]["elementId"] == "loan"

    paged: list[dict[str, Any]] = []
    after = 0
    while True:
        got = env.api.get(f"/api/instances/{iid}/history",
                          params={"after": after, "limit": 7}).json()
        paged.extend(got["events"])
        if got["nextAfter"] is None:
            break
        after = got["nextAfter"]
    assert paged == events
    assert env.api.get(f"/api/instances/{uuid.uuid4()}/history").status_code == 404
    assert env.api.get(f"/api/instances/{iid}/history",
                       params={"limit": 0}).status_code == 422


def test_the_audit_routes_want_a_token_of_an_auditor_or_operator(
    env: Env, loans: tuple[Run, list[str]],
) -> None:
    _, ids = loans
    path = f"/api/instances/{ids[0]}/history"
    anonymous = env.api.get(path, headers={"Authorization": ""})
    clerk = env.api.get(path, headers=auth_header("ana", roles=["clerk", "modeler"]))
    operator = env.api.get(path, headers=auth_header("olga", roles=["operator"]))
    admin = env.api.get(f"/api/instances/{ids[0]}/verify",
                        headers=auth_header("root", roles=["admin"]))

    assert anonymous.status_code == 401, anonymous.text
    assert clerk.status_code == 403, clerk.text
    assert "auditor" in clerk.json()["detail"]
    assert operator.status_code == 200, operator.text
    assert admin.status_code == 200, admin.text


def test_replay_at_every_command_equals_the_engine_state_then(
    env: Env, loans: tuple[Run, list[str]],
) -> None:
    run, ids = loans
    iid = ids[1]
    points = run.states[iid]
    assert len(points) >= 4
    for seq, state in points:
        got = env.api.get(f"/api/instances/{iid}/replay", params={"upTo": seq})
        assert got.status_code == 200, got.text
        body = got.json()
        assert (body["upTo"], body["verified"]) == (seq, True)
        assert body["state"] == state, f"replay at seq {seq} differs from the engine's state"
    whole = env.api.get(f"/api/instances/{iid}/replay").json()
    assert whole["state"]["status"] == "COMPLETED"
    assert whole["upTo"] == len(run.of(iid))


def test_replay_of_a_called_instance_and_a_correlated_message(env: Env) -> None:
    # given a parent that calls a child, which waits for a message, then a job
    run = _engine_run(CALLS)
    runner = run.runner
    runner.principal = ANA
    parent = runner.start("parent", {"order": 7}, instance_id=str(uuid.uuid4()))
    runner.drain()
    runner.submit(Command.PUBLISH_MESSAGE, "", {"name": "paid", "correlationKey": "",
                                                "variables": {"paid": True},
                                                "messageId": str(uuid.uuid4()), "ttl": 0})
    runner.run(parent, Answers(jobs={"ship": {"shipped": 1}}))
    child = next(i for i in run.states if i not in ("", parent))
    assert runner.outcome(parent).status == "COMPLETED"
    assert any(r.instance_id == "" for r in run.records), "expected message-side records"
    # when every record is written
    env.produce(run.records)
    for iid in (parent, child, ""):
        wait_until(lambda iid=iid: env.count(iid) >= len(run.of(iid)), 30,
                   message=f"records of '{iid}' written")
    # then replay rebuilds each instance's state at every point from its own log only
    for iid in (parent, child):
        for seq, state in run.states[iid]:
            body = env.api.get(f"/api/instances/{iid}/replay", params={"upTo": seq}).json()
            assert body["state"] == state, f"replay of {iid} at seq {seq} differs"
        assert env.api.get(f"/api/instances/{iid}/verify").json()["ok"]


def test_verify_passes_then_names_a_changed_row_and_a_deleted_row(
    env: Env, loans: tuple[Run, list[str]],
) -> None:
    _, ids = loans
    changed, deleted = ids[0], ids[2]
    counted = env.api.app.state.deps.metrics.registry

    def verifications(result: str) -> float:
        return counted.get_sample_value("laneway_audit_chain_verifications_total",
                                        {"result": result}) or 0.0

    ok_before, failed_before = verifications("ok"), verifications("failed")
    for iid in (changed, deleted):
        body = env.api.get(f"/api/instances/{iid}/verify").json()
        assert body["ok"], body
        assert body["firstBadSeq"] is None

    # the database refuses edits unless maintenance is switched on
    with env.db() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE audit_log SET value = '{}' WHERE instance_id = %s AND seq = 5",
                     (changed,))
    with env.db() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM audit_log WHERE instance_id = %s", (deleted,))

    # when one row's value is edited directly in PostgreSQL
    with env.db() as conn, conn.transaction():
        conn.execute("SET LOCAL laneway.audit_maintenance = on")
        conn.execute("UPDATE audit_log SET value = jsonb_set(value, '{forged}', 'true') "
                     "WHERE instance_id = %s AND seq = 5", (changed,))
    body = env.api.get(f"/api/instances/{changed}/verify").json()
    assert (body["ok"], body["firstBadSeq"]) == (False, 5)
    assert "changed" in body["reason"]

    # when a row is deleted
    with env.db() as conn, conn.transaction():
        conn.execute("SET LOCAL laneway.audit_maintenance = on")
        conn.execute("DELETE FROM audit_log WHERE instance_id = %s AND seq = 8", (deleted,))
    body = env.api.get(f"/api/instances/{deleted}/verify").json()
    assert (body["ok"], body["firstBadSeq"]) == (False, 8)
    assert "missing" in body["reason"]
    # each answer counted, for the alert on failed verifications (docs/metrics.md)
    assert verifications("ok") - ok_before == 2
    assert verifications("failed") - failed_before == 2
    # a replay over the gap says it is not verified
    assert env.api.get(f"/api/instances/{deleted}/replay").json()["verified"] is False
    assert env.api.get(f"/api/instances/{uuid.uuid4()}/verify").status_code == 404


def test_replay_of_a_log_a_newer_engine_wrote_is_refused_with_a_problem_not_a_500(
    env: Env,
) -> None:
    # given an instance whose log holds an event of an applier version this engine lacks
    run, ids = _loan_run(1)
    iid = ids[0]
    records = run.of(iid)
    at = next(i for i, r in enumerate(records)
              if r.kind is RecordKind.EVENT and r.intent in LATEST_VERSION and i > 0)
    newer = records[at]
    records[at] = dataclasses.replace(newer, value={
        **newer.value, RECORD_VERSION: LATEST_VERSION[newer.intent] + 1})
    env.produce(records)
    wait_until(lambda: env.count(iid) == len(records), 30, message="the log written")

    # when it is replayed past that event, and up to the event before it
    refused = env.api.get(f"/api/instances/{iid}/replay")
    before = env.api.get(f"/api/instances/{iid}/replay", params={"upTo": at})

    # then the replay is refused naming the version, and the log itself is sound
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert f"version {LATEST_VERSION[newer.intent] + 1}" in refused.json()["detail"]
    assert before.status_code == 200, before.text
    assert env.api.get(f"/api/instances/{iid}/verify").json()["ok"] is True


def test_redelivered_records_add_no_rows(env: Env) -> None:
    run, ids = _loan_run(2)
    env.produce(run.records)
    wait_until(lambda: all(env.count(i) == len(run.of(i)) for i in ids), 30,
               message="first delivery written")
    before = env.metrics.duplicates_skipped._value.get()
    # when the same records arrive again (a producer retry, a replayed partition)
    env.produce(run.records)
    wait_until(lambda: env.metrics.duplicates_skipped._value.get() - before
               >= len(run.records), 30, message="redelivery consumed")
    assert [env.count(i) for i in ids] == [len(run.of(i)) for i in ids]
    assert all(env.api.get(f"/api/instances/{i}/verify").json()["ok"] for i in ids)


def test_an_undecodable_record_goes_to_the_dlq_and_the_sink_carries_on(env: Env) -> None:
    run, ids = _loan_run(1)
    env.producer.produce(env.topics.events, key=ids[0].encode(), value=b"not a record")
    env.produce(run.records)
    wait_until(lambda: env.count(ids[0]) == len(run.of(ids[0])), 30,
               message="records after the bad one written")
    consumer = Consumer(consumer_config(env.stack.kafka_bootstrap_servers,
                                        unique_name("dlq-reader")))
    consumer.subscribe([env.topics.dlq])
    try:
        msg = wait_until(lambda: consumer.poll(0.5), 30, message="a dead letter")
        assert msg.error() is None
        assert msg.value() == b"not a record"
        headers = read_dead_letter_headers(msg.headers() or [])
        assert headers["reason"] == "bad-marker"
        assert headers["topic"] == env.topics.events
    finally:
        consumer.close()


# -- the crash test -------------------------------------------------------------------------


def _start_service(stack: Connections, topics: Topics, schema: str, port: int
                   ) -> subprocess.Popen[bytes]:
    environ = {**os.environ, **stack.env(), "LANEWAY_TOPIC_PREFIX": topics.prefix,
               "LANEWAY_DB_SCHEMA": schema.removesuffix("_audit"),
               "LANEWAY_HTTP_PORT": str(port),
               "LANEWAY_AUDIT_BATCH_SIZE": "300", "LANEWAY_AUDIT_POLL_S": "0.05",
               # the broker's minimum: the killed member's partitions move on sooner
               "LANEWAY_AUDIT_SESSION_TIMEOUT_MS": "6000",
               "LANEWAY_LOG_LEVEL": "WARNING"}
    environ.pop("LANEWAY_ENV", None)
    return subprocess.Popen([sys.executable, "-m", "services.audit"], cwd=ROOT, env=environ)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status), resp.read().decode()
    except OSError as exc:
        code = getattr(exc, "code", 0)
        return int(code or 0), ""


def test_a_sink_killed_mid_stream_leaves_exactly_one_row_per_event(stack: Connections) -> None:
    # given 2,000 small instances' records on a fresh topic
    run = _engine_run(SMALL)
    ids = [run.runner.start("small", {"n": n}, instance_id=str(uuid.uuid4()))
           for n in range(2000)]
    run.runner.run(ids[0], Answers(auto_jobs=True))
    assert all(run.runner.outcome(i).status == "COMPLETED" for i in ids)
    total = len(run.records)
    topics = Topics(unique_name("audit-kill") + ".")
    _create_topics(stack.kafka_bootstrap_servers, topics)
    schema = _migrated_schema(stack)
    producer = Producer(producer_config(stack.kafka_bootstrap_servers))
    for rec in run.records:
        producer.produce(topics.events, key=rec.instance_id.encode(), value=encode_record(rec))
        producer.poll(0)
    assert producer.flush(30) == 0

    def count() -> int:
        with connect(stack.database_url, schema, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        return int(row[0]) if row else 0

    port = free_port()
    first = _start_service(stack, topics, schema, port)
    second: subprocess.Popen[bytes] | None = None
    try:
        # when the service is killed with SIGKILL after some rows
        wait_until(lambda: count() >= 1500, 60, interval=0.01, message="some rows written")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = count()
        assert at_kill < total, "the sink finished before it was killed: nothing was tested"

        # and started again
        second = _start_service(stack, topics, schema, port)
        wait_until(lambda: count() == total, 90, message="every record written")
        _, body = wait_until(lambda: _ok(_get(f"http://127.0.0.1:{port}/health")), 30,
                                  message="healthy")
        assert json.loads(body)["status"] == "ok"
        _, metrics = _get(f"http://127.0.0.1:{port}/metrics")
        assert "laneway_audit_availability_lag_seconds_bucket" in metrics
        assert "laneway_audit_rows_written_total" in metrics
        skipped = [line for line in metrics.splitlines()
                   if line.startswith("laneway_audit_duplicates_skipped_total")]
        sys.stderr.write(f"\n[audit] killed at {at_kill} of {total} rows; after the restart: "
                         f"{skipped}\n")
        # SIGTERM stops it gracefully
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)

    # then exactly one row per event, numbered without gaps, and every chain verifies
    expected = {iid: [r.record_id for r in run.of(iid)] for iid in ids}
    with connect(stack.database_url, schema) as conn:
        stored = conn.execute("SELECT instance_id, array_agg(record_id ORDER BY seq), "
                              "count(*), min(seq), max(seq) FROM audit_log "
                              "GROUP BY instance_id").fetchall()
        assert len(stored) == len(ids)
        for iid, record_ids, n, low, high in stored:
            assert record_ids == expected[iid]
            assert (n, low, high) == (len(expected[iid]), 1, len(expected[iid]))
        bad = [iid for iid in ids if not verify_chain(rows(conn, iid)).ok]
    assert bad == []
    _drop(stack, topics, schema)


def _ok(got: tuple[int, str]) -> tuple[int, str] | None:
    return got if got[0] == 200 else None

