"""The job API end to end: workers outside Laneway take a service task's jobs over HTTP from the
real connectors service (its gateway for `LANEWAY_EXTERNAL_JOB_TYPES`), through the edge, with
their own agent tokens; the engine's commands carry the worker's principal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from laneway.bpmn import LANEWAY_NS
from laneway.records import Record
from laneway.worker import ActivatedJob, BpmnError, JobFailed, Worker
from scripts.stack.testing import unique_name
from tests.auth import auth_header, token
from tests.e2e.harness import Laneway, TopicReader, of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NS = f'xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:laneway="{LANEWAY_NS}"'
DIAGRAM = """<definitions {ns} id="d" targetNamespace="t">
  <error id="rej" errorCode="REJECTED"/>
  <process id="{pid}" isExecutable="true">
    <startEvent id="s"/>
    <serviceTask id="work" laneway:type="{type}" laneway:retries="3"/>
    <boundaryEvent id="rejected" attachedToRef="work">
      <errorEventDefinition errorRef="rej"/></boundaryEvent>
    <endEvent id="ok"/><endEvent id="handled"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
    <sequenceFlow id="f2" sourceRef="work" targetRef="ok"/>
    <sequenceFlow id="f3" sourceRef="rejected" targetRef="handled"/>
  </process>
</definitions>"""


def ended(iid: str) -> Callable[[list[Record]], bool]:
    return lambda recs: any(r.intent == "ELEMENT_COMPLETED" and r.element_type == "process"
                            for r in of(recs, iid))


def test_outside_workers_take_fail_throw_and_complete_jobs_over_http(
        laneway: Callable[..., Laneway]) -> None:
    job_type = unique_name("ext")
    lw = laneway(("engine", "definitions", "connectors"),
                 job_types=("http", "email", job_type),
                 env_overrides={"LANEWAY_EXTERNAL_JOB_TYPES": job_type})
    pid = unique_name("extjobs").replace("-", "_")
    lw.deploy(DIAGRAM.format(ns=NS, pid=pid, type=job_type).encode())
    events = TopicReader(lw.bootstrap, lw.topics.events)
    commands = TopicReader(lw.bootstrap, lw.topics.commands)
    worker_token = token("billing-worker", roles=["worker"], kind="agent")
    as_worker = {"Authorization": f"Bearer {worker_token}"}
    http = httpx.Client(base_url=lw.public_url, timeout=60)

    def start(n: int) -> str:
        with lw.api() as api:
            answer = api.post("/api/instances", json={"processId": pid, "variables": {"n": n}})
            assert answer.status_code == 201, answer.text
            return str(answer.json()["instanceId"])

    def activate(**body: Any) -> list[dict[str, Any]]:
        answer = http.post("/api/jobs/activate", headers=as_worker,
                           json={"type": job_type, "requestTimeoutMs": 20_000, **body})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["jobs"])

    # auth and bounds: refused before anything is leased, never a 500
    assert http.post("/api/jobs/activate", json={"type": job_type}).status_code == 401
    assert http.post("/api/jobs/activate", json={"type": job_type},
                     headers=auth_header("ops", roles=["operator"])).status_code == 403
    for bad in ({"type": job_type, "maxJobs": 10**9}, {"type": job_type, "timeoutMs": -1},
                {"type": job_type, "requestTimeoutMs": 10**7}, {"maxJobs": 1}, {"type": ""},
                {"type": job_type, "extra": 1}):
        assert http.post("/api/jobs/activate", json=bad, headers=as_worker).status_code == 422
    assert http.post("/api/jobs/activate", content=b"{not json", headers={
        **as_worker, "Content-Type": "application/json"}).status_code in (400, 422)
    assert http.post("/api/jobs/activate", json={"type": "not-served"},
                     headers=as_worker).status_code == 404
    assert http.post("/api/jobs/nokey/complete", json={}, headers=as_worker).status_code == 404
    assert http.post("/api/jobs/x:1/fail", json={"retries": -1},
                     headers=as_worker).status_code == 422

    # an empty long poll waits, then answers no jobs
    began = time.monotonic()
    assert activate(requestTimeoutMs=1000) == []
    assert time.monotonic() - began >= 0.9

    # a long poll waiting when the instance starts gets its job
    first = start(1)
    (job,) = activate(maxJobs=5)
    assert (job["processInstanceId"], job["elementId"], job["variables"], job["retries"]) == (
        first, "work", {"n": 1}, 3)
    done = http.post(f"/api/jobs/{job['key']}/complete", headers=as_worker,
                     json={"variables": {"approved": True}})
    assert done.status_code == 200, done.text
    assert http.post(f"/api/jobs/{job['key']}/complete", headers=as_worker,
                     json={}).status_code == 409
    events.wait_for(ended(first), 60, "the first instance completed")
    completed = next(r for r in of(events.poll(), first) if r.intent == "JOB_COMPLETED")
    assert completed.value["variables"] == {"approved": True}
    cmd = commands.wait_for(lambda recs: next((r for r in of(recs, first)
                                               if r.intent == "COMPLETE_JOB"), None), 30,
                            "the COMPLETE_JOB command")
    assert (cmd.principal.kind.value, cmd.principal.id) == ("agent", "billing-worker")

    # a lease that runs out offers the job again, to the next activation
    second = start(2)
    (leased,) = activate(timeoutMs=1000)
    (again,) = activate(timeoutMs=60_000)
    assert again["key"] == leased["key"]

    # the Python client: fail (retried with the retries it names), then a BPMN error
    attempts: list[int] = []

    def handler(job: ActivatedJob) -> dict[str, Any]:
        attempts.append(job.retries)
        if job.variables["n"] == 2:
            return {"late": True}
        if len(attempts) == 1:
            raise JobFailed("the far side is down")
        raise BpmnError("REJECTED", "not today", {"why": "policy"})

    http.post(f"/api/jobs/{again['key']}/complete", headers=as_worker, json={})
    events.wait_for(ended(second), 60, "the second instance completed")
    third = start(3)
    with Worker(lw.public_url, lambda: worker_token, job_type, handler,
                request_timeout_ms=5000, retry_backoff_ms=0) as worker:
        deadline = time.monotonic() + 60
        while len(attempts) < 2 and time.monotonic() < deadline:
            worker.run_once()
    assert attempts == [3, 2]
    events.wait_for(ended(third), 60, "the third instance ended at the boundary event")
    recs = of(events.poll(), third)
    assert [r.value["retries"] for r in recs if r.intent == "JOB_FAILED"] == [2]
    assert [r.element_id for r in recs if r.intent == "ELEMENT_COMPLETED"][-2:] == [
        "handled", pid]
    http.close()


def test_a_job_leased_when_the_gateway_dies_is_offered_again_by_the_next_one(
        laneway: Callable[..., Laneway]) -> None:
    job_type = unique_name("ext")
    lw = laneway(("engine", "definitions", "connectors"),
                 job_types=("http", "email", job_type),
                 env_overrides={"LANEWAY_EXTERNAL_JOB_TYPES": job_type,
                                "LANEWAY_MAX_VARIABLES_BYTES": "10000"})
    pid = unique_name("extcrash").replace("-", "_")
    lw.deploy(DIAGRAM.format(ns=NS, pid=pid, type=job_type).encode())
    events = TopicReader(lw.bootstrap, lw.topics.events)
    as_worker = auth_header("scanner", roles=["worker"], kind="agent")
    http = httpx.Client(base_url=lw.public_url, timeout=60)
    with lw.api() as api:
        answer = api.post("/api/instances", json={"processId": pid, "variables": {"n": 1}})
        assert answer.status_code == 201, answer.text
        iid = answer.json()["instanceId"]

    def activate() -> list[dict[str, Any]]:
        answer = http.post("/api/jobs/activate", headers=as_worker, json={
            "type": job_type, "timeoutMs": 600_000, "requestTimeoutMs": 20_000})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["jobs"])

    # leased for ten minutes; variables over the limit are refused, the lease kept
    (leased,) = activate()
    too_big = http.post(f"/api/jobs/{leased['key']}/complete", headers=as_worker,
                        json={"variables": {"blob": "x" * 20_000}})
    assert too_big.status_code == 413, too_big.text

    # the gateway dies with the job leased and unanswered: its offset was never committed
    lw.kill("connectors")
    lw.restart("connectors")
    (again,) = activate()
    assert again["key"] == leased["key"]
    done = http.post(f"/api/jobs/{again['key']}/complete", headers=as_worker,
                     json={"variables": {"scanned": True}})
    assert done.status_code == 200, done.text
    events.wait_for(ended(iid), 60, "the instance completed")
    http.close()
