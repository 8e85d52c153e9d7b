"""The definition lifecycle and the auth at the HTTP edge (services/definitions), against the
real Kafka and PostgreSQL: every rule of docs/people.md's "Definition lifecycle", what is on
the `definitions` topic after each step, the audit records of the transitions (through the
real audit sink into audit_log, read back through the API), and starting instances.

Each module run has its own topic prefix and schema, each test its own process ids.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer
from fastapi.testclient import TestClient
from joserfc import jws
from prometheus_client import CollectorRegistry

from laneway.auth.dev import issue_token, load_signing_key
from laneway.bpmn import LANEWAY_NS
from laneway.codec import decode_definition, decode_record
from laneway.kafka import RenewingProducer, consumer_config, producer_config
from laneway.publisher import Publisher
from laneway.records import Event, RecordKind
from laneway.settings import SettingsError
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from services.audit import db as audit_db
from services.audit.metrics import SinkMetrics
from services.audit.sink import AuditSink
from services.definitions.app import create_app
from services.definitions.deps import ServiceDeps
from services.definitions.republish import live_records, republish_missing
from services.definitions.settings import load_settings
from tests.auth import auth_header, signing_key, token, verifier
from tests.integration.api_harness import Api as BaseApi
from tests.integration.api_harness import running_api
from tests.integration.test_api import read_topic, with_key
from tests.lifecycle import authorize, transition

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
XML = {"content-type": "application/xml"}
ANA = auth_header("ana", roles=["modeler"])
BEN = auth_header("ben", roles=["reviewer", "authorizer"])
CARL = auth_header("carl", roles=["reviewer", "authorizer"])
AUDITOR = auth_header("audrey", roles=["auditor"])
# a modeler who also reviews: the roles allow approving, the four-eyes rule does not
SOLO = auth_header("solo", roles=["modeler", "reviewer", "authorizer"])

PLAIN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs_{pid}" targetNamespace="http://laneway.dev/test">
  <bpmn:process id="{pid}" name="{name}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="work" name="Work"/>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>
"""

# a user task in a lane without laneway:persona: cannot be AUTHORIZED until mapped
LANES = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:laneway="{LANEWAY_NS}"
                  id="defs_{{pid}}" targetNamespace="http://laneway.dev/test">
  <bpmn:process id="{{pid}}" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="clerks" name="Clerks"><bpmn:flowNodeRef>review</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="system" laneway:persona="Ops">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>done</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="review" name="Review"/>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>
"""


def plain(pid: str, name: str = "Plain") -> bytes:
    return PLAIN.format(pid=pid, name=name).encode()


def new_pid() -> str:
    return f"lc_{uuid.uuid4().hex[:10]}"


# --- fixtures ----------------------------------------------------------------------------------


class Api(BaseApi):
    """The API, with what the lifecycle tests ask of it."""

    def deploy(self, xml: bytes, headers: dict[str, str] = ANA) -> int:
        response = self.client.post("/api/definitions", content=xml,
                                    headers={**XML, **headers})
        assert response.status_code in (200, 201), response.text
        [deployed] = response.json()["deployed"]
        return int(deployed["version"])

    def on_topic(self) -> dict[str, dict[str, str]]:
        """{key: metadata} of the last record of every live key of `definitions`."""
        return {k: dict(decode_definition(v).metadata) for k, v in live_records(
            self.conns.kafka_bootstrap_servers, self.topics.definitions).items()}

    def state(self, pid: str, version: int = 1) -> str:
        listed = self.client.get("/api/definitions", params={"processId": pid},
                                 headers=ANA).json()
        return str(next(d["state"] for d in listed if d["version"] == version))


@pytest.fixture(scope="module")
def api(stack: Connections) -> Iterator[Api]:
    with running_api(stack, "test.lifecycle", Api) as api:
        yield api


# --- auth at the edge --------------------------------------------------------------------------


def test_no_token_is_401_with_a_bearer_challenge_and_health_needs_none(api: Api) -> None:
    for method, path in (("GET", "/api/definitions"), ("POST", "/api/instances"),
                         ("GET", "/api/instances"), ("POST", "/api/messages"),
                         ("GET", f"/api/definitions/{new_pid()}/versions/1/history")):
        response = api.client.request(method, path, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
    assert api.client.get("/health").status_code == 200
    assert api.client.get("/metrics").status_code == 200
    assert api.client.get("/openapi/definitions.json").status_code == 200


def test_every_route_but_health_metrics_the_public_form_and_sign_in_needs_a_token(
        api: Api) -> None:
    # every route the app serves, as its OpenAPI document lists them (other parts' too)
    spec = api.openapi()
    public = {("/health", "get"), ("/metrics", "get"), ("/api/forms/{process_id}", "post"),
              # the probes (docs/engine-service.md): a kubelet carries no token
              ("/health/live", "get"), ("/health/ready", "get"), ("/health/started", "get"),
              ("/api/forms/{process_id}", "get"),
              # what the console reads before anyone signs in (docs/console.md)
              ("/api/console/config", "get"), ("/api/dev/users", "get"),
              ("/api/dev/token", "post"),
              # a webhook call proves itself by its HMAC signature (docs/triggers.md)
              ("/api/hooks/{schedule_id}", "post"),
              # a response link's token is its own proof (docs/connectors.md, response)
              ("/respond/{token}", "get"), ("/respond/{token}", "post"),
              ("/api/respond/{token}", "post")}
    checked = 0
    for path, operations in spec["paths"].items():
        for method in operations:
            if (path, method) in public:
                continue
            concrete = path.replace("{", "x").replace("}", "")
            response = api.client.request(method.upper(), concrete, json={})
            assert response.status_code == 401, (method, path, response.status_code)
            checked += 1
    assert checked >= 12


def test_a_bad_token_is_401_with_the_reason(api: Api) -> None:
    forged = token("ana", roles=["modeler"])[:-4] + "AAAA"

    for bad, reason in ((forged, "signature"), ("not-a-jwt", "")):
        response = api.client.get("/api/definitions", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, response.text
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer error="invalid_token", error_description="')
        assert reason in response.json()["detail"].lower()
    expired = token("ana", roles=["modeler"], ttl_s=1)
    # issued two hours ago with a one-second life: far past the 60 s leeway
    stale = issue_token(signing_key(), user="ana", ttl_s=1, now=time.time() - 7200)
    assert api.client.get("/api/definitions",
                          headers={"Authorization": f"Bearer {expired}"}).status_code == 200
    old_one = api.client.get("/api/definitions", headers={"Authorization": f"Bearer {stale}"})
    assert old_one.status_code == 401
    assert "expired" in old_one.json()["detail"].lower()


def test_a_token_that_never_expires_is_401(api: Api) -> None:
    # exp 1e308 (a number far in the future) and 1e400 / NaN (infinity and not-a-number once
    # parsed) all compared as "not expired": a token good forever
    key = load_signing_key(signing_key())
    header = {"alg": "ES256", "kid": key.kid}
    long_lived = issue_token(signing_key(), user="ana", roles=["modeler"], ttl_s=1e308)
    unbounded = [long_lived] + [
        jws.serialize_compact(header, (json.dumps(
            {"iss": "laneway-dev", "aud": "laneway", "sub": "ana", "roles": ["modeler"]}
        )[:-1] + f', "exp": {exp}}}').encode(), key) for exp in ("1e400", "NaN")]
    for bad in unbounded:
        response = api.client.get("/api/definitions",
                                  headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, response.text
        detail = response.json()["detail"]
        assert ("token valid for too long" in detail
                or "malformed token: 'exp' must be a finite number" in detail), detail
        assert len(detail) < 300
    a_day = issue_token(signing_key(), user="ana", roles=["modeler"], ttl_s=24 * 3600)
    assert api.client.get("/api/definitions",
                          headers={"Authorization": f"Bearer {a_day}"}).status_code == 200


def test_a_reviewer_without_the_modeler_role_cannot_deploy(api: Api) -> None:
    pid = new_pid()

    response = api.client.post("/api/definitions", content=plain(pid), headers={**XML, **BEN})

    assert response.status_code == 403, response.text
    assert "modeler" in response.json()["detail"]
    listed = api.client.get("/api/definitions", params={"processId": pid}, headers=BEN)
    assert listed.json() == []


def test_resolving_an_incident_needs_the_operator_role(api: Api) -> None:
    refused = api.client.post(f"/api/incidents/{uuid.uuid4()}:1/resolve", headers=ANA)
    allowed = api.client.post(f"/api/incidents/{uuid.uuid4()}:1/resolve",
                              headers=auth_header("olga", roles=["operator"]))

    assert refused.status_code == 403, refused.text
    assert allowed.status_code == 404, allowed.text  # past auth: the instance is unknown


def test_the_service_refuses_to_start_without_a_key_source() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANEWAY_JWT_")}

    with pytest.raises(SettingsError) as raised:
        load_settings(env)
    done = subprocess.run([sys.executable, "-m", "services.definitions"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)

    assert "LANEWAY_JWT_JWKS_FILE" in str(raised.value)
    assert done.returncode == 2, done.stderr
    assert "LANEWAY_JWT_JWKS_FILE" in done.stderr
    assert "LANEWAY_JWT_SECRET" in done.stderr


# --- the lifecycle -----------------------------------------------------------------------------


def test_a_deploy_is_draft_and_only_authorized_and_retired_reach_the_topic(api: Api) -> None:
    # given a version deployed by ana
    pid = new_pid()
    version = api.deploy(plain(pid), ANA)
    key = f"{pid}@{version}"

    # then it is DRAFT and not on the topic; nor after REVIEW and APPROVED
    assert api.state(pid) == "DRAFT"
    assert key not in api.on_topic()
    for to, who in (("REVIEW", ANA), ("APPROVED", BEN)):
        response = transition(api.client, pid, version, to, who, comment=f"to {to}")
        assert response.status_code == 200, response.text
        assert response.json() == {"processId": pid, "version": version, "state": to,
                                   "personas": {}, "applied": True}
        assert api.state(pid) == to
        assert key not in api.on_topic()

    # when it is authorized, then the record is on the topic saying so
    assert transition(api.client, pid, version, "AUTHORIZED", BEN).status_code == 200
    assert api.on_topic()[key] == {"file": "upload.bpmn", "name": "Plain",
                                   "state": "AUTHORIZED"}

    # when it is retired, then the record is published again with state=RETIRED
    assert transition(api.client, pid, version, "RETIRED", CARL,
                      comment="superseded").status_code == 200
    assert api.on_topic()[key]["state"] == "RETIRED"
    assert api.state(pid) == "RETIRED"

    # and the history shows the deploy and every step, oldest first, with who and why
    history = api.client.get(f"/api/definitions/{pid}/versions/{version}/history",
                             headers=AUDITOR).json()
    steps = [(s["seq"], s["from"], s["to"], s["principal"]["id"], s["comment"])
             for s in history["steps"]]
    assert steps == [(0, None, "DRAFT", "ana", None), (1, "DRAFT", "REVIEW", "ana", "to REVIEW"),
                     (2, "REVIEW", "APPROVED", "ben", "to APPROVED"),
                     (3, "APPROVED", "AUTHORIZED", "ben", None),
                     (4, "AUTHORIZED", "RETIRED", "carl", "superseded")]
    assert history["steps"][2]["principal"] == {"kind": "human", "id": "ben",
                                                "roles": ["reviewer", "authorizer"]}
    times = [s["at"] for s in history["steps"]]
    assert times == sorted(times)


def test_a_transition_not_from_the_current_state_is_409_naming_the_allowed_ones(
    api: Api,
) -> None:
    pid = new_pid()
    version = api.deploy(plain(pid))

    skipped = transition(api.client, pid, version, "AUTHORIZED", BEN)
    sent_back = transition(api.client, pid, version, "DRAFT", ANA)

    assert skipped.status_code == 409, skipped.text
    assert skipped.json()["detail"] == ("Expected a transition from DRAFT to one of: REVIEW; "
                                        "but got DRAFT -> AUTHORIZED")
    assert sent_back.status_code == 409
    assert "REVIEW" in sent_back.json()["detail"]
    assert transition(api.client, pid, 99, "REVIEW", ANA).status_code == 404
    assert api.state(pid) == "DRAFT"


def test_the_author_can_neither_approve_nor_authorize_their_own_version(api: Api) -> None:
    # given a version deployed and sent to review by someone holding every needed role
    pid = new_pid()
    version = api.deploy(plain(pid), SOLO)
    assert transition(api.client, pid, version, "REVIEW", SOLO).status_code == 200

    # when the author approves it, then 403 with the reason
    own = transition(api.client, pid, version, "APPROVED", SOLO)
    assert own.status_code == 403, own.text
    assert "solo" in own.json()["detail"]
    assert "author" in own.json()["detail"]
    # and a modeler without the reviewer role is refused for the role
    modeler = transition(api.client, pid, version, "APPROVED", ANA)
    assert modeler.status_code == 403
    assert "reviewer" in modeler.json()["detail"]

    # when another approves, the author still cannot authorize
    assert transition(api.client, pid, version, "APPROVED", BEN).status_code == 200
    own_authorize = transition(api.client, pid, version, "AUTHORIZED", SOLO)
    assert own_authorize.status_code == 403, own_authorize.text
    assert api.state(pid) == "APPROVED"
    # even as admin: four eyes hold for everyone
    admin_author = auth_header("solo", roles=["admin"])
    assert transition(api.client, pid, version, "AUTHORIZED", admin_author).status_code == 403


def test_sending_back_and_the_roles_of_each_step(api: Api) -> None:
    pid = new_pid()
    version = api.deploy(plain(pid))
    assert transition(api.client, pid, version, "REVIEW", ANA).status_code == 200

    # a reviewer sends it back, the modeler resubmits, an authorizer sends it back from APPROVED
    assert transition(api.client, pid, version, "DRAFT", BEN).status_code == 200
    assert transition(api.client, pid, version, "REVIEW", BEN).status_code == 403
    assert transition(api.client, pid, version, "REVIEW", ANA).status_code == 200
    assert transition(api.client, pid, version, "APPROVED", BEN).status_code == 200
    reviewer_only = auth_header("rita", roles=["reviewer"])
    assert transition(api.client, pid, version, "DRAFT", reviewer_only).status_code == 403
    assert transition(api.client, pid, version, "DRAFT", CARL).status_code == 200
    assert api.state(pid) == "DRAFT"


def test_the_same_transition_repeated_by_the_same_principal_is_200_not_applied(
    api: Api,
) -> None:
    pid = new_pid()
    version = api.deploy(plain(pid))
    authorize(api.client, pid, version, ANA, BEN)

    again = transition(api.client, pid, version, "AUTHORIZED", BEN)
    by_another = transition(api.client, pid, version, "AUTHORIZED", CARL)

    assert again.status_code == 200, again.text
    assert again.json()["applied"] is False
    assert again.json()["state"] == "AUTHORIZED"
    assert by_another.status_code == 409
    history = api.client.get(f"/api/definitions/{pid}/versions/{version}/history",
                             headers=ANA).json()
    assert [s["to"] for s in history["steps"]] == ["DRAFT", "REVIEW", "APPROVED", "AUTHORIZED"]


def test_concurrent_transitions_of_one_version_apply_once(api: Api) -> None:
    # given a version in REVIEW and five reviewers approving it at once
    pid = new_pid()
    version = api.deploy(plain(pid))
    assert transition(api.client, pid, version, "REVIEW", ANA).status_code == 200
    reviewers = [auth_header(f"rev{i}", roles=["reviewer"]) for i in range(5)]

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(
            lambda h: transition(api.client, pid, version, "APPROVED", h), reviewers))

    # then one applied and the others found it APPROVED already
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409, 409]
    history = api.client.get(f"/api/definitions/{pid}/versions/{version}/history",
                             headers=ANA).json()
    assert [s["to"] for s in history["steps"]] == ["DRAFT", "REVIEW", "APPROVED"]


def test_authorized_needs_a_persona_on_every_lane_with_a_user_task(api: Api) -> None:
    # given a version whose user task is in a lane without a persona, approved without one
    pid = new_pid()
    xml = LANES.format(pid=pid).encode()
    version = api.deploy(xml)
    assert transition(api.client, pid, version, "REVIEW", ANA).status_code == 200
    assert transition(api.client, pid, version, "APPROVED", BEN).status_code == 200

    # when it is authorized, then 409 naming the lane, and nothing is published
    refused = transition(api.client, pid, version, "AUTHORIZED", BEN)
    assert refused.status_code == 409, refused.text
    assert "clerks" in refused.json()["detail"]
    assert f"{pid}@{version}" not in api.on_topic()

    # when it is sent back and approved with a mapping, then it can be authorized
    assert transition(api.client, pid, version, "DRAFT", BEN).status_code == 200
    assert transition(api.client, pid, version, "REVIEW", ANA).status_code == 200
    early = transition(api.client, pid, version, "APPROVED", BEN,
                       personas={"nowhere": "Clerk"})
    assert early.status_code == 422, early.text
    assert "nowhere" in early.json()["detail"]
    assert "clerks" in early.json()["detail"]
    approved = transition(api.client, pid, version, "APPROVED", BEN,
                          personas={"clerks": "Case Worker"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["personas"] == {"clerks": "Case Worker"}
    assert transition(api.client, pid, version, "AUTHORIZED", BEN).status_code == 200

    # and the record carries the mapping as persona:<laneId>
    assert api.on_topic()[f"{pid}@{version}"]["persona:clerks"] == "Case Worker"


def test_personas_are_refused_on_other_transitions(api: Api) -> None:
    pid = new_pid()
    version = api.deploy(LANES.format(pid=pid).encode())

    response = transition(api.client, pid, version, "REVIEW", ANA, personas={"clerks": "X"})

    assert response.status_code == 422, response.text
    assert api.state(pid) == "DRAFT"


# --- starting instances ------------------------------------------------------------------------


def test_starts_take_only_authorized_versions_and_the_newest_by_default(api: Api) -> None:
    pid = new_pid()
    v1 = api.deploy(plain(pid, "One"))

    # a DRAFT version cannot be started, with or without its number
    draft = api.client.post("/api/instances", json={"processId": pid, "version": v1},
                            headers=ANA)
    newest = api.client.post("/api/instances", json={"processId": pid}, headers=ANA)
    assert draft.status_code == 409, draft.text
    assert draft.json()["detail"] == (f"Expected version 1 of process '{pid}' to be "
                                      "AUTHORIZED, but it is DRAFT")
    assert newest.status_code == 409
    assert "v1 DRAFT" in newest.json()["detail"]

    # given v1 AUTHORIZED and v2 DRAFT, a start without version takes v1
    authorize(api.client, pid, v1, ANA, BEN)
    v2 = api.deploy(plain(pid, "Two"))
    started = api.client.post("/api/instances", json={"processId": pid}, headers=ANA)
    assert started.status_code == 201, started.text
    instance_id = started.json()["instanceId"]
    records = read_topic(api.conns.kafka_bootstrap_servers, api.topics.commands,
                         with_key(instance_id))
    [value] = [v for k, v, _, _ in records if k == instance_id]
    assert value is not None
    command = decode_record(value)
    assert command.value["version"] == v1
    assert command.principal.id == "ana"

    # given v2 AUTHORIZED and v1 RETIRED, the newest is v2 and v1 is refused
    authorize(api.client, pid, v2, ANA, BEN)
    assert transition(api.client, pid, v1, "RETIRED", BEN).status_code == 200
    retired = api.client.post("/api/instances", json={"processId": pid, "version": v1},
                              headers=ANA)
    assert retired.status_code == 409
    assert "RETIRED" in retired.json()["detail"]
    assert api.client.post("/api/instances", json={"processId": new_pid()},
                           headers=ANA).status_code == 404


# --- publishing: failures and their repair -----------------------------------------------------


def test_an_unacknowledged_authorize_is_503_and_retry_or_restart_repairs_it(api: Api) -> None:
    # given a version APPROVED, authorized through an API whose Kafka does not answer
    pid = new_pid()
    version = api.deploy(plain(pid))
    assert transition(api.client, pid, version, "REVIEW", ANA).status_code == 200
    assert transition(api.client, pid, version, "APPROVED", BEN).status_code == 200
    dead = Publisher("127.0.0.1:1", api.topics, timeout_s=1.0)
    broken = ServiceDeps(pool=api.deps.pool, publisher=dead)
    try:
        with TestClient(create_app(api.settings, broken, verifier())) as client:
            failed = transition(client, pid, version, "AUTHORIZED", BEN)
    finally:
        dead.close(0.1)

    # then it is stored, the caller is told to retry, and the topic lacks it
    assert failed.status_code == 503, failed.text
    assert "Retry the request" in failed.json()["detail"]
    assert api.state(pid) == "AUTHORIZED"
    key = f"{pid}@{version}"
    assert key not in api.on_topic()

    # when the service starts again, the republish puts it there, and the audit record too
    bootstrap = api.conns.kafka_bootstrap_servers
    assert key in republish_missing(api.deps.definitions, api.deps.publisher, bootstrap)
    assert api.on_topic()[key]["state"] == "AUTHORIZED"
    assert api.deps.lifecycle.send_unsent_audit() >= 1
    audit_id = f"definition:{pid}:{version}"
    events = read_topic(bootstrap, api.topics.events,
                        lambda rs: sum(r[0] == audit_id for r in rs) >= 4)
    assert [decode_record(v).value["to"] for k, v, _, _ in events
            if k == audit_id and v is not None] == ["DRAFT", "REVIEW", "APPROVED", "AUTHORIZED"]

    # and the caller's retry answers 200 without applying anything again
    retried = transition(api.client, pid, version, "AUTHORIZED", BEN)
    assert retried.status_code == 200
    assert retried.json()["applied"] is False


# --- the audit log -----------------------------------------------------------------------------


def test_each_transition_is_an_audit_record_the_sink_stores_and_history_shows(
    api: Api, stack: Connections,
) -> None:
    # given the audit sink writing this API's events into audit_log in the audit's schema
    schema = api.audit.settings.database_schema
    with audit_db.connect(stack.database_url, schema) as conn:
        audit_db.migrate(conn)
    sink = AuditSink(
        Consumer(consumer_config(stack.kafka_bootstrap_servers,
                                 unique_name(f"{api.topics.prefix}audit"))),
        RenewingProducer.from_config(producer_config(stack.kafka_bootstrap_servers)),
        lambda: audit_db.connect(stack.database_url, schema),
        events_topic=api.topics.events, dlq_topic=api.topics.dlq, poll_timeout_s=0.05,
        metrics=SinkMetrics(CollectorRegistry()))
    thread = threading.Thread(target=sink.run, name="audit-sink", daemon=True)
    thread.start()
    try:
        # when a version goes DRAFT -> REVIEW -> APPROVED -> AUTHORIZED
        pid = new_pid()
        version = api.deploy(plain(pid))
        assert transition(api.client, pid, version, "REVIEW", ANA,
                          comment="ready").status_code == 200
        assert transition(api.client, pid, version, "APPROVED", BEN).status_code == 200
        assert transition(api.client, pid, version, "AUTHORIZED", BEN).status_code == 200

        # then the audit history of the definition shows each step with its principal
        audit_id = f"definition:{pid}:{version}"

        def history() -> list[dict[str, Any]] | None:
            response = api.client.get(f"/api/instances/{audit_id}/history", headers=AUDITOR)
            events: list[dict[str, Any]] = response.json().get("events", []) \
                if response.status_code == 200 else []
            return events if len(events) == 4 else None

        events = wait_until(history, timeout=60, message="four audit records")
    finally:
        sink.stop()
        thread.join(30)
        sink.close()
    # (the deploy first: who authored the version)
    assert [(e["kind"], e["intent"], e["principal"]["id"]) for e in events] == [
        (RecordKind.EVENT.value, Event.DEFINITION_TRANSITIONED.value, "ana"),
        ("EVENT", "DEFINITION_TRANSITIONED", "ana"),
        ("EVENT", "DEFINITION_TRANSITIONED", "ben"), ("EVENT", "DEFINITION_TRANSITIONED", "ben")]
    assert events[0]["value"] == {"processId": pid, "version": version, "from": None,
                                  "to": "DRAFT", "comment": None}
    assert events[1]["value"] == {"processId": pid, "version": version, "from": "DRAFT",
                                  "to": "REVIEW", "comment": "ready"}
    assert events[3]["value"]["to"] == "AUTHORIZED"
    verified = api.client.get(f"/api/instances/{audit_id}/verify", headers=AUDITOR).json()
    assert verified["ok"] is True
    # and the audit routes want an auditor or operator
    assert api.client.get(f"/api/instances/{audit_id}/history", headers=ANA).status_code == 403
    assert api.client.get(f"/api/instances/{audit_id}/history").status_code == 401
