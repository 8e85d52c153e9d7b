"""One diagram through the whole running Laneway, by its public interfaces.

Deployed and started through the HTTP API; a service task whose job a worker of the test
completes through Kafka; a user task completed by a COMPLETE_USER_TASK command of a person; a
message published through the API; a PT1S timer the engine fires; a call activity whose child
runs on another partition. Then the API shows the instance COMPLETED, `events` holds its
records in order, and the audit history (served by the API) lists every one of them in the
same order with its principal, and verifies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from laneway.bpmn import LANEWAY_NS
from laneway.engine.processors.call_activity import child_instance_id
from laneway.records import Command, Principal, PrincipalKind, Record, RecordKind
from scripts.stack.testing import unique_name, wait_until
from tests.e2e.harness import Laneway, TopicReader, command_record, is_done, job_worker, of, send

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ANA = Principal(PrincipalKind.HUMAN, "ana", ("clerk",))
INSTANCES = 6  # the engine picks the child's id: 6 parents make "all children on the
# parent's partition" a 1-in-4096 event

DIAGRAM = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" xmlns:laneway="{ns}"
  id="d" targetNamespace="t">
  <message id="m" name="docs">
    <extensionElements><zeebe:subscription correlationKey="=ref"/></extensionElements>
  </message>
  <process id="{parent}" isExecutable="true">
    <startEvent id="s"/>
    <serviceTask id="work" laneway:type="{job_type}"/>
    <userTask id="review"/>
    <intermediateCatchEvent id="docs"><messageEventDefinition messageRef="m"/>
    </intermediateCatchEvent>
    <intermediateCatchEvent id="pause"><timerEventDefinition>
      <timeDuration>PT1S</timeDuration></timerEventDefinition></intermediateCatchEvent>
    <callActivity id="call">
      <extensionElements><zeebe:calledElement processId="{child}"/></extensionElements>
    </callActivity>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
    <sequenceFlow id="f2" sourceRef="work" targetRef="review"/>
    <sequenceFlow id="f3" sourceRef="review" targetRef="docs"/>
    <sequenceFlow id="f4" sourceRef="docs" targetRef="pause"/>
    <sequenceFlow id="f5" sourceRef="pause" targetRef="call"/>
    <sequenceFlow id="f6" sourceRef="call" targetRef="e"/>
  </process>
  <process id="{child}" isExecutable="true">
    <startEvent id="cs"/><task id="ct"/><endEvent id="ce"/>
    <sequenceFlow id="c1" sourceRef="cs" targetRef="ct"/>
    <sequenceFlow id="c2" sourceRef="ct" targetRef="ce"/>
  </process>
</definitions>"""


def first(intent: str, iid: str) -> Callable[[list[Record]], Record | None]:
    return lambda recs: next((r for r in of(recs, iid) if r.intent == intent), None)


def done(iid: str) -> Callable[[list[Record]], bool]:
    return lambda recs: any(is_done(r) for r in of(recs, iid))


def projected(api: httpx.Client, iid: str) -> Callable[[], dict[str, Any] | None]:
    """GET /api/instances/{id} once it says COMPLETED."""
    def get() -> dict[str, Any] | None:
        response = api.get(f"/api/instances/{iid}")
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if body["status"] == "COMPLETED" else None
    return get


def audited(api: httpx.Client, iid: str, count: int
            ) -> Callable[[], list[dict[str, Any]] | None]:
    """The history once it has `count` rows."""
    def get() -> list[dict[str, Any]] | None:
        rows = history(api, iid)
        return rows if len(rows) >= count else None
    return get


def history(client: httpx.Client, iid: str) -> list[dict[str, Any]]:
    """Every page of GET /api/instances/{id}/history."""
    rows: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        response = client.get(f"/api/instances/{iid}/history",
                              params={"after": after, "limit": 1000})
        if response.status_code == 404:
            return rows
        assert response.status_code == 200, response.text
        page = response.json()
        rows.extend(page["events"])
        after = page["nextAfter"]
    return rows


def test_a_diagram_runs_through_every_service_and_its_audit_history_verifies(
        laneway: Callable[..., Laneway]) -> None:
    lw = laneway()
    parent, child = unique_name("flow").replace("-", "_"), unique_name("child").replace("-", "_")
    job_type = unique_name("work").replace("-", "")
    lw.job_types = (job_type,)
    lw.create_topics()  # jobs.<type> before the worker subscribes
    xml = DIAGRAM.format(ns=LANEWAY_NS, parent=parent, child=child, job_type=job_type).encode()

    # deploy through the API: both processes of the file, version 1
    deployed = lw.deploy(xml)
    assert {(d["processId"], d["version"]) for d in deployed} == {(parent, 1), (child, 1)}

    events = TopicReader(lw.bootstrap, lw.topics.events)
    producer = lw.producer()
    with job_worker(lw.bootstrap, lw.topics, job_type,
                    lambda job: {"worked": True}) as worker, lw.api() as api:
        refs = {}
        ids = []
        for i in range(INSTANCES):
            ref = unique_name(f"ref{i}")
            response = api.post("/api/instances", json={
                "processId": parent, "variables": {"ref": ref, "n": i}})
            assert response.status_code == 201, response.text
            iid = response.json()["instanceId"]
            ids.append(iid)
            refs[iid] = ref

        # the service task: the worker completes each job through Kafka
        # the user task: a person completes it with a command
        for iid in ids:
            task = events.wait_for(first("USER_TASK_CREATED", iid), 60, f"{iid} user task")
            send(producer, lw.topics, command_record(
                Command.COMPLETE_USER_TASK, iid,
                {"taskKey": task.value["key"], "variables": {"approved": True}}, ANA))
        # the message: published through the API once the instance waits for it
        for iid in ids:
            events.wait_for(first("MESSAGE_SUBSCRIPTION_CREATED", iid), 60, f"{iid} waits")
            response = api.post("/api/messages", json={
                "name": "docs", "correlationKey": refs[iid], "variables": {"pages": 3},
                "ttlSeconds": 60})
            assert response.status_code == 202, response.text
        # the timer (PT1S) and the call activity run on their own
        for iid in ids:
            events.wait_for(done(iid), 60, f"{iid} completed")
        assert {iid for iid, _ in worker.answered} == set(ids)

        # the API's projection shows each instance COMPLETED with its variables
        for iid in ids:
            body = wait_until(projected(api, iid), 30, 0.1, f"{iid} COMPLETED in the API")
            assert body["processId"] == parent
            assert body["variables"]["worked"] is True
            assert body["variables"]["approved"] is True
            assert body["variables"]["pages"] == 3

        recs_all: list[Record] = events.poll()
        partition_of_record = {r.record_id: events.meta[i][0] for i, r in enumerate(recs_all)}
        children: dict[str, str] = {}
        for iid in ids:
            recs = of(recs_all, iid)
            # in order on `events`: each element completed once, in the diagram's order
            assert [r.element_id for r in recs if r.intent == "ELEMENT_COMPLETED"] == [
                "s", "work", "review", "docs", "pause", "call", "e", parent]
            assert [r for r in recs if r.kind == RecordKind.REJECTION] == []
            intents = [r.intent for r in recs]
            for before, after in [("JOB_CREATED", "JOB_COMPLETED"),
                                  ("USER_TASK_CREATED", "USER_TASK_COMPLETED"),
                                  ("TIMER_CREATED", "TIMER_TRIGGERED")]:
                assert intents.index(before) < intents.index(after), (before, after)
            assert next(r for r in recs if r.intent == "USER_TASK_COMPLETED").principal == ANA
            assert next(r for r in recs if r.intent == "JOB_COMPLETED").principal.id == (
                "worker:e2e")
            timer = next(r for r in recs if r.intent == "TIMER_CREATED")
            fired = next(r for r in recs if r.intent == "TIMER_TRIGGERED")
            assert fired.timestamp >= timer.value["due"]
            child_ids = {r.instance_id for r in recs_all if r.intent == "ELEMENT_ACTIVATED"
                         and r.element_id == child and r.instance_id in
                         {child_instance_id(iid, k) for k in range(1, 64)}}
            assert len(child_ids) == 1, child_ids
            (cid,) = child_ids
            children[iid] = cid
            assert any(is_done(r) for r in of(recs_all, cid))
        parts = {iid: (partition_of_record[of(recs_all, iid)[0].record_id],
                       partition_of_record[of(recs_all, cid)[0].record_id])
                 for iid, cid in children.items()}
        assert any(p != c for p, c in parts.values()), parts

        # the audit history: every record of the instance, in the topic's order, with its
        # principal; the chain verifies
        for iid in [*ids, *children.values()]:
            recs = of(recs_all, iid)
            rows = wait_until(audited(api, iid, len(recs)), 60, 0.2, f"audit history of {iid}")
            assert [row["seq"] for row in rows] == list(range(1, len(recs) + 1))
            assert sorted(row["recordId"] for row in rows) == sorted(r.record_id for r in recs)
            for p in {partition_of_record[r.record_id] for r in recs}:
                assert [row["recordId"] for row in rows
                        if partition_of_record[row["recordId"]] == p] == [
                    r.record_id for r in recs if partition_of_record[r.record_id] == p]
            by_id = {r.record_id: r for r in recs}
            for row in rows:
                rec = by_id[row["recordId"]]
                assert (row["intent"], row["elementId"], row["kind"]) == (
                    rec.intent, rec.element_id, rec.kind.value)
                assert (row["principal"]["kind"], row["principal"]["id"]) == (
                    rec.principal.kind.value, rec.principal.id)
            if iid in refs:
                seen = {(row["intent"], row["principal"]["id"]) for row in rows}
                assert ("USER_TASK_COMPLETED", "ana") in seen
                assert ("JOB_COMPLETED", "worker:e2e") in seen
            verdict = api.get(f"/api/instances/{iid}/verify").json()
            assert verdict["ok"] is True, verdict
            assert verdict["rows"] == len(recs)
    events.close()
