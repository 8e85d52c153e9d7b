"""The answers to the `response` connector's links, on the real stack: the triggers app's
`/respond/{token}` (a person's form) and `/api/respond/{token}` (a machine's signed JSON) take
an answer once and send exactly one COMPLETE_JOB or PUBLISH_MESSAGE to Kafka."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from psycopg import sql

from laneway import db
from laneway.connectors import Secrets
from laneway.health import HealthChecks
from laneway.publisher import Publisher
from laneway.records import Record
from laneway.response_tokens import ResponseToken, new_token_id, sign
from laneway.topics import Topics
from laneway.triggers.builtin.webhook import sign as sign_call
from scripts.stack import Settings as StackSettings
from scripts.stack.stack import Connections
from scripts.stack.testing import unique_name
from scripts.stack.topics import ensure_topics
from services.triggers import db as triggers_db
from services.triggers.app import create_app
from services.triggers.deps import TriggersDeps
from services.triggers.respond import Responses, ResponseStore
from tests.auth import verifier
from tests.e2e.harness import TopicReader

KEY = "respond-routes-signing-key-" + "0" * 20
HOOK_SECRET = "partner-webhook-secret-0123456789"
INSTANCE = "4a5b6c7d-1111-4222-8333-944455566677"


@dataclass
class World:
    client: TestClient
    commands: TopicReader
    messages: TopicReader
    clock: list[float]


@pytest.fixture(scope="module")
def world(stack: Connections) -> Iterator[World]:
    prefix = unique_name("resp") + "."
    schema = unique_name("test_resp").replace("-", "_")
    ensure_topics(StackSettings.from_env({
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "LANEWAY_TOPIC_PREFIX": prefix, "LANEWAY_JOB_TYPES": "",
        "LANEWAY_PARTITIONS": str(stack.partitions)}))
    db.prepare_database(stack.database_url, schema, triggers_db.migrate, 30)
    pool = db.open_pool(stack.database_url, schema)
    topics = Topics(prefix)
    publisher = Publisher(stack.kafka_bootstrap_servers, topics, 10.0)
    secrets = Secrets({"LANEWAY_SECRET_RESPONSE_SIGNING_KEY": KEY,
                       "LANEWAY_SECRET_RESPONSE_WEBHOOK_PARTNER": HOOK_SECRET}, "/nonexistent")
    clock = [time.time()]
    deps = TriggersDeps(store=None, vault=None, publisher=publisher,  # type: ignore[arg-type]
                        installed=None, scheduler=None, metrics=None,  # type: ignore[arg-type]
                        responses=Responses(ResponseStore(pool), secrets, publisher,
                                            clock_s=lambda: clock[0]))
    app = create_app(verifier(), HealthChecks("triggers"), CollectorRegistry(), deps)
    commands = TopicReader(stack.kafka_bootstrap_servers, topics.commands, stack.partitions)
    messages = TopicReader(stack.kafka_bootstrap_servers, topics.messages, stack.partitions)
    try:
        with TestClient(app) as client:
            yield World(client, commands, messages, clock)
    finally:
        commands.close()
        messages.close()
        publisher.close()
        pool.close()
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


def _link(world: World, job_key: int | None = 7, message: str | None = None,
          ttl_s: int = 600, **kw: object) -> tuple[str, ResponseToken]:
    token = ResponseToken(token_id=new_token_id(), instance_id=INSTANCE,
                          expires_s=int(world.clock[0]) + ttl_s, job_key=job_key,
                          message=message, fields=("decision", "comment"),
                          title="Approve <b>permit</b>?", **kw)  # type: ignore[arg-type]
    return sign(KEY, token), token


def _answers(reader: TopicReader, token: ResponseToken) -> list[Record]:
    return [r for r in reader.poll() if r.principal.id == f"respondent:{token.token_id}"]


def test_the_form_completes_the_task_once_and_a_reused_link_is_refused(world: World) -> None:
    text, token = _link(world)
    form = world.client.get(f"/respond/{text}")
    assert form.status_code == 200
    assert "default-src 'none'" in form.headers["content-security-policy"]
    assert "Approve &lt;b&gt;permit&lt;/b&gt;?" in form.text  # escaped
    assert re.search(r'name="decision"', form.text)
    assert "<script" not in form.text

    sent = world.client.post(f"/respond/{text}", data={"decision": "yes", "comment": "ok"})
    assert sent.status_code == 200, sent.text
    assert "recorded" in sent.text

    again = world.client.post(f"/respond/{text}", data={"decision": "no", "comment": ""})
    assert again.status_code == 409
    assert "already used" in again.text
    assert world.client.get(f"/respond/{text}").status_code == 409
    # exactly one COMPLETE_JOB, with the answer under `response`, by the respondent
    # both answers were refused or taken once Kafka had any record they made: read that far
    world.commands.read_to_end()
    (cmd,) = _answers(world.commands, token)
    assert cmd.intent == "COMPLETE_JOB"
    assert cmd.instance_id == INSTANCE
    assert cmd.value == {"jobKey": 7, "variables": {"response": {"decision": "yes",
                                                                 "comment": "ok"}}}
    assert cmd.principal.kind.value == "human"


def test_expired_invalid_and_undeclared_answers_are_refused(world: World) -> None:
    text, _ = _link(world, ttl_s=5)
    world.clock[0] += 10
    try:
        for response in (world.client.get(f"/respond/{text}"),
                         world.client.post(f"/respond/{text}", data={"decision": "yes"})):
            assert response.status_code == 410
            assert "expired" in response.text
    finally:
        world.clock[0] -= 10
    body, mac = text.split(".")
    for bad in (f"{body}.{mac[:-3]}abc", "nonsense", "x" * 3000, "é.é"):
        assert world.client.get(f"/respond/{bad}").status_code == 404
        assert world.client.post(f"/respond/{bad}", data={"decision": "y"}).status_code == 404
    # only the declared fields, bounded
    assert world.client.post(f"/respond/{text}",
                             data={"decision": "y", "admin": "1"}).status_code == 422
    assert world.client.post(f"/respond/{text}",
                             data={"decision": "y" * 10001}).status_code == 422
    assert world.client.post(f"/respond/{text}", content=b"decision=" + b"y" * 70000,
                             headers={"content-type": "application/x-www-form-urlencoded"}
                             ).status_code == 413
    # none of those used the link up
    assert world.client.get(f"/respond/{text}").status_code == 200


def _signed(body: bytes, secret: str = HOOK_SECRET, at: float | None = None
            ) -> dict[str, str]:
    ts = str(int(at if at is not None else time.time()))
    return {"content-type": "application/json", "x-laneway-timestamp": ts,
            "x-laneway-signature": sign_call(secret, ts, body)}


def test_a_signed_machine_answer_publishes_the_message_once(world: World) -> None:
    text, token = _link(world, job_key=None, message="permit-answered",
                        webhook_secret="partner", result="answer")
    body = json.dumps({"decision": "no", "comment": "missing plan"}).encode()
    # unsigned, wrongly signed, stale: refused, and the link stays usable
    assert world.client.post(f"/api/respond/{text}", content=body,
                             headers={"content-type": "application/json"}).status_code == 401
    assert world.client.post(f"/api/respond/{text}", content=body,
                             headers=_signed(body, "wrong-secret-000000")).status_code == 401
    assert world.client.post(f"/api/respond/{text}", content=body,
                             headers=_signed(body, at=world.clock[0] - 1000)).status_code == 401
    # a signature header of non-ASCII bytes is a 401, not a 500
    hostile: dict[str, str | bytes] = {**_signed(body),
                                       "x-laneway-signature": "sha256=\xe9".encode("latin-1")}
    assert world.client.post(f"/api/respond/{text}", content=body,
                             headers=hostile).status_code == 401
    bad = b"[1]"
    assert world.client.post(f"/api/respond/{text}", content=bad,
                             headers=_signed(bad)).status_code == 422

    ok = world.client.post(f"/api/respond/{text}", content=body, headers=_signed(body))
    assert ok.status_code == 202, ok.text
    assert ok.json() == {"responseId": token.token_id, "duplicate": False}
    again = world.client.post(f"/api/respond/{text}", content=body, headers=_signed(body))
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")

    world.messages.read_to_end()
    (cmd,) = _answers(world.messages, token)
    assert cmd.intent == "PUBLISH_MESSAGE"
    assert cmd.value["name"] == "permit-answered"
    assert cmd.value["correlationKey"] == cmd.value["messageId"] == token.token_id
    assert cmd.value["variables"] == {"answer": {"decision": "no", "comment": "missing plan"}}
    assert 0 < cmd.value["ttl"] <= 600_000
    assert cmd.principal.kind.value == "agent"


def test_without_a_signing_key_or_before_start_the_routes_answer_503(
        world: World) -> None:
    app = create_app(verifier(), HealthChecks("triggers"), CollectorRegistry(), None)
    with TestClient(app) as client:
        assert client.get("/respond/abc.def").status_code == 503
        assert client.post("/api/respond/abc.def", json={}).status_code == 503
