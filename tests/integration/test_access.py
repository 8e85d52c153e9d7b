"""Who may read an instance's variables, and who may publish a message (docs/people.md,
"Who reads instances" and "Who publishes messages"), through the API against the real Kafka
and PostgreSQL.

The instance projection's table and the audit log are seeded directly (the engine and the
audit sink do not run here): the instance rows are what the projection writes, the audit rows
what the sink writes for the records that make someone take part in an instance.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from laneway.bpmn import LANEWAY_NS
from scripts.stack import Connections
from scripts.stack.testing import unique_name
from services.audit.chain import ZERO_HASH
from services.audit.instances import InstanceUpsert, upsert_instances
from tests.auth import auth_header
from tests.integration.api_harness import Api, running_api
from tests.lifecycle import AUTHOR, authorize

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

OPERATOR = auth_header("olga", roles=["operator"])
AUDITOR = auth_header("ida", roles=["auditor"])
ADA = auth_header("ada")  # an applicant: a valid token, no role
MALLORY = auth_header("mallory")  # a stranger: a valid token, no role
CARLA = auth_header("carla", personas=["Case Worker"])


@pytest.fixture(scope="module")
def api(stack: Connections) -> Iterator[Api]:
    with running_api(stack, "test.access", Api, headers=AUTHOR,
                     LANEWAY_PROJECTION="off") as api:
        yield api


def seed_instance(api: Api, process_id: str, variables: dict[str, Any]) -> str:
    """An instance row as the projection writes it; its id."""
    iid = str(uuid.uuid4())
    with api.audit.pool.connection() as conn:
        upsert_instances(conn, [InstanceUpsert(
            iid, process_id, 1, None, "ACTIVE", ["review"], variables, [],
            datetime.now(UTC), 0, 0)])
    return iid


def seed_log(api: Api, iid: str, rows: list[tuple[str, dict[str, Any], dict[str, Any]]]
             ) -> None:
    """Audit rows (intent, principal, value) of `iid`, seq 1, 2, ... (any hash will do: only
    verify checks them)."""
    for seq, (intent, principal, value) in enumerate(rows, start=1):
        api.execute(
            "INSERT INTO audit_log (instance_id, seq, record_id, kind, intent, element_id, "
            "element_type, token_id, scope_id, principal, value, event_time, written_at, "
            "source_topic, source_partition, source_offset, prev_hash, hash) VALUES (%s, %s, "
            "%s, 'EVENT', %s, 'e', 'userTask', 1, 0, %s, %s, now(), now(), 't', 0, 0, %s, %s)",
            iid, seq, f"{iid}.{seq}", intent, json.dumps(principal), json.dumps(value),
            ZERO_HASH, ZERO_HASH)


def human(user: str) -> dict[str, Any]:
    return {"kind": "human", "id": user, "roles": [], "claims": {}}


ENGINE = {"kind": "system", "id": "engine", "roles": [], "claims": {}}
ANONYMOUS = {"kind": "human", "id": "anonymous", "roles": [], "claims": {"client": "1.2.3.4"}}


def ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {i["instanceId"] for i in response.json()["items"]}


# --- reading instances -------------------------------------------------------------------------


def test_a_token_without_a_role_reads_only_the_instances_it_takes_part_in(api: Api) -> None:
    # given Ada's application (she started it), one a form started (anonymous) where Carla
    # completed the review, one assigned to Carla and one with her as a candidate user
    pid = unique_name("permit")
    secret = {"applicant": {"name": "Ada Lovelace", "email": "ada@example.org"},
              "address": "12 Analytical Lane"}
    adas = seed_instance(api, pid, secret)
    seed_log(api, adas, [("ELEMENT_ACTIVATED", human("ada"), {}),
                         ("USER_TASK_CREATED", ENGINE, {"key": 3})])
    formed = seed_instance(api, pid, {"x": 1})
    seed_log(api, formed, [("ELEMENT_ACTIVATED", ANONYMOUS, {}),
                           ("USER_TASK_CREATED", ENGINE, {"key": 3}),
                           ("USER_TASK_COMPLETED", human("carla"), {"key": 3})])
    assigned = seed_instance(api, pid, {"y": 2})
    seed_log(api, assigned, [("ELEMENT_ACTIVATED", ENGINE, {}),
                             ("USER_TASK_CREATED", ENGINE, {"key": 3, "assignee": "carla"})])
    candidate = seed_instance(api, pid, {"z": 3})
    seed_log(api, candidate, [("ELEMENT_ACTIVATED", ENGINE, {}),
                              ("USER_TASK_CREATED", ENGINE,
                               {"key": 3, "candidateUsers": ["bob", "carla"]})])
    everything = {adas, formed, assigned, candidate}
    q = {"processId": pid}

    # when each asks for the instances, then a stranger sees none of them, and nothing of
    # Ada's; each person sees what they take part in; the overseeing roles see every one
    assert ids(api.client.get("/api/instances", params=q, headers=MALLORY)) == set()
    assert api.client.get("/api/instances", params=q, headers=MALLORY).json()["count"] == 0
    stranger = api.client.get(f"/api/instances/{adas}", headers=MALLORY)
    assert stranger.status_code == 404, stranger.text
    assert "Ada" not in stranger.text
    assert ids(api.client.get("/api/instances", params=q, headers=ADA)) == {adas}
    mine = api.client.get(f"/api/instances/{adas}", headers=ADA)
    assert mine.status_code == 200, mine.text
    assert mine.json()["variables"] == secret
    assert ids(api.client.get("/api/instances", params=q, headers=CARLA)) == {
        formed, assigned, candidate}
    assert ids(api.client.get("/api/instances", params=q, headers=OPERATOR)) == everything
    assert ids(api.client.get("/api/instances", params=q, headers=AUDITOR)) == everything
    assert api.client.get(f"/api/instances/{adas}", headers=AUDITOR).json()["variables"] \
        == secret
    # a modeler deploys diagrams; it does not read applications
    assert ids(api.client.get("/api/instances", params=q)) == set()


def test_the_anonymous_form_submitter_id_takes_part_in_nothing(api: Api) -> None:
    # a token whose subject happens to be "anonymous" is not every form's applicant
    pid = unique_name("permit")
    formed = seed_instance(api, pid, {"applicant": {"email": "someone@example.org"}})
    seed_log(api, formed, [("ELEMENT_ACTIVATED", ANONYMOUS, {})])

    who = auth_header("anonymous")
    assert ids(api.client.get("/api/instances", params={"processId": pid}, headers=who)) == set()
    assert api.client.get(f"/api/instances/{formed}", headers=who).status_code == 404


def test_the_same_id_of_another_kind_is_not_the_starter(api: Api) -> None:
    # the engine (system / engine) started it on a timer; an agent token named "engine" is
    # not the engine
    pid = unique_name("timer")
    started = seed_instance(api, pid, {"a": 1})
    seed_log(api, started, [("ELEMENT_ACTIVATED", ENGINE, {})])

    bot = auth_header("engine", kind="agent")
    assert api.client.get(f"/api/instances/{started}", headers=bot).status_code == 404


# --- publishing messages -----------------------------------------------------------------------

WAITING = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:laneway="{ns}" id="defs_{pid}" targetNamespace="http://laneway.dev/test">
  <bpmn:message id="paid" name="{message}" {publishers}/>
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:messageEventDefinition messageRef="paid"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>
"""


def deploy(api: Api, message: str, publishers: str | None, *, authorized: bool = True) -> None:
    pid = f"p_{uuid.uuid4().hex[:10]}"
    attribute = f'laneway:publishers="{publishers}"' if publishers is not None else ""
    xml = WAITING.format(ns=LANEWAY_NS, pid=pid, message=message, publishers=attribute)
    deployed = api.client.post("/api/definitions", content=xml.encode(),
                               headers={"content-type": "application/xml"})
    assert deployed.status_code == 201, deployed.text
    if authorized:
        authorize(api.client, pid, 1)


def published(api: Api) -> float:
    """How many messages the definitions service produced."""
    value = api.deps.metrics.registry.get_sample_value(
        "laneway_definitions_messages_published_total")
    return value or 0.0


def publish(api: Api, name: str, headers: dict[str, str]) -> Any:
    return api.client.post("/api/messages", headers=headers, json={
        "name": name, "correlationKey": unique_name("order"), "variables": {"paid": True}})


def test_a_token_without_a_role_cannot_publish_a_message(api: Api) -> None:
    # given a running diagram waiting for a message that names no publishers
    message = unique_name("paid")
    deploy(api, message, None)

    # when a stranger publishes it (it would overwrite a waiting instance's variables)
    before = published(api)
    refused = publish(api, message, MALLORY)

    # then it is refused, saying what it takes, and nothing was produced; an operator may
    assert refused.status_code == 403, refused.text
    assert published(api) == before
    assert "operator" in refused.json()["detail"]
    assert "laneway:publishers" in refused.json()["detail"]
    assert publish(api, message, OPERATOR).status_code == 202


def test_the_personas_a_message_names_may_publish_it(api: Api) -> None:
    # given a message an authorized diagram lets cashiers publish, and one a draft would
    message, drafted = unique_name("paid"), unique_name("paid")
    deploy(api, message, "Cashier, Payment Bot")
    deploy(api, drafted, "Cashier", authorized=False)
    cashier = auth_header("cass", personas=["cashier"])
    bot = auth_header("pay-bot", personas=["payment_bot"], kind="agent")

    # then the personas it names publish it (names compare normalised), and nothing else:
    # not another message, not one of a version that is not authorized, not another persona
    sent = publish(api, message, cashier)
    assert sent.status_code == 202, sent.text
    assert publish(api, message, bot).status_code == 202
    assert publish(api, unique_name("other"), cashier).status_code == 403
    assert publish(api, drafted, cashier).status_code == 403
    assert publish(api, message, CARLA).status_code == 403
