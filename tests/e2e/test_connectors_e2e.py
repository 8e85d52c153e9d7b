"""Connectors end to end: the real connectors service runs a diagram's `http` and `email` tasks
against local servers (an HTTP server counting calls per Idempotency-Key, an aiosmtpd server
with AUTH whose address is a LANEWAY_SECRET_* of the service), a 4xx becomes a BPMN error a
boundary event catches, and the audit history shows every step and verifies until a row is
edited. Then 2,000 instances while a connector worker and the audit service are SIGKILLed:
every instance completes, the far side sees each job key once (or a retry of one that was in
flight in the killed worker), and audit_log has exactly one row per record of `events`.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from email import message_from_bytes
from typing import Any

import httpx
import pytest

from laneway.bpmn import LANEWAY_NS
from laneway.records import Record
from scripts.stack.testing import unique_name, wait_until
from tests.connector_servers import RecordingServer, recording_server
from tests.e2e.harness import (
    Completions,
    Laneway,
    TopicReader,
    history,
    of,
    start_commands,
)
from tests.mail_kit import SMTP_USER, Mailbox, smtp_server, smtp_url

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300),
              pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]

INSTANCES = 2000
CONCURRENCY = 32  # the connectors service's default, per type and process

NS = f'xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:laneway="{LANEWAY_NS}"'

ORDER = """<definitions {ns} id="d" targetNamespace="t">
  <error id="bad" errorCode="BAD_REQUEST"/>
  <process id="{pid}" isExecutable="true">
    <startEvent id="s"/>
    <serviceTask id="create" laneway:type="http" laneway:method="POST"
      laneway:url="{url}/orders" laneway:body='{{"order": "{{{{ orderId }}}}"}}'
      laneway:response='{{"createdId": "body.id", "status": "status"}}'/>
    <serviceTask id="notify" laneway:type="email" laneway:to="{{{{ customer }}}}"
      laneway:subject="Order {{{{ createdId }}}}" laneway:body="Your order {{{{ orderId }}}}."/>
    <serviceTask id="validate" laneway:type="http" laneway:url="{url}/bad"
      laneway:errorOn4xx="BAD_REQUEST" laneway:response='{{"reason": "body.error"}}'/>
    <boundaryEvent id="rejected" attachedToRef="validate">
      <errorEventDefinition errorRef="bad"/></boundaryEvent>
    <endEvent id="ok"/><endEvent id="handled"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="create"/>
    <sequenceFlow id="f2" sourceRef="create" targetRef="notify"/>
    <sequenceFlow id="f3" sourceRef="notify" targetRef="validate"/>
    <sequenceFlow id="f4" sourceRef="validate" targetRef="ok"/>
    <sequenceFlow id="f5" sourceRef="rejected" targetRef="handled"/>
  </process>
</definitions>"""

ECHO = """<definitions {ns} id="d" targetNamespace="t">
  <process id="{pid}" isExecutable="true">
    <startEvent id="s"/>
    <serviceTask id="call" laneway:type="http" laneway:method="POST" laneway:url="{url}/echo"
      laneway:body='{{"n": "{{{{ n }}}}"}}'/>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="call"/>
    <sequenceFlow id="f2" sourceRef="call" targetRef="e"/>
  </process>
</definitions>"""


@pytest.fixture
def http_server() -> Iterator[RecordingServer]:
    with recording_server() as srv:
        yield srv


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, str]]:
    """An SMTP server with AUTH on 127.0.0.1, and the secret URL that reaches it."""
    mailbox = Mailbox()
    with smtp_server(mailbox, auth_require_tls=False) as port:
        yield mailbox, smtp_url(port, "orders@laneway.test")


def audited(api: httpx.Client, iid: str, count: int
            ) -> Callable[[], list[dict[str, Any]] | None]:
    def get() -> list[dict[str, Any]] | None:
        rows = history(api, iid)
        return rows if len(rows) >= count else None
    return get


def done(iid: str) -> Callable[[list[Record]], bool]:
    return lambda recs: any(r.intent == "ELEMENT_COMPLETED" and r.element_type == "process"
                            for r in of(recs, iid))


def test_http_email_and_a_caught_bpmn_error_run_and_the_audit_names_an_edited_row(
        laneway: Callable[..., Laneway], http_server: RecordingServer,
        smtp: tuple[Mailbox, str]) -> None:
    mailbox, secret = smtp
    lw = laneway(env_overrides={"LANEWAY_SECRET_SMTP": secret})
    pid = unique_name("order").replace("-", "_")
    lw.deploy(ORDER.format(ns=NS, pid=pid, url=http_server.url).encode())
    events = TopicReader(lw.bootstrap, lw.topics.events)

    with lw.api() as api:
        response = api.post("/api/instances", json={"processId": pid, "variables": {
            "orderId": "o-42", "customer": "ann@example.org"}})
        assert response.status_code == 201, response.text
        iid = response.json()["instanceId"]
        try:
            events.wait_for(done(iid), 60, "instance completed")
        except AssertionError:
            raise AssertionError(lw.logs()) from None
        recs = of(events.poll(), iid)

        # the http task called the far side once, with the job's idempotency key
        (order_call,) = [r for r in http_server.requests if r.path == "/orders"]
        assert json.loads(order_call.body) == {"order": "o-42"}
        create_job = next(r for r in recs if r.intent == "JOB_CREATED"
                          and r.element_id == "create")
        assert order_call.headers["idempotency-key"] == f"{iid}:{create_job.value['key']}"
        # the e-mail went out through the secret's server, after AUTH
        ((sender, rcpts, raw),) = mailbox.messages
        mail = message_from_bytes(raw)
        assert (sender, rcpts, mail["Subject"]) == ("orders@laneway.test", ["ann@example.org"],
                                                   "Order o-1")
        assert mailbox.logins == [SMTP_USER]
        # the 4xx became BAD_REQUEST, caught by the boundary event
        assert [r.element_id for r in recs if r.intent == "ELEMENT_COMPLETED"] == [
            "s", "create", "notify", "rejected", "handled", pid]
        body = wait_until(lambda: (lambda r: r.json() if r.json().get("status") == "COMPLETED"
                                   else None)(api.get(f"/api/instances/{iid}")), 30, 0.1,
                          "COMPLETED in the API")
        assert body["variables"]["createdId"] == "o-1"
        assert body["variables"]["reason"] == "amount must be positive"

        # the audit history: every record, in order, with the connectors as principals
        rows = wait_until(audited(api, iid, len(recs)), 60, 0.2, "audit history")
        assert [row["recordId"] for row in rows] == [r.record_id for r in recs]
        assert [row["seq"] for row in rows] == list(range(1, len(recs) + 1))
        who = {(row["intent"], row["elementId"]): row["principal"]["id"] for row in rows}
        assert who[("JOB_COMPLETED", "create")] == "connector:http"
        assert who[("JOB_COMPLETED", "notify")] == "connector:email"
        assert who[("JOB_ERROR_THROWN", "validate")] == "connector:http"
        verdict = api.get(f"/api/instances/{iid}/verify").json()
        assert (verdict["ok"], verdict["rows"], verdict["firstBadSeq"]) == (True, len(recs), None)

        # an edit of one row in PostgreSQL (the maintenance setting lets it past the
        # append-only trigger), and verify names that row
        edited = next(row["seq"] for row in rows if row["intent"] == "JOB_COMPLETED")
        with lw.db() as conn, conn.transaction():
            conn.execute("SET LOCAL laneway.audit_maintenance = on")
            changed = conn.execute(
                "UPDATE audit_log SET value = value || '{\"variables\": {\"status\": 200}}'"
                " WHERE instance_id = %s AND seq = %s", (iid, edited))
            assert changed.rowcount == 1
        verdict = api.get(f"/api/instances/{iid}/verify").json()
        assert verdict["ok"] is False
        assert verdict["firstBadSeq"] == edited
    events.close()


def test_two_thousand_instances_through_killed_connector_and_audit_processes(
        laneway: Callable[..., Laneway], http_server: RecordingServer) -> None:
    lw = laneway()
    pid = unique_name("echo").replace("-", "_")
    lw.deploy(ECHO.format(ns=NS, pid=pid, url=http_server.url).encode())
    # scale-out: a second connectors process for `http` joins the type's group
    second = lw.add("connectors", "c2", LANEWAY_CONNECTOR_TYPES="http")
    events = TopicReader(lw.bootstrap, lw.topics.events)
    completions = Completions(events)
    ids = [str(uuid.uuid4()) for _ in range(INSTANCES)]

    start_commands(lw.producer(), lw.topics, pid, ids, lambda iid: {"n": iid[:8]})
    wait_until(lambda: completions.update() >= 300, 90, 0.05, "300 instances completed")
    started = [lw.metric("connectors", "laneway_connectors_jobs_started_total"),
               lw.metric("connectors", "laneway_connectors_jobs_started_total", second)]
    # both processes took jobs of the type
    assert min(started) > 0, started
    lw.kill("connectors", second)
    lw.kill("audit")
    at_kill = completions.update()
    lw.restart("audit")

    completions.wait(ids, 180, on_timeout=lw.logs)
    recs: list[Record] = events.poll()
    mine = set(ids)
    assert at_kill < INSTANCES
    assert all(completions.done[i] == 1 for i in ids)

    # the far side saw each job key; only a job in flight in the killed worker (the call
    # made, its outcome not stored yet) may have been called again, with the same key
    keys = {f"{r.instance_id}:{r.value['key']}" for r in recs
            if r.intent == "JOB_CREATED" and r.instance_id in mine}
    assert len(keys) == INSTANCES
    calls = {k: n for k, n in http_server.per_key.items() if k in keys}
    assert set(calls) == keys
    repeated = {k: n for k, n in calls.items() if n > 1}
    assert len(repeated) <= CONCURRENCY, repeated
    completed_jobs = Counter(r.instance_id for r in recs if r.intent == "JOB_COMPLETED")
    assert set(completed_jobs.values()) == {1}

    # A command delivered more than once with the same record id (a connector replays its
    # stored COMPLETE_JOB byte for byte after a redelivery) is refused each time with a
    # rejection of its own id (`<command id>.r<n>@<where it was read>`): no record id on
    # `events` is another's, so the audit sink, which deduplicates by record id, keeps all.
    first_of: dict[str, Record] = {}
    collisions: list[tuple[Record, Record]] = []
    for r in recs:
        if r.record_id in first_of:
            collisions.append((first_of[r.record_id], r))
        else:
            first_of[r.record_id] = r
    assert collisions == []
    replays = sum(1 for r in recs if r.kind.value == "REJECTION" and r.intent == "COMPLETE_JOB")
    record_ids = list(first_of)

    def audit_count() -> int | None:
        with lw.db() as conn:
            row = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        n = int(row[0]) if row else 0
        return n if n >= len(record_ids) else None

    wait_until(audit_count, 90, 0.2, "audit caught up")
    events.poll()
    with lw.db() as conn:
        audit_ids = [r[0] for r in conn.execute("SELECT record_id FROM audit_log")]
    assert len(audit_ids) == len(set(audit_ids))
    assert set(audit_ids) == {r.record_id for r in events.items}
    assert len(audit_ids) == len(record_ids)
    sys.stderr.write(
        f"\n[connectors] jobs started before the kill {started}; completed at the kill "
        f"{at_kill}/{INSTANCES}; keys called twice: {len(repeated)}; audit rows "
        f"{len(audit_ids)} = distinct record ids on events {len(set(first_of))}; replayed "
        f"completions refused (each its own audit row): {replays}\n")
    events.close()
