"""Two agencies exchanging message flows as topics, end to end (issue 13, section 2).

Two Laneway deployments on the one local stack (each its own topic prefix, PostgreSQL schemas,
engine, API, audit and bridge; B also its worklist) share two topics, `…agency.a.b` and
`…agency.b.a`. A's instance asks B (the send task of examples/agencies/agency-a); B's bridge
publishes the request, which starts B's process; B's case worker answers through B's worklist;
B's message end event sends the answer back; A's bridge publishes it and A's instance
continues to its end. B's engine is killed twice in the middle (while the request is on its
way, and right after the case worker answered) and started again.

Exactly once, each way: one committed envelope on each agency topic, one correlation on each
side, one B instance; a resent envelope (same message id) correlates nothing more. Each side's
audit shows the other agency as the principal (`agency:a` on B, `agency:b` on A). Nothing went
to either dead-letter topic but the two records that should: an envelope from an agency that is
not configured, and one that is no envelope.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from laneway.agencies import Envelope, decode_envelope, encode_envelope
from laneway.codec import DecodeError, read_dead_letter_headers
from laneway.kafka import consumer_config, producer_config
from laneway.records import PrincipalKind, Record
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from tests.auth import ADMIN, auth_header
from tests.e2e.harness import PARTITIONS, Laneway, TopicReader

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "agencies"
CASE_WORKER = auth_header("carla", groups=["case-workers"])
A_SERVICES = ("engine", "definitions", "audit", "bridge")
B_SERVICES = ("engine", "definitions", "worklist", "audit", "bridge")
UNDECLARED = "A's own: never crosses"
"""The value of A's `internalNote`, a variable no message flow declares."""


@pytest.fixture
def agency_topics(stack: Connections) -> Iterator[tuple[str, str]]:
    """The two topics between the agencies, shared by both deployments: (a→b, b→a)."""
    base = unique_name("e2e-agency")
    names = (f"{base}.agency.a.b", f"{base}.agency.b.a")
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
    for future in admin.create_topics([NewTopic(n, num_partitions=PARTITIONS,
                                                replication_factor=1) for n in names],
                                      operation_timeout=30).values():
        future.result(timeout=30)
    yield names
    for future in admin.delete_topics(list(names), operation_timeout=30).values():
        with contextlib.suppress(KafkaException):
            future.result(timeout=30)


def _ok(response: httpx.Response, *codes: int) -> Any:
    assert response.status_code in (codes or (200,)), (
        f"{response.request.method} {response.request.url.path}: "
        f"{response.status_code} {response.text}")
    return response.json() if response.content else None


def _history(lw: Laneway, iid: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=lw.public_url, timeout=30, headers=ADMIN) as api:
        page = api.get(f"/api/instances/{iid}/history", params={"limit": 1000})
    return list(page.json()["events"]) if page.status_code == 200 else []


def _ended(lw: Laneway, iid: str) -> Callable[[], list[dict[str, Any]] | None]:
    def check() -> list[dict[str, Any]] | None:
        rows = _history(lw, iid)
        return rows if any(r["intent"] == "ELEMENT_COMPLETED" and r["elementType"] == "process"
                           for r in rows) else None
    return check


def _open_task(lw: Laneway) -> Callable[[], dict[str, Any] | None]:
    def find() -> dict[str, Any] | None:
        with httpx.Client(base_url=lw.public_url, timeout=30) as api:
            page = api.get("/api/tasks", headers=CASE_WORKER)
        if page.status_code != 200:
            return None
        found = [t for t in page.json()["items"]
                 if t["elementId"] == "answer_request" and t["state"] in ("open", "claimed")]
        return found[0] if found else None
    return find


def _bounce(lw: Laneway, name: str) -> None:
    """SIGKILL the service and start it again, as an orchestrator would."""
    lw.kill(name)
    lw.restart(name)


def test_two_agencies_ask_and_answer_exactly_once_through_a_killed_engine(
        laneway: Callable[..., Laneway], agency_topics: tuple[str, str]) -> None:
    a_to_b, b_to_a = agency_topics
    a = laneway(services=A_SERVICES, env_overrides={
        "LANEWAY_AGENCY_NAME": "a", "LANEWAY_AGENCY_PARTNERS": f"b:{a_to_b}:{b_to_a}"})
    b = laneway(services=B_SERVICES, env_overrides={
        "LANEWAY_AGENCY_NAME": "b", "LANEWAY_AGENCY_PARTNERS": f"a:{b_to_a}:{a_to_b}"})
    a.deploy((EXAMPLES / "agency-a" / "agency-a.bpmn").read_bytes(), "agency-a.bpmn")
    b.deploy((EXAMPLES / "agency-b" / "agency-b.bpmn").read_bytes(), "agency-b.bpmn")
    a_events = TopicReader(a.bootstrap, a.topics.events)
    b_events = TopicReader(b.bootstrap, b.topics.events)
    requests = TopicReader(a.bootstrap, a_to_b, decode=_envelope_or_none)
    answers = TopicReader(a.bootstrap, b_to_a, decode=_envelope_or_none)
    # the a→b topic's records as bytes, to look for what must not cross
    raw_requests = TopicReader(a.bootstrap, a_to_b, decode=bytes)
    try:
        # B's engine is down when A asks: the request waits on B's messages topic
        b.kill("engine")
        with a.api() as api:
            iid = _ok(api.post("/api/instances", json={
                "processId": "agency_a_ask", "variables": {
                    "caseId": "C-42", "question": "Registered at 12 Analytical Lane?",
                    "internalNote": UNDECLARED}}), 201)["instanceId"]
        requests.wait_for(lambda items: items, 60, "A's request on the a→b topic")
        b.restart("engine")

        task = wait_until(_open_task(b), 120, message="B's case worker sees the request")
        assert task is not None, b.logs()
        with httpx.Client(base_url=b.public_url, timeout=30) as api:
            _ok(api.post(f"/api/tasks/{task['taskId']}/claim", headers=CASE_WORKER))
            _ok(api.post(f"/api/tasks/{task['taskId']}/complete", headers=CASE_WORKER,
                         json={"variables": {"answer": "yes, since 2019"}}))
        # killed right after the answer: the answer's command waits for the restarted engine
        _bounce(b, "engine")

        a_rows = wait_until(_ended(a, iid), 180, message="A's instance ended")
        assert a_rows is not None, a.logs() + b.logs()

        # exactly once on the topics between the agencies (committed records only), whatever
        # the killed engine had in flight
        [request] = requests.poll()
        assert request is not None
        # only the declared variables cross: A's undeclared `internalNote` (name or value) is
        # nowhere in the envelope's bytes
        raw = raw_requests.wait_for(lambda items: items, 30, "the request's bytes")
        assert len(raw) == 1
        for secret in (b"internalNote", UNDECLARED.encode()):
            assert secret not in raw[0], raw[0]
        # a resend of the request (same message id) and two records B must refuse
        stranger = Envelope(**{**{f: getattr(request, f) for f in request.__dataclass_fields__},
                               "from_agency": "c", "message_id": "m-c"})
        producer = Producer(producer_config(a.bootstrap))
        for value in (encode_envelope(request), encode_envelope(stranger), b"\x01junk"):
            producer.produce(a_to_b, key=b"C-42", value=value)
        assert producer.flush(30) == 0
        assert wait_until(lambda: len(_headers(b.bootstrap, b.topics.dlq)) >= 2, 60,
                          message="B's two dead letters")
        b_events.wait_for(lambda items: any(
            r.intent == "PUBLISH_MESSAGE" and r.value.get("rejectionType") == "ALREADY_EXISTS"
            for r in items), 60, "the resent request refused as a duplicate")

        [answer] = answers.poll()
        assert request.variables == {"caseId": "C-42",
                                     "question": "Registered at 12 Analytical Lane?"}
        assert (request.from_agency, request.to_agency) == ("a", "b")
        assert answer.variables == {"caseId": "C-42", "answer": "yes, since 2019"}
        assert (answer.principal.kind, answer.principal.id) == (PrincipalKind.HUMAN, "carla")

        # exactly one correlation each way, one B instance
        b_recs: list[Record] = b_events.poll()
        starts = [r for r in b_recs if r.intent == "MESSAGE_CORRELATED"
                  and r.value.get("name") == "caseRequest"]
        assert len(starts) == 1, [r.to_dict() for r in starts]
        b_iids = {r.instance_id for r in b_recs if r.intent == "ELEMENT_ACTIVATED"
                  and r.element_type == "process"}
        assert len(b_iids) == 1
        # nor in any of B's events (the correlation, B's instance and its variables, ...)
        for rec in b_recs:
            text = rec.to_json()
            assert "internalNote" not in text, text
            assert UNDECLARED not in text, text
        a_recs: list[Record] = a_events.poll()
        correlated = [r for r in a_recs if r.intent == "MESSAGE_CORRELATED"
                      and r.value.get("name") == "caseAnswer"]
        assert len(correlated) == 1
        assert len([r for r in a_recs if r.intent == "ELEMENT_COMPLETED"
                    and r.element_id == "answer_received"]) == 1

        # each side's audit shows the other agency as the principal
        agent_b = {(r["principal"]["kind"], r["principal"]["id"]) for r in a_rows
                   if r["elementId"] == "answer_received"}
        assert ("agent", "agency:b") in agent_b, agent_b
        [b_iid] = b_iids
        b_rows = wait_until(_ended(b, b_iid), 60, message="B's instance ended in its audit")
        assert b_rows is not None
        first = b_rows[0]
        assert (first["principal"]["kind"], first["principal"]["id"]) == ("agent", "agency:a")
        # and, on B's events, who acted in A as A's envelope says (who started A's instance)
        b_start = next(r for r in b_recs if r.intent == "ELEMENT_ACTIVATED"
                       and r.element_type == "process")
        assert b_start.principal.claims["sentBy"] == {"kind": "human", "id": "admin"}
        # nor in B's audit
        assert "internalNote" not in str(b_rows)
        assert UNDECLARED not in str(b_rows)
        # A continued with B's answer
        a_vars = next(r for r in a_rows if r["intent"] == "ELEMENT_COMPLETED"
                  and r["elementType"] == "process")["value"]["variables"]
        assert a_vars["answer"] == "yes, since 2019"

        # the dead letters say why; A's DLQ is empty
        reasons = sorted(read_dead_letter_headers(h)["reason"]
                         for h in _headers(b.bootstrap, b.topics.dlq))
        assert reasons == ["bad-marker", "unknown-agency"]
        assert _headers(a.bootstrap, a.topics.dlq) == []
    finally:
        for reader in (a_events, b_events, requests, answers, raw_requests):
            reader.close()


def _envelope_or_none(value: bytes) -> Envelope | None:
    try:
        return decode_envelope(value)
    except DecodeError:
        return None


def _headers(bootstrap: str, topic: str) -> list[list[tuple[str, bytes]]]:
    """The headers of every committed record of a topic."""
    consumer = Consumer({**consumer_config(bootstrap, unique_name("e2e-dlq")), "log_level": 0})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    out: list[list[tuple[str, bytes]]] = []
    try:
        while True:
            batch = consumer.consume(1000, 2.0)
            if not batch:
                return out
            out.extend(list(m.headers() or []) for m in batch if m.error() is None)
    finally:
        consumer.close()

