"""The permit example end to end, through the public HTTP API only (issue 5, section 5).

A citizen's submission on the public form starts the process; the case worker and the
supervisor work their tasks through the worklist with their own tokens; a supervisor cannot
complete the case worker's task (the engine refuses it, and the audit says who tried); approval
sends exactly one e-mail to a local SMTP server; the audit history names every principal in
order and its hash chain verifies. Every service runs as its own process (engine, definitions,
worklist, connectors, audit) against the real Kafka, PostgreSQL and Redis.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import httpx
import pytest

from scripts.stack.testing import wait_until
from tests.e2e.harness import Laneway
from tests.e2e.permit_kit import (
    APPLICATION,
    AUDITOR,
    CASE_WORKER,
    CITIZEN,
    SERVICES,
    SUPERVISOR,
    Mailbox,
    smtp_catcher,
)
from tests.e2e.permit_kit import ok as _ok
from tests.e2e.permit_kit import put_in_force as _put_the_procedure_in_force

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, str]]:
    with smtp_catcher() as caught:
        yield caught


def _task(api: httpx.Client, headers: dict[str, str], iid: str, element: str
          ) -> Callable[[], dict[str, Any] | None]:
    def find() -> dict[str, Any] | None:
        page = api.get("/api/tasks", params={"instanceId": iid}, headers=headers)
        if page.status_code != 200:
            return None
        found = [t for t in page.json()["items"]
                 if t["elementId"] == element and t["state"] in ("open", "claimed")]
        return found[0] if found else None
    return find


def _history(api: httpx.Client, iid: str) -> list[dict[str, Any]]:
    page = api.get(f"/api/instances/{iid}/history", params={"limit": 1000}, headers=AUDITOR)
    return list(page.json()["events"]) if page.status_code == 200 else []


def test_a_permit_from_the_public_form_to_the_approval_email(
        laneway: Callable[..., Laneway], smtp: tuple[Mailbox, str]) -> None:
    mailbox, smtp_url = smtp
    lw = laneway(services=SERVICES, env_overrides={"LANEWAY_SECRET_SMTP": smtp_url,
                                                     "LANEWAY_CONNECTOR_TYPES": "email"})
    with httpx.Client(base_url=lw.public_url, timeout=30) as api:
        version = _put_the_procedure_in_force(api)

        # the citizen applies on the public form; a malformed application is refused first
        bad = api.post("/api/forms/permit", json={**APPLICATION, "applicant": {"name": "Ada"}},
                       headers=CITIZEN)
        assert bad.status_code == 422, bad.text
        assert {e["field"] for e in bad.json()["errors"]} == {"applicant.email"}
        iid = _ok(api.post("/api/forms/permit", json=APPLICATION, headers=CITIZEN), 201)[
            "instanceId"]

        review = wait_until(_task(api, CASE_WORKER, iid, "review_application"), 60)
        assert review is not None, "the case worker never saw the review task"
        assert review["persona"] == "Case Worker"
        assert review["form"] == "permit-review"
        assert review["dueDate"] is not None  # laneway:slaMinutes
        # the supervisor's worklist does not offer it ...
        assert _task(api, SUPERVISOR, iid, "review_application")() is None
        # ... and the engine refuses the supervisor's attempt, whatever route it came by
        tried = api.post(f"/api/tasks/{review['taskId']}/complete",
                         json={"variables": {"recommendation": "approve"}}, headers=SUPERVISOR)
        assert tried.status_code == 403, tried.text
        assert tried.json()["rejectionType"] == "FORBIDDEN"
        assert "sam" in tried.json()["detail"]

        # the case worker claims it; a result the form refuses is a 422 with the field
        _ok(api.post(f"/api/tasks/{review['taskId']}/claim", headers=CASE_WORKER))
        invalid = api.post(f"/api/tasks/{review['taskId']}/complete",
                           json={"variables": {"recommendation": "maybe"}},
                           headers=CASE_WORKER)
        assert invalid.status_code == 422, invalid.text
        assert [e["field"] for e in invalid.json()["errors"]] == ["recommendation"]
        done = _ok(api.post(f"/api/tasks/{review['taskId']}/complete",
                            json={"variables": {"recommendation": "approve",
                                                "notes": "complete and in order"}},
                            headers=CASE_WORKER))
        assert done["state"] == "completed"

        decision = wait_until(_task(api, SUPERVISOR, iid, "decide_permit"), 60)
        assert decision is not None, "the supervisor never saw the decision task"
        _ok(api.post(f"/api/tasks/{decision['taskId']}/complete",
                     json={"variables": {"approved": True, "reason": "Meets the zoning plan."}},
                     headers=SUPERVISOR))

        def completed() -> dict[str, Any] | None:
            got = api.get(f"/api/instances/{iid}", headers=AUDITOR)
            body = got.json() if got.status_code == 200 else {}
            return body if body.get("status") == "COMPLETED" else None
        instance = wait_until(completed, 90)
        assert instance is not None, f"instance {iid} did not complete"
        assert instance["version"] == version

        # exactly one e-mail, to the applicant, saying granted
        assert wait_until(lambda: len(mailbox.messages) >= 1, 30)
        assert len(mailbox.messages) == 1
        rcpts, raw = mailbox.messages[0]
        assert rcpts == ["ada@example.org"]
        mail = message_from_bytes(raw, policy=default_policy)
        assert mail["Subject"] == "Your building permit for 12 Analytical Lane is granted"

        # the audit names every principal, in order, and its chain verifies
        def all_audited() -> list[dict[str, Any]] | None:
            rows = _history(api, iid)
            ends = [r for r in rows if r["intent"] == "ELEMENT_COMPLETED"
                    and r["elementType"] == "process"]
            return rows if ends else None
        rows = wait_until(all_audited, 60)
        assert rows is not None, "the audit log never recorded the end of the instance"
        actors: list[str] = []
        for row in rows:
            who = row["principal"]["id"]
            if not actors or actors[-1] != who:
                actors.append(who)
        assert actors == ["ada", "sam", "carla", "sam", "connector:email"], (
            json.dumps([(r["intent"], r["principal"]["id"]) for r in rows], indent=1))
        refusal = [r for r in rows if r["kind"] == "REJECTION"]
        assert [(r["intent"], r["elementId"], r["principal"]["id"], r["value"]["rejectionType"])
                for r in refusal] == [("COMPLETE_USER_TASK", "review_application", "sam",
                                       "FORBIDDEN")]
        verified = _ok(api.get(f"/api/instances/{iid}/verify", headers=AUDITOR))
        assert verified["ok"] is True
        assert verified["rows"] == len(rows)

        # and the procedure's own history says who put it in force
        history = _ok(api.get(f"/api/definitions/permit/versions/{version}/history",
                              headers=AUDITOR))
        steps = history["steps"]
        assert [(s["to"], s["principal"]["id"]) for s in steps][-3:] == [
            ("REVIEW", "ana"), ("APPROVED", "ben"), ("AUTHORIZED", "ben")]


OVERDUE = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
             xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" id="d" targetNamespace="t">
  <process id="overdue_review" isExecutable="true">
    <laneSet id="ls">
      <lane id="desk" name="Case Worker" laneway:persona="Case Worker">
        <flowNodeRef>s</flowNodeRef><flowNodeRef>review</flowNodeRef><flowNodeRef>e</flowNodeRef>
      </lane>
    </laneSet>
    <startEvent id="s"/>
    <userTask id="review" name="Review" laneway:slaMinutes="0.01"
              laneway:escalationConnector="email" laneway:to="supervisors@city.example"
              laneway:subject="Overdue: {{ case }}" laneway:body="Case {{ case }} waits."/>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
    <sequenceFlow id="f2" sourceRef="review" targetRef="e"/>
  </process>
</definitions>"""


def test_an_overdue_task_is_escalated_once_with_one_email_and_can_still_be_done(
        laneway: Callable[..., Laneway], smtp: tuple[Mailbox, str]) -> None:
    mailbox, smtp_url = smtp
    lw = laneway(services=SERVICES, env_overrides={
        "LANEWAY_SECRET_SMTP": smtp_url, "LANEWAY_CONNECTOR_TYPES": "email",
        "LANEWAY_SLA_POLL_S": "0.2", "LANEWAY_SLA_RESEND_S": "1"})
    with httpx.Client(base_url=lw.public_url, timeout=30) as api:
        lw.deploy(OVERDUE.encode())
        iid = _ok(api.post("/api/instances", json={"processId": "overdue_review",
                                                   "variables": {"case": "C-7"}},
                           headers=CASE_WORKER), 201)["instanceId"]

        def escalated() -> dict[str, Any] | None:
            task = _task(api, CASE_WORKER, iid, "review")()
            return task if task is not None and task["escalatedAt"] is not None else None
        task = wait_until(escalated, 60)
        assert task is not None, "the overdue task was never escalated"
        assert task["overdue"] is True

        # the notification: one e-mail to the address the task names
        assert wait_until(lambda: len(mailbox.messages) >= 1, 30)
        rcpts, raw = mailbox.messages[0]
        assert rcpts == ["supervisors@city.example"]
        assert message_from_bytes(raw, policy=default_policy)["Subject"] == "Overdue: C-7"

        # escalated, the task is still the case worker's to finish
        _ok(api.post(f"/api/tasks/{task['taskId']}/complete", json={"variables": {}},
                     headers=CASE_WORKER))

        def ended() -> list[dict[str, Any]] | None:
            rows = _history(api, iid)
            return rows if any(r["intent"] == "ELEMENT_COMPLETED"
                               and r["elementType"] == "process" for r in rows) else None
        rows = wait_until(ended, 60)
        assert rows is not None
        # exactly once: one escalation in the log, sent by the SLA agent, and one e-mail
        escalations = [r for r in rows if r["intent"] == "USER_TASK_ESCALATED"]
        assert [(r["principal"]["kind"], r["principal"]["id"]) for r in escalations] == [
            ("agent", "worklist:sla")]
        assert len(mailbox.messages) == 1
