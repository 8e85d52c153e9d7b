"""Forms through the HTTP API against the real PostgreSQL, Kafka and Redis: the schema registry
(roles), the public start form (START_INSTANCE on `commands`, field errors, lifecycle, rate
limit) and failing closed when Redis is down.

The engine is not involved: the tests read what the API produced. Versions are made
AUTHORIZED (or DRAFT) with SQL so these tests do not depend on the lifecycle's own rules.
"""

from __future__ import annotations

import dataclasses
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from fastapi.testclient import TestClient
from redis import Redis

from laneway.codec import decode_record
from laneway.records import Command, Record
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from services.definitions.app import create_app
from services.definitions.ratelimit import RateLimit, RateLimiter
from tests.auth import ADMIN, auth_header, verifier
from tests.integration.api_harness import Api as BaseApi
from tests.integration.api_harness import running_api

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LIMIT = 4  # LANEWAY_FORM_RATE_LIMIT of the module's app: per minute, per address and process

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" id="d_{pid}" targetNamespace="t">
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="start" {form}/>
    <bpmn:userTask id="review"/>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>
"""
SCHEMA = {
    "type": "object",
    "required": ["applicant", "amount"],
    "properties": {
        "applicant": {"type": "object", "required": ["email"],
                      "properties": {"email": {"type": "string", "format": "email"}}},
        "amount": {"type": "integer", "minimum": 1},
    },
}
VALID = {"applicant": {"email": "ada@example.org"}, "amount": 5}
MODELER = auth_header("mia", roles=["modeler"])
READER = auth_header("rob")


class Api(BaseApi):
    """The API, with the topic the public form produces to."""

    @property
    def commands_topic(self) -> str:
        return self.topics.commands


@pytest.fixture(scope="module")
def api(stack: Connections) -> Iterator[Api]:
    with running_api(stack, "test.forms", Api, LANEWAY_PROJECTION="off",
                     LANEWAY_FORM_RATE_LIMIT=f"{LIMIT}/minute") as api:
        yield api


# --- helpers -----------------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def deploy(api: Api, pid: str, form: str | None, *, state: str = "AUTHORIZED",
           task_name: str = "") -> int:
    """Deploy a start -> task -> end process whose start event names `form`; put the new
    version in `state`. A new `task_name` makes a new version of the same process."""
    xml = BPMN.format(pid=pid, form=f'laneway:form="{form}"' if form else "").replace(
        'id="review"', f'id="review" name="{task_name}"')
    response = api.client.post("/api/definitions", content=xml.encode(),
                               headers={**ADMIN, "content-type": "application/xml"})
    assert response.status_code == 201, response.text
    version = int(response.json()["deployed"][0]["version"])
    api.execute("UPDATE definitions SET state = %s WHERE process_id = %s AND version = %s",
            state, pid, version)
    return version


def upload(api: Api, form_id: str, schema: Any = SCHEMA) -> None:
    response = api.client.put(f"/api/form-schemas/{form_id}", json=schema, headers=MODELER)
    assert response.status_code == 201, response.text


def starts_of(api: Api, pid: str) -> list[Record]:
    """Every START_INSTANCE of `pid` on the commands topic, read to its end (the API waits for
    Kafka's acknowledgement before answering, so what it produced is there)."""
    consumer = Consumer({"bootstrap.servers": api.conns.kafka_bootstrap_servers,
                         "group.id": unique_name("test.forms.read"),
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    topic = api.commands_topic
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in parts}
        left = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in left])
        found: list[Record] = []

        def read_to_end() -> bool:
            msg = consumer.poll(0.2)
            err = None if msg is None else msg.error()
            if msg is not None and err is None:
                value = msg.value()
                record = decode_record(value) if value is not None else None
                if record is not None and record.intent == Command.START_INSTANCE.value \
                        and record.value.get("processId") == pid:
                    found.append(record)
                if (msg.offset() or 0) + 1 >= ends[msg.partition() or 0]:
                    left.discard(msg.partition() or 0)
            elif err is not None and err.code() != KafkaError._PARTITION_EOF:
                raise AssertionError(str(err))
            return not left

        wait_until(read_to_end, timeout=30, interval=0, message=f"the end of {topic}")
        return found
    finally:
        consumer.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the registry ------------------------------------------------------------------------------


def test_a_modeler_uploads_a_schema_201_then_replaces_it_200(api: Api) -> None:
    form_id = new_id("apply")

    created = api.client.put(f"/api/form-schemas/{form_id}", json=SCHEMA, headers=MODELER)
    replaced = api.client.put(f"/api/form-schemas/{form_id}",
                              json={**SCHEMA, "title": "v2"}, headers=MODELER)

    assert (created.status_code, created.json()) == (201, {"formId": form_id, "new": True})
    assert (replaced.status_code, replaced.json()) == (200, {"formId": form_id, "new": False})
    got = api.client.get(f"/api/form-schemas/{form_id}", headers=READER)
    assert (got.status_code, got.json()) == (200, {**SCHEMA, "title": "v2"})
    assert form_id in api.client.get("/api/form-schemas", headers=READER).json()
    [(by,)] = api.sql("SELECT updated_by FROM form_schemas WHERE form_id = %s", form_id)
    assert (by["kind"], by["id"]) == ("human", "mia")


def test_uploading_needs_the_modeler_role_and_reading_needs_a_token(api: Api) -> None:
    form_id = new_id("apply")

    no_role = api.client.put(f"/api/form-schemas/{form_id}", json=SCHEMA, headers=READER)
    no_token = api.client.put(f"/api/form-schemas/{form_id}", json=SCHEMA)

    assert no_role.status_code == 403, no_role.text
    assert no_token.status_code == 401, no_token.text
    assert api.sql("SELECT count(*) FROM form_schemas WHERE form_id = %s", form_id) == [(0,)]
    upload(api, form_id)
    assert api.client.get(f"/api/form-schemas/{form_id}").status_code == 401
    assert api.client.get("/api/form-schemas").status_code == 401
    missing = api.client.get(f"/api/form-schemas/{new_id('none')}", headers=READER)
    assert missing.status_code == 404


def test_a_document_that_is_not_a_usable_schema_is_refused_with_its_problems(api: Api) -> None:
    form_id = new_id("bad")

    response = api.client.put(
        f"/api/form-schemas/{form_id}", headers=MODELER,
        json={"properties": {"a": {"minimum": "x"},
                             "b": {"$ref": "https://example.org/s.json"}}})

    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert problems == ["/properties/a/minimum: 'x' is not of type 'number'"]
    assert api.sql("SELECT count(*) FROM form_schemas WHERE form_id = %s", form_id) == [(0,)]
    remote = api.client.put(f"/api/form-schemas/{form_id}", headers=MODELER,
                            json={"properties": {"b": {"$ref": "https://example.org/s.json"}}})
    assert remote.status_code == 422
    assert "forms never load schemas from elsewhere" in remote.json()["problems"][0]


# --- the public start form ---------------------------------------------------------------------


def test_an_anonymous_submission_starts_the_newest_authorized_version(api: Api) -> None:
    # given version 1 AUTHORIZED, version 2 AUTHORIZED, version 3 still a DRAFT
    pid, form_id = new_id("p"), new_id("apply")
    upload(api, form_id)
    deploy(api, pid, form_id)
    assert deploy(api, pid, form_id, task_name="v2") == 2
    deploy(api, pid, form_id, state="DRAFT", task_name="v3")

    # when someone submits the form without a token
    response = api.client.post(f"/api/forms/{pid}", json=VALID)

    # then version 2 starts with the submission as variables, as human/anonymous
    assert response.status_code == 201, response.text
    instance_id = response.json()["instanceId"]
    [record] = starts_of(api, pid)
    assert record.instance_id == instance_id
    assert dict(record.value) == {"processId": pid, "version": 2, "variables": VALID}
    assert (record.principal.kind.value, record.principal.id) == ("human", "anonymous")
    assert dict(record.principal.claims) == {"client": "testclient"}


def test_a_submission_with_a_token_starts_as_its_principal(api: Api) -> None:
    pid, form_id = new_id("p"), new_id("apply")
    upload(api, form_id)
    deploy(api, pid, form_id)

    response = api.client.post(f"/api/forms/{pid}", json=VALID,
                               headers=auth_header("carla", personas=["Applicant"]))
    bad_token = api.client.post(f"/api/forms/{pid}", json=VALID,
                                headers={"Authorization": "Bearer not-a-jwt"})

    assert response.status_code == 201, response.text
    assert bad_token.status_code == 401, bad_token.text
    [record] = starts_of(api, pid)
    assert (record.principal.id, record.principal.personas) == ("carla", ("Applicant",))


def test_an_invalid_submission_is_422_with_field_errors_and_starts_nothing(api: Api) -> None:
    pid, form_id = new_id("p"), new_id("apply")
    upload(api, form_id)
    deploy(api, pid, form_id)

    response = api.client.post(f"/api/forms/{pid}",
                               json={"applicant": {"email": "nope"}, "amount": 0})
    missing = api.client.post(f"/api/forms/{pid}", json={"applicant": {}})
    not_an_object = api.client.post(f"/api/forms/{pid}", json=[VALID])

    assert response.status_code == 422, response.text
    assert sorted(response.json()["errors"], key=lambda e: e["field"]) == [
        {"field": "amount", "message": "0 is less than the minimum of 1"},
        {"field": "applicant.email",
         "message": "Expected one e-mail address such as name@example.org (no name in front, "
                    "no second address), but got 'nope'"}]
    assert sorted(e["field"] for e in missing.json()["errors"]) == ["amount", "applicant.email"]
    assert not_an_object.status_code == 422
    assert not_an_object.json()["errors"][0]["field"] == ""
    assert starts_of(api, pid) == []


def test_an_email_field_holding_several_recipients_is_422_and_starts_nothing(api: Api) -> None:
    # the probe that mailed three people: a list and a display name in one e-mail field
    # (four cases: the module's rate limit allows four submissions per process and minute)
    pid, form_id = new_id("p"), new_id("apply")
    upload(api, form_id)
    deploy(api, pid, form_id)

    answers = [api.client.post(f"/api/forms/{pid}",
                               json={"applicant": {"email": email}, "amount": 5})
               for email in ('a@x.org, b@y.net, "Boss" <c@z.com>', "a@x.org;b@y.net",
                             "a@x.org\r\nBcc: c@z.com", "a" * 250 + "@x.org")]

    assert [a.status_code for a in answers] == [422] * 4, [a.text for a in answers]
    assert all(a.json()["errors"][0]["field"] == "applicant.email" for a in answers)
    assert starts_of(api, pid) == []


def test_a_process_with_only_a_draft_has_no_public_form(api: Api) -> None:
    pid, form_id = new_id("p"), new_id("apply")
    upload(api, form_id)
    deploy(api, pid, form_id, state="DRAFT")

    response = api.client.post(f"/api/forms/{pid}", json=VALID)

    assert response.status_code == 404, response.text
    assert "AUTHORIZED" in response.json()["detail"]
    assert starts_of(api, pid) == []


def test_a_start_event_without_a_form_is_404_and_an_unknown_form_409(api: Api) -> None:
    no_form, unknown = new_id("p"), new_id("p")
    deploy(api, no_form, None)
    missing_form = new_id("never_uploaded")
    deploy(api, unknown, missing_form)

    without = api.client.post(f"/api/forms/{no_form}", json=VALID)
    not_uploaded = api.client.post(f"/api/forms/{unknown}", json=VALID)

    assert without.status_code == 404, without.text
    assert without.json()["detail"].startswith(f"process {no_form} has no public start form")
    assert not_uploaded.status_code == 409, not_uploaded.text
    assert f"'{missing_form}'" in not_uploaded.json()["detail"]


def test_submissions_past_the_limit_are_429_with_retry_after(api: Api) -> None:
    pid, form_id = new_id("p"), new_id("apply")
    upload(api, form_id)
    deploy(api, pid, form_id)

    answers = [api.client.post(f"/api/forms/{pid}", json=VALID) for _ in range(LIMIT + 1)]

    assert [a.status_code for a in answers] == [201] * LIMIT + [429]
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
    assert len(starts_of(api, pid)) == LIMIT
    # the counter is per process: another process's form is still open to this address
    other = new_id("p")
    deploy(api, other, form_id)
    assert api.client.post(f"/api/forms/{other}", json=VALID).status_code == 201


def test_the_limit_refills_one_hit_at_a_time_not_a_fresh_burst(stack: Connections) -> None:
    # 2 per second: a burst of two, then one hit every half second (GCRA). A fixed window
    # would let two through again as soon as its window ended.
    with Redis.from_url(stack.redis_url) as redis:
        limiter = RateLimiter(redis, RateLimit(2, 1), unique_name("test.ratelimit"))
        burst = [limiter.hit("addr") for _ in range(3)]
        assert [d.allowed for d in burst] == [True, True, False]
        assert burst[2].retry_after_s == 1
        assert limiter.hit("other").allowed  # every key has its own bucket
        # refused hits spend nothing: polling until the refill comes is safe
        assert wait_until(lambda: limiter.hit("addr").allowed, 5, 0.02)
        assert limiter.hit("addr").allowed is False


def test_redis_down_closes_the_public_form_with_503(api: Api) -> None:
    pid, form_id = new_id("p"), new_id("apply")
    upload(api, form_id)
    deploy(api, pid, form_id)
    nothing_listens = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0",
                                     socket_connect_timeout=2, socket_timeout=2)
    deps = dataclasses.replace(api.deps, redis=nothing_listens)
    try:
        with TestClient(create_app(api.settings, deps, verifier())) as client:
            response = client.post(f"/api/forms/{pid}", json=VALID)
    finally:
        nothing_listens.close()

    assert response.status_code == 503, response.text
    assert "Redis" in response.json()["detail"]
    assert starts_of(api, pid) == []


def test_the_public_route_has_no_security_requirement_in_openapi(api: Api) -> None:
    spec = api.openapi()

    assert spec["paths"]["/api/forms/{process_id}"]["post"]["security"] == []
    # while the routes behind a token name the bearer scheme, so /docs offers "Authorize"
    schemes = spec["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    assert spec["paths"]["/api/tasks"]["get"]["security"] == [{name: []} for name in schemes]


# --- a start through the API -------------------------------------------------------------------


def test_a_start_through_the_api_is_checked_against_the_versions_start_form(api: Api) -> None:
    # given an AUTHORIZED version whose start event names a form, one whose form was never
    # uploaded, and one without a form
    pid, form_id = new_id("p"), new_id("apply")
    upload(api, form_id)
    deploy(api, pid, form_id)
    unknown, no_form = new_id("p"), new_id("p")
    deploy(api, unknown, new_id("never_uploaded"))
    deploy(api, no_form, None)
    starter = auth_header("carla")

    # when variables that do not fit are sent, then the same field errors as the public form,
    # and nothing starts
    misfit = api.client.post("/api/instances", headers=starter, json={
        "processId": pid, "version": 1, "variables": {"applicant": {"email": "nope"}}})
    assert misfit.status_code == 422, misfit.text
    assert sorted(e["field"] for e in misfit.json()["errors"]) == ["amount", "applicant.email"]
    assert starts_of(api, pid) == []
    # variables that fit start it; a form missing from the registry is 409, as for the public
    # form; a version without a start form takes any variables
    fits = api.client.post("/api/instances", headers=starter,
                           json={"processId": pid, "variables": VALID})
    assert fits.status_code == 201, fits.text
    [record] = starts_of(api, pid)
    assert dict(record.value)["variables"] == VALID
    missing = api.client.post("/api/instances", headers=starter,
                              json={"processId": unknown, "variables": VALID})
    assert missing.status_code == 409, missing.text
    assert "never_uploaded" in missing.json()["detail"]
    anything = api.client.post("/api/instances", headers=starter,
                               json={"processId": no_form, "variables": {"x": 1}})
    assert anything.status_code == 201, anything.text
