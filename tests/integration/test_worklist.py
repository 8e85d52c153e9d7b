"""The worklist (services/worklist) against the real Kafka and PostgreSQL.

The projection reads this module's own `events` topic (a unique prefix) into its own schema;
the tests produce user-task records themselves (the contract of docs/people.md) or run the
real engine loop in a thread. The task routes are mounted on a bare FastAPI app, as the API
mounts them, and verify bearer tokens signed with the test session's key (tests/auth.py).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from laneway.bpmn import LANEWAY_NS
from laneway.codec import (
    DefinitionRecord,
    decode_record,
    encode_definition,
    encode_record,
    read_dead_letter_headers,
)
from laneway.db import connect_kwargs
from laneway.health import HealthChecks
from laneway.kafka import consumer_config, producer_config
from laneway.publisher import Publisher
from laneway.records import (
    Command,
    Event,
    Principal,
    PrincipalKind,
    Record,
    RecordKind,
    command,
)
from laneway.settings import Settings
from laneway.topics import Topics
from scripts.stack import Connections
from scripts.stack import Settings as StackSettings
from scripts.stack.testing import unique_name, wait_until
from scripts.stack.topics import ensure_topics
from services.worklist.__main__ import build_consumer
from services.worklist.app import create_app
from services.worklist.consumer import TaskConsumer
from services.worklist.db import connect, migrate
from services.worklist.deps import WorklistDeps
from services.worklist.forms import FieldProblem, UnknownForm
from services.worklist.metrics import WorklistMetrics
from services.worklist.settings import WorklistSettings, load_settings
from services.worklist.sla import SLA_PRINCIPAL, SlaLoop
from tests.auth import auth_header, verifier

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ENGINE = Principal(PrincipalKind.SYSTEM, "engine")
CARLA = Principal(PrincipalKind.HUMAN, "carla", (), {"personas": ["Case Worker"]})
BEN = Principal(PrincipalKind.HUMAN, "ben", ("reviewer",), {"groups": ["finance"]})
OLGA = Principal(PrincipalKind.HUMAN, "olga", ("operator",))
OPS = Principal(PrincipalKind.HUMAN, "olga", ("operator",))


# -- the module's world ---------------------------------------------------------------------


@dataclasses.dataclass
class World:
    conns: Connections
    settings: WorklistSettings
    producer: Producer
    pool: ConnectionPool
    publisher: Publisher

    @property
    def topics(self) -> Topics:
        return Topics(self.settings.topic_prefix)

    def produce(self, *records: Record) -> None:
        for r in records:
            self.producer.produce(self.topics.events, encode_record(r), r.instance_id.encode())
        self.producer.flush(10)

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.pool.connection() as conn:
            return conn.execute(query.encode(), params).fetchall()

    def task(self, task_id: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn, conn.cursor(
                row_factory=psycopg.rows.dict_row) as cur:
            return cur.execute("SELECT * FROM tasks WHERE task_id = %s", (task_id,)).fetchone()


@pytest.fixture(scope="module")
def world(stack: Connections) -> Iterator[World]:
    prefix = unique_name("wl") + "."
    settings = load_settings({**stack.env(), "LANEWAY_TOPIC_PREFIX": prefix,
                              "LANEWAY_DB_SCHEMA": unique_name("test_wl").replace("-", "_"),
                              "LANEWAY_WORKLIST_POLL_S": "0.05"})
    schema = settings.database_schema  # the worklist's own, under the module's base
    ensure_topics(StackSettings.from_env({
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "LANEWAY_TOPIC_PREFIX": prefix, "LANEWAY_JOB_TYPES": "",
        "LANEWAY_PARTITIONS": str(stack.partitions)}))
    with psycopg.connect(stack.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    with connect(stack.database_url, schema) as conn:
        migrate(conn)
    pool = ConnectionPool(stack.database_url, min_size=1, max_size=8,
                          kwargs=connect_kwargs(schema), open=False)
    pool.open(wait=True, timeout=30)
    producer = Producer(producer_config(stack.kafka_bootstrap_servers, client_id="wl-test"))
    publisher = Publisher(stack.kafka_bootstrap_servers, Topics(prefix), 10.0)
    try:
        yield World(stack, settings, producer, pool, publisher)
    finally:
        publisher.close()
        pool.close()
        with psycopg.connect(stack.database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


class Running:
    """The projection in a background thread, under its own consumer group."""

    def __init__(self, world: World, group: str | None = None) -> None:
        settings = dataclasses.replace(world.settings, group=group or unique_name("wl-group"))
        self.consumer: TaskConsumer = build_consumer(settings)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="worklist")
        self._thread.start()

    def _run(self) -> None:
        try:
            self.consumer.run()
        except BaseException as exc:
            self.error = exc
            raise

    def stop(self) -> None:
        self.consumer.stop()
        self._thread.join(20)
        self.consumer.close()
        assert self.error is None, f"Expected the projection to run cleanly, but: {self.error}"


@pytest.fixture(scope="module")
def projection(world: World) -> Iterator[Running]:
    running = Running(world)
    yield running
    running.stop()


def _event(intent: Event | str, instance_id: str, value: Mapping[str, Any], *,
           record_id: str | None = None, principal: Principal = ENGINE,
           kind: RecordKind = RecordKind.EVENT, at: int | None = None) -> Record:
    return Record(record_id=record_id or f"{uuid.uuid4()}.0", kind=kind, intent=str(intent),
                  instance_id=instance_id, timestamp=at or int(time.time() * 1000),
                  value=dict(value), element_id="review", element_type="userTask",
                  principal=principal)


def _created(instance_id: str, key: int = 7, **extra: Any) -> Record:
    value: dict[str, Any] = {
        "key": key, "elementName": "Review the claim", "processId": "claims", "version": 3,
        "lane": "Case Workers", "laneId": "lane_cw", "persona": "Case Worker",
        "attributes": {"laneway:persona": "Case Worker"}, "variables": {"amount": 120}}
    value.update(extra)
    return _event(Event.USER_TASK_CREATED, instance_id, value)


def _wait_task(world: World, task_id: str, predicate: Callable[[dict[str, Any]], bool],
               what: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        row = world.task(task_id)
        return row if row is not None and predicate(row) else None
    return wait_until(check, 20, 0.02, f"task {task_id}: {what}")


# -- the projection -------------------------------------------------------------------------


def test_create_claim_complete_is_projected_with_the_answers(world: World,
                                                            projection: Running) -> None:
    iid = str(uuid.uuid4())
    tid = f"{iid}:7"
    claim_cmd, complete_cmd = str(uuid.uuid4()), str(uuid.uuid4())
    world.produce(_created(iid, dueDate=1_900_000_000_000, candidateGroups=["finance"]))
    row = _wait_task(world, tid, lambda r: True, "created")
    assert (row["state"], row["persona"], row["persona_key"], row["process_id"],
            row["version"], row["candidate_groups"], row["element_name"]) == (
        "open", "Case Worker", "case-worker", "claims", 3, ["finance"], "Review the claim")
    assert row["due_at"].timestamp() == 1_900_000_000

    world.produce(
        _event(Event.USER_TASK_CLAIMED, iid, {"key": 7, "assignee": "carla"},
               record_id=f"{claim_cmd}.0", principal=CARLA),
        _event(Event.USER_TASK_COMPLETED, iid, {"key": 7, "variables": {"ok": True}},
               record_id=f"{complete_cmd}.0", principal=CARLA))
    row = _wait_task(world, tid, lambda r: r["state"] == "completed", "completed")
    assert (row["assignee"], row["result"], row["completed_by"]["id"]) == (
        "carla", {"ok": True}, "carla")
    assert row["claimed_at"] is not None
    assert row["completed_at"] is not None
    answers = world.rows("SELECT command_id, task_id, intent, outcome FROM task_commands "
                         "WHERE task_id = %s ORDER BY at, intent", tid)
    assert sorted(answers) == sorted([(claim_cmd, tid, "CLAIM_USER_TASK", "accepted"),
                                      (complete_cmd, tid, "COMPLETE_USER_TASK", "accepted")])


def test_rejections_and_cancellation_are_projected(world: World, projection: Running) -> None:
    iid = str(uuid.uuid4())
    tid = f"{iid}:9"
    refused = str(uuid.uuid4())
    world.produce(
        _created(iid, key=9),
        _event(Command.CLAIM_USER_TASK, iid,
               {"reason": "ben does not hold persona 'Case Worker'", "rejectionType": "FORBIDDEN",
                "command": {"taskKey": 9}}, record_id=f"{refused}.r0", principal=BEN,
               kind=RecordKind.REJECTION),
        _event(Event.USER_TASK_CANCELED, iid, {"key": 9}))
    _wait_task(world, tid, lambda r: r["state"] == "cancelled", "cancelled")
    assert world.rows("SELECT task_id, outcome, rejection_type, reason, principal->>'id' "
                      "FROM task_commands WHERE command_id = %s", refused) == [
        (tid, "rejected", "FORBIDDEN", "ben does not hold persona 'Case Worker'", "ben")]


def test_a_migration_moves_open_tasks_to_the_new_version_and_element(
        world: World, projection: Running) -> None:
    # an open task and a completed one of the same instance; the instance migrates to
    # version 4, where the open task's element is `check`
    iid = str(uuid.uuid4())
    world.produce(_created(iid, key=7), _created(iid, key=8),
                  _event(Event.USER_TASK_COMPLETED, iid, {"key": 8, "variables": {}}),
                  _event(Event.INSTANCE_MIGRATED, iid, {
                      "sourceVersion": 3, "targetVersion": 4, "taskElementIds": {"7": "check"}},
                      principal=OLGA))
    row = _wait_task(world, f"{iid}:7", lambda r: r["version"] == 4, "migrated")
    assert row["element_id"] == "check"
    assert row["state"] == "open"
    # a finished task keeps the version it ran on
    assert world.task(f"{iid}:8")["version"] == 3


def test_a_redelivered_stream_changes_nothing(world: World, projection: Running) -> None:
    iid = str(uuid.uuid4())
    tid = f"{iid}:7"
    world.produce(_created(iid),
                  _event(Event.USER_TASK_CLAIMED, iid, {"key": 7, "assignee": "carla"},
                         principal=CARLA),
                  _event(Event.USER_TASK_UNCLAIMED, iid, {"key": 7, "assignee": "carla"},
                         principal=CARLA),
                  _event(Event.USER_TASK_CLAIMED, iid, {"key": 7, "assignee": "dan"}))
    before = _wait_task(world, tid, lambda r: r["assignee"] == "dan", "claimed by dan")
    commands_before = world.rows("SELECT * FROM task_commands WHERE task_id = %s", tid)

    # a second group reads the whole topic again: every record is applied a second time
    again = Running(world)
    try:
        wait_until(lambda: again.consumer.applied >= 4, 30, 0.05, "the stream read again")
    finally:
        again.stop()
    assert world.task(tid) == before, "Expected a redelivered stream to change nothing"
    assert world.rows("SELECT * FROM task_commands WHERE task_id = %s", tid) == commands_before


def test_an_undecodable_record_goes_to_the_dead_letter_topic(world: World,
                                                             projection: Running) -> None:
    key = unique_name("garbage").encode()
    world.producer.produce(world.topics.events, b"\x00not a record", key)
    iid = str(uuid.uuid4())
    world.produce(_created(iid))
    _wait_task(world, f"{iid}:7", lambda r: True, "projected after the bad record")

    reader = Consumer(consumer_config(world.conns.kafka_bootstrap_servers,
                                      unique_name("dlq-reader")))
    reader.assign([TopicPartition(world.topics.dlq, p, OFFSET_BEGINNING)
                   for p in range(world.conns.partitions)])
    try:
        def found() -> Any:
            for msg in reader.consume(100, 0.1):
                if msg.error() is None and msg.key() == key:
                    return msg
            return None
        msg = wait_until(found, 20, 0.01, "the dead letter")
    finally:
        reader.close()
    headers = read_dead_letter_headers(msg.headers() or [])
    assert msg.value() == b"\x00not a record"
    assert (headers["topic"], headers["reason"]) == (world.topics.events, "bad-marker"), headers


# -- the routes -----------------------------------------------------------------------------


def as_(principal: Principal) -> dict[str, str]:
    """A bearer token for the principal, signed with the test session's key."""
    return auth_header(principal.id, personas=principal.personas, roles=principal.roles,
                       groups=principal.groups)


@pytest.fixture(scope="module")
def api(world: World) -> Iterator[TestClient]:
    def no_forms(form_id: str, variables: Mapping[str, Any]) -> list[FieldProblem]:
        raise UnknownForm(form_id)

    deps = WorklistDeps(pool=world.pool, publisher=world.publisher, forms=no_forms,
                        answer_timeout_s=10.0)
    app = create_app(verifier(), HealthChecks("worklist"), CollectorRegistry(), deps)
    with TestClient(app) as client:
        yield client


def _seed(world: World, process_id: str) -> dict[str, str]:
    """Five tasks of one process, for the listing tests; name -> task id."""
    ids = {n: str(uuid.uuid4()) for n in ("cw", "cw_due", "fin", "carla", "other")}
    base = int(time.time() * 1000) - 60_000
    world.produce(
        dataclasses.replace(_created(ids["cw"], processId=process_id, elementName="B task"),
                            timestamp=base),
        dataclasses.replace(_created(ids["cw_due"], processId=process_id, elementName="A task",
                                     dueDate=base), timestamp=base + 1),
        dataclasses.replace(_created(ids["fin"], processId=process_id, elementName="C task",
                                     persona="", candidateGroups=["finance"]),
                            timestamp=base + 2),
        dataclasses.replace(_created(ids["carla"], processId=process_id, elementName="D task",
                                     persona="", assignee="carla"), timestamp=base + 3),
        dataclasses.replace(_created(ids["other"], processId=process_id, elementName="E task",
                                     persona="Auditor"), timestamp=base + 4))
    for iid in ids.values():
        _wait_task(world, f"{iid}:7", lambda r: True, "seeded")
    return {k: f"{v}:7" for k, v in ids.items()}


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [t["taskId"] for t in response.json()["items"]]


def test_the_default_list_is_the_callers_tasks(world: World, projection: Running,
                                               api: TestClient) -> None:
    pid = unique_name("claims")
    t = _seed(world, pid)
    q = {"processId": pid}

    assert _ids(api.get("/api/tasks", params=q, headers=as_(CARLA))) == [
        t["cw"], t["cw_due"], t["carla"]]
    assert _ids(api.get("/api/tasks", params=q, headers=as_(BEN))) == [t["fin"]]
    # groups compare as the engine compares them: "Finance" is the candidate group "finance"
    spelled = Principal(PrincipalKind.HUMAN, "fay", (), {"groups": ["Finance"]})
    assert _ids(api.get("/api/tasks", params=q, headers=as_(spelled))) == [t["fin"]]
    assert api.get(f"/api/tasks/{t['fin']}", headers=as_(spelled)).status_code == 200
    refused = api.get("/api/tasks", params={**q, "scope": "all"}, headers=as_(CARLA))
    assert refused.status_code == 403, refused.text
    everything = api.get("/api/tasks", params={**q, "scope": "all"}, headers=as_(OPS))
    assert everything.json()["count"] == 5


def test_a_completed_task_names_who_completed_it_without_their_token_claims(
        world: World, projection: Running, api: TestClient) -> None:
    # given a task completed by a principal carrying a token's claims (as the engine wrote
    # them before the verifier kept only personas and groups)
    iid = str(uuid.uuid4())
    tid = f"{iid}:7"
    talkative = Principal(PrincipalKind.HUMAN, "carla", (), {
        "personas": ["Case Worker"], "name": "Carla Quist", "email": "carla@home.example",
        "address": "3 Private Road", "jti": "abc"})
    world.produce(_created(iid),
                  _event(Event.USER_TASK_COMPLETED, iid, {"key": 7, "variables": {"ok": 1}},
                         record_id=f"{uuid.uuid4()}.0", principal=talkative))
    _wait_task(world, tid, lambda r: r["state"] == "completed", "completed")
    # old rows (written whole before) are shown without the claims too
    with world.pool.connection() as conn:
        conn.execute("UPDATE tasks SET completed_by = %s WHERE task_id = %s",
                     (Jsonb(talkative.to_dict()), tid))
        stored = conn.execute("SELECT principal FROM task_commands WHERE task_id = %s",
                              (tid,)).fetchall()
    # when another case worker of the lane reads it
    colleague = Principal(PrincipalKind.HUMAN, "cory", (), {"personas": ["Case Worker"]})
    task = api.get(f"/api/tasks/{tid}", headers=as_(colleague))
    listed = api.get("/api/tasks", params={"instanceId": iid, "state": "completed",
                                           "scope": "all"}, headers=as_(OPS))
    # then it names only who: the kind and the id
    assert task.status_code == 200, task.text
    assert task.json()["completedBy"] == {"kind": "human", "id": "carla"}
    assert [t["completedBy"] for t in listed.json()["items"]] == [
        {"kind": "human", "id": "carla"}]
    assert stored == [({"kind": "human", "id": "carla"},)]


def test_filters_paging_and_sorting(world: World, projection: Running,
                                    api: TestClient) -> None:
    pid = unique_name("claims")
    t = _seed(world, pid)
    q: dict[str, Any] = {"processId": pid, "scope": "all"}
    ops = as_(OPS)

    by_name = _ids(api.get("/api/tasks", params={**q, "sort": "name", "order": "desc"},
                           headers=ops))
    assert by_name == [t["other"], t["carla"], t["fin"], t["cw"], t["cw_due"]]
    page = api.get("/api/tasks", params={**q, "sort": "name", "limit": 2, "offset": 2},
                   headers=ops).json()
    assert (page["count"], [i["taskId"] for i in page["items"]]) == (5, [t["fin"], t["carla"]])
    overdue = api.get("/api/tasks", params={**q, "overdue": "true"}, headers=ops)
    assert _ids(overdue) == [t["cw_due"]]
    assert overdue.json()["items"][0]["overdue"] is True
    assert _ids(api.get("/api/tasks", params={**q, "assignee": "carla"},
                        headers=ops)) == [t["carla"]]
    iid = t["fin"].split(":")[0]
    assert _ids(api.get("/api/tasks", params={**q, "instanceId": iid},
                        headers=ops)) == [t["fin"]]
    assert _ids(api.get("/api/tasks", params={**q, "state": ["completed", "cancelled"]},
                        headers=ops)) == []
    one = api.get(f"/api/tasks/{t['fin']}", headers=ops)
    assert (one.status_code, one.json()["candidateGroups"]) == (200, ["finance"])
    assert api.get(f"/api/tasks/{iid}:99", headers=ops).status_code == 404
    # one task by id: its lane's people and its holder see it; to others it does not exist
    assert api.get(f"/api/tasks/{t['cw']}", headers=as_(CARLA)).status_code == 200
    assert api.get(f"/api/tasks/{t['carla']}", headers=as_(CARLA)).status_code == 200
    hidden = api.get(f"/api/tasks/{t['cw']}", headers=as_(BEN))
    assert hidden.status_code == 404, hidden.text
    assert api.get(f"/api/tasks/{t['fin']}", headers=as_(BEN)).status_code == 200
    assert api.get(f"/api/tasks/{t['fin']}", headers=as_(CARLA)).status_code == 404


class FakeEngine:
    """Answers task commands on `commands` the way the engine contract says, so the routes'
    waiting and status mapping is tested without the engine's user-task handlers."""

    def __init__(self, world: World, answer: Callable[[Record], list[Record]]) -> None:
        self.world = world
        self.answer = answer
        self.seen: list[Record] = []
        self._stop = threading.Event()
        self._consumer = Consumer(consumer_config(world.conns.kafka_bootstrap_servers,
                                                  unique_name("fake-engine")))
        parts = [TopicPartition(world.topics.commands, p, OFFSET_BEGINNING)
                 for p in range(world.conns.partitions)]
        self._consumer.assign(parts)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(100, 0.05):
                if msg.error() is not None:
                    continue
                cmd = decode_record(msg.value() or b"")
                self.seen.append(cmd)
                self.world.produce(*self.answer(cmd))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()


def _contract(cmd: Record) -> list[Record]:
    """Claims by carla are accepted; anyone else's are FORBIDDEN; unclaims are not answered."""
    key = int(cmd.value["taskKey"])
    if cmd.intent == Command.UNCLAIM_USER_TASK.value:
        return []
    if cmd.principal.id == "carla":
        return [_event(Event.USER_TASK_CLAIMED, cmd.instance_id, {"key": key, "assignee": "carla"},
                       record_id=f"{cmd.record_id}.0", principal=cmd.principal)]
    return [_event(cmd.intent, cmd.instance_id,
                   {"reason": f"{cmd.principal.id} does not hold persona 'Case Worker'",
                    "rejectionType": "FORBIDDEN", "command": dict(cmd.value)},
                   record_id=f"{cmd.record_id}.r0", principal=cmd.principal,
                   kind=RecordKind.REJECTION)]


def test_claim_waits_for_the_engines_answer(world: World, projection: Running,
                                            api: TestClient) -> None:
    iid = str(uuid.uuid4())
    tid = f"{iid}:7"
    world.produce(_created(iid))
    _wait_task(world, tid, lambda r: True, "created")
    engine = FakeEngine(world, _contract)
    try:
        refused = api.post(f"/api/tasks/{tid}/claim", headers=as_(BEN))
        assert refused.status_code == 403, refused.text
        assert refused.json() == {"type": "about:blank", "title": "Forbidden", "status": 403,
                                  "detail": "ben does not hold persona 'Case Worker'",
                                  "rejectionType": "FORBIDDEN"}

        claimed = api.post(f"/api/tasks/{tid}/claim", headers=as_(CARLA))
        assert claimed.status_code == 200, claimed.text
        assert (claimed.json()["state"], claimed.json()["assignee"]) == ("claimed", "carla")

        deps: WorklistDeps = api.app.state.deps  # type: ignore[attr-defined]
        deps.answer_timeout_s = 0.5
        try:
            silent = api.post(f"/api/tasks/{tid}/unclaim", headers=as_(CARLA))
        finally:
            deps.answer_timeout_s = 10.0
        assert silent.status_code == 504, silent.text
        sent = [c for c in engine.seen if c.intent == Command.UNCLAIM_USER_TASK.value]
        assert silent.json()["commandId"] in {c.record_id for c in sent}
    finally:
        engine.close()
    claims = [c for c in engine.seen if c.intent == Command.CLAIM_USER_TASK.value]
    assert [(c.principal.id, dict(c.value)) for c in claims] == [
        ("ben", {"taskKey": 7}), ("carla", {"taskKey": 7})]


def test_complete_checks_the_form_before_sending(world: World, projection: Running,
                                                 api: TestClient) -> None:
    iid = str(uuid.uuid4())
    tid = f"{iid}:7"
    world.produce(_created(iid, form="claim-decision"), _created(iid, key=8, form="gone"))
    _wait_task(world, f"{iid}:8", lambda r: True, "created")

    def check(form_id: str, variables: Mapping[str, Any]) -> list[FieldProblem]:
        if form_id == "gone":
            raise UnknownForm(form_id)
        return [] if "approved" in variables else [FieldProblem("approved", "is required")]

    deps: WorklistDeps = api.app.state.deps  # type: ignore[attr-defined]
    before, deps.forms = deps.forms, check
    engine = FakeEngine(world, lambda cmd: [])
    try:
        bad = api.post(f"/api/tasks/{tid}/complete", json={"variables": {"x": 1}},
                       headers=as_(CARLA))
        assert bad.status_code == 422, bad.text
        assert bad.json() == {"type": "about:blank", "title": "Unprocessable Entity",
                              "status": 422, "detail": "Expected variables that fit form "
                              "'claim-decision', but 1 field(s) do not",
                              "errors": [{"field": "approved", "message": "is required"}]}
        unknown = api.post(f"/api/tasks/{iid}:8/complete", json={"variables": {}},
                           headers=as_(CARLA))
        assert unknown.status_code == 409, unknown.text
        assert "gone" in unknown.json()["detail"]
    finally:
        engine.close()
        deps.forms = before
    assert [c for c in engine.seen if c.instance_id == iid] == [], (
        "Expected no command for a refused form, but the engine was sent one")


def test_a_completion_the_engine_refuses_as_too_large_is_413(world: World, projection: Running,
                                                             api: TestClient) -> None:
    iid = str(uuid.uuid4())
    tid = f"{iid}:7"
    world.produce(_created(iid))
    _wait_task(world, tid, lambda r: True, "created")

    def too_large(cmd: Record) -> list[Record]:
        return [_event(cmd.intent, cmd.instance_id, {
            "reason": "Expected the instance's state to fit in a record of at most 1000000 "
                      "bytes, but with this command it would take 1000100",
            "rejectionType": "EXCEEDED_SIZE", "command": {"taskKey": 7}},
            record_id=f"{cmd.record_id}.r0", principal=cmd.principal, kind=RecordKind.REJECTION)]
    engine = FakeEngine(world, too_large)
    try:
        refused = api.post(f"/api/tasks/{tid}/complete", headers=as_(CARLA),
                           json={"variables": {"notes": "n" * 1000}})
    finally:
        engine.close()
    assert refused.status_code == 413, refused.text
    assert refused.json()["rejectionType"] == "EXCEEDED_SIZE"


# -- the SLA loop ----------------------------------------------------------------------------


def _escalating(cmd: Record) -> list[Record]:
    """Exactly once per task, as the engine guarantees."""
    if cmd.intent != Command.ESCALATE_USER_TASK.value:
        return []
    key = (cmd.instance_id, cmd.value["taskKey"])
    if key in _ESCALATED:
        return [_event(cmd.intent, cmd.instance_id,
                       {"reason": "already escalated", "rejectionType": "ALREADY_ESCALATED",
                        "command": dict(cmd.value)}, record_id=f"{cmd.record_id}.r0",
                       principal=cmd.principal, kind=RecordKind.REJECTION)]
    _ESCALATED.add(key)
    return [_event(Event.USER_TASK_ESCALATED, cmd.instance_id, {"key": cmd.value["taskKey"]},
                   record_id=f"{cmd.record_id}.0", principal=cmd.principal)]


_ESCALATED: set[tuple[str, Any]] = set()


def test_sla_escalates_an_overdue_task_once(world: World, projection: Running) -> None:
    due, later, done = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    past = int(time.time() * 1000) - 1000
    world.produce(_created(due, dueDate=past),
                  _created(later, dueDate=past + 3_600_000),
                  _created(done, dueDate=past),
                  _event(Event.USER_TASK_COMPLETED, done, {"key": 7, "variables": {}}))
    _wait_task(world, f"{done}:7", lambda r: r["state"] == "completed", "completed")
    _wait_task(world, f"{later}:7", lambda r: True, "created")
    engine = FakeEngine(world, _escalating)
    metrics = WorklistMetrics(CollectorRegistry())
    sla = SlaLoop(lambda: connect(world.conns.database_url, world.settings.database_schema),
                  world.publisher, poll_s=0.05, resend_s=3600, metrics=metrics)
    try:
        sent_first = sla.round()
        row = _wait_task(world, f"{due}:7", lambda r: r["escalated_at"] is not None,
                         "escalated")
        sent_again = sla.round()
    finally:
        engine.close()
    assert row["escalation_sent_at"] is not None
    mine = [c for c in engine.seen if c.instance_id in (due, later, done)]
    assert [(c.instance_id, c.intent, c.principal) for c in mine] == [
        (due, "ESCALATE_USER_TASK", SLA_PRINCIPAL)]
    assert sent_first >= 1
    assert sent_again == 0
    assert metrics.registry.get_sample_value(
        "laneway_worklist_escalations_sent_total") == sent_first


def test_sla_resends_after_the_interval_and_the_engine_keeps_it_once(
        world: World, projection: Running) -> None:
    iid = str(uuid.uuid4())
    world.produce(_created(iid, dueDate=int(time.time() * 1000) - 1000))
    _wait_task(world, f"{iid}:7", lambda r: True, "created")
    # a send whose answer was lost: marked sent long ago, never escalated
    with world.pool.connection() as conn:
        conn.execute("UPDATE tasks SET escalation_sent_at = now() - interval '2 hours' "
                     "WHERE task_id = %s", (f"{iid}:7",))
    _ESCALATED.add((iid, 7))  # the engine escalated it already
    engine = FakeEngine(world, _escalating)
    sla = SlaLoop(lambda: connect(world.conns.database_url, world.settings.database_schema),
                  world.publisher, poll_s=0.05, resend_s=3600)
    try:
        sla.round()
        wait_until(lambda: world.rows(
            "SELECT rejection_type FROM task_commands WHERE task_id = %s", f"{iid}:7"),
            20, 0.02, "the ALREADY_ESCALATED rejection")
    finally:
        engine.close()
    assert world.rows("SELECT outcome, rejection_type FROM task_commands WHERE task_id = %s",
                      f"{iid}:7") == [("rejected", "ALREADY_ESCALATED")]


# -- with the real engine -------------------------------------------------------------------

_NS = f'xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:laneway="{LANEWAY_NS}"'


def _user_task_process(process_id: str, task_attrs: str = "") -> bytes:
    return (f'<definitions {_NS} id="d-{process_id}" targetNamespace="t">'
            f'<process id="{process_id}" isExecutable="true">'
            '<laneSet id="ls"><lane id="lane_cw" name="Case Workers" '
            'laneway:persona="Case Worker"><flowNodeRef>review</flowNodeRef></lane></laneSet>'
            f'<startEvent id="s"/><userTask id="review" name="Review" {task_attrs}/>'
            '<endEvent id="e"/>'
            '<sequenceFlow id="f1" sourceRef="s" targetRef="review"/>'
            '<sequenceFlow id="f2" sourceRef="review" targetRef="e"/></process>'
            '</definitions>').encode()


@pytest.fixture(scope="module")
def engine(world: World) -> Iterator[None]:
    """The real engine loop on this module's topics, in a thread."""
    from services.engine.loop import EngineLoop
    from services.engine.settings import EngineSettings

    common = dataclasses.replace(
        Settings.from_env("engine", {"KAFKA_BOOTSTRAP_SERVERS":
                                     world.conns.kafka_bootstrap_servers}),
        topic_prefix=world.settings.topic_prefix, startup_timeout_s=30.0, http_port=1)
    loop = EngineLoop(EngineSettings(common=common, replica="r1",
                                     group=unique_name("wl-engine"), batch_size=500,
                                     poll_timeout_s=0.05, definitions_wait_s=5.0,
                                     restore_timeout_s=30.0))
    failed: list[BaseException] = []

    def run() -> None:
        try:
            loop.run()
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True, name="engine")
    thread.start()
    yield None
    loop.stop()
    thread.join(30)
    assert failed == [], f"Expected the engine loop to run cleanly, but: {failed}"


def _deploy_and_start(world: World, task_attrs: str = "") -> tuple[str, str]:
    """An authorized version of a one-user-task process, and an instance of it: (instance
    id, task id once projected)."""
    pid = unique_name("review").replace("-", "_")
    record = DefinitionRecord(pid, 1, _user_task_process(pid, task_attrs), "digest",
                              int(time.time() * 1000))
    world.producer.produce(world.topics.definitions, encode_definition(record),
                           record.key.encode())
    world.producer.flush(10)
    iid = str(uuid.uuid4())
    world.publisher.send_command(command(
        Command.START_INSTANCE, iid, {"processId": pid, "variables": {"amount": 5}},
        record_id=str(uuid.uuid4()), timestamp=int(time.time() * 1000), principal=CARLA))
    row = wait_until(lambda: next(iter(world.rows(
        "SELECT task_id, persona, process_id FROM tasks WHERE instance_id = %s", iid)),
        None), 60, 0.05, "the engine's user task projected")
    assert row[1:] == ("Case Worker", pid)
    return iid, str(row[0])


def test_claim_and_complete_through_the_engine(world: World, projection: Running,
                                               engine: None, api: TestClient) -> None:
    _, tid = _deploy_and_start(world)

    refused = api.post(f"/api/tasks/{tid}/complete", json={"variables": {"ok": False}},
                       headers=as_(BEN))
    assert refused.status_code == 403, refused.text
    assert refused.json()["rejectionType"] == "FORBIDDEN"
    assert "ben" in refused.json()["detail"], refused.json()

    claimed = api.post(f"/api/tasks/{tid}/claim", headers=as_(CARLA))
    assert claimed.status_code == 200, claimed.text
    assert (claimed.json()["state"], claimed.json()["assignee"]) == ("claimed", "carla")

    done = api.post(f"/api/tasks/{tid}/complete", json={"variables": {"ok": True}},
                    headers=as_(CARLA))
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["state"], body["result"], body["completedBy"]["id"]) == (
        "completed", {"ok": True}, "carla")
    again = api.post(f"/api/tasks/{tid}/complete", json={"variables": {}},
                     headers=as_(CARLA))
    assert again.status_code == 409, again.text
    assert again.json()["rejectionType"] == "INVALID_STATE"
    assert "completed" in again.json()["detail"]
    # what carla did stays in her list when she asks for it
    mine = api.get("/api/tasks", params={"state": "completed", "instanceId": tid.split(":")[0]},
                   headers=as_(CARLA))
    assert [t["taskId"] for t in mine.json()["items"]] == [tid]
    assert api.get("/api/tasks", params={"state": "completed",
                                         "instanceId": tid.split(":")[0]},
                   headers=as_(BEN)).json()["count"] == 0


def test_sla_through_the_engine_escalates_exactly_once(world: World, projection: Running,
                                                       engine: None) -> None:
    # due 0.3 s after creation
    iid, tid = _deploy_and_start(world, 'laneway:slaMinutes="0.005"')
    stop = threading.Event()
    sla = SlaLoop(lambda: connect(world.conns.database_url, world.settings.database_schema),
                  world.publisher, poll_s=0.05, resend_s=3600, stop=stop)
    thread = threading.Thread(target=sla.run, daemon=True)
    thread.start()
    try:
        _wait_task(world, tid, lambda r: r["escalated_at"] is not None, "escalated")
    finally:
        stop.set()
        thread.join(10)
    # a second command, as a restarted loop would send: the engine refuses it
    world.publisher.send_command(command(
        Command.ESCALATE_USER_TASK, iid, {"taskKey": int(tid.rsplit(":", 1)[1])},
        record_id=str(uuid.uuid4()), timestamp=int(time.time() * 1000),
        principal=SLA_PRINCIPAL))
    wait_until(lambda: world.rows("SELECT 1 FROM task_commands WHERE task_id = %s AND "
                                  "rejection_type = 'ALREADY_ESCALATED'", tid),
               20, 0.02, "the repeat refused ALREADY_ESCALATED")

    reader = Consumer(consumer_config(world.conns.kafka_bootstrap_servers,
                                      unique_name("events-reader")))
    reader.assign([TopicPartition(world.topics.events, p, OFFSET_BEGINNING)
                   for p in range(world.conns.partitions)])
    mine: list[Record] = []
    try:
        def rejection_read() -> bool:
            for msg in reader.consume(1000, 0.1):
                if msg.error() is None and msg.key() == iid.encode():
                    mine.append(decode_record(msg.value() or b""))
            # the instance's records are in order: once the rejection is read, so is the rest
            return any(r.kind is RecordKind.REJECTION for r in mine)
        wait_until(rejection_read, 20, 0.01, "the instance's records")
    finally:
        reader.close()
    escalated = [r for r in mine if r.intent == Event.USER_TASK_ESCALATED.value]
    assert len(escalated) == 1, f"Expected one USER_TASK_ESCALATED, but got {len(escalated)}"
    assert escalated[0].principal.id == "worklist:sla"
