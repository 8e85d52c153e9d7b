"""The live feed through the edge: `GET /api/instances/{id}/live` as the console reads it.

One Laneway (engine, definitions, audit) for the module, with at most two live streams per
process and a keepalive every second, so a test sees the bound and never waits long on a
quiet stream. The instances are started through the API by a person with no role, who may
watch them because she started them.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.bpmn import LANEWAY_NS
from laneway.records import Command, Principal, PrincipalKind
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from tests.auth import ADMIN, auth_header
from tests.e2e.harness import Laneway, TopicReader, command_record, send
from tests.e2e.sse import LiveStream, SseEvent

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PIA = Principal(PrincipalKind.HUMAN, "pia", (), {"personas": ["Front desk"]})
PIA_HEADERS = auth_header("pia", personas=["Front desk"])
STRANGER = auth_header("mallory")
MAX_STREAMS = 2
DIAGRAM = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:laneway="{ns}" id="d" targetNamespace="t">
  <process id="{pid}" isExecutable="true">
    <laneSet><lane id="desk" name="Front desk" laneway:persona="Front desk">
      <flowNodeRef>first</flowNodeRef><flowNodeRef>second</flowNodeRef></lane></laneSet>
    <startEvent id="s"/>
    <userTask id="first" name="First look"/>
    <userTask id="second" name="Second look"/>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="first"/>
    <sequenceFlow id="f2" sourceRef="first" targetRef="second"/>
    <sequenceFlow id="f3" sourceRef="second" targetRef="e"/>
  </process>
</definitions>"""
FIELDS = {"instanceId", "processId", "version", "position", "key", "intent", "elementId",
          "elementType", "flowScopeKey", "principal", "at"}


class World:
    def __init__(self, lw: Laneway, pid: str) -> None:
        self.lw = lw
        self.pid = pid
        self.events = TopicReader(lw.bootstrap, lw.topics.events)

    def start(self) -> str:
        """An instance started by Pia, once she can read it."""
        with httpx.Client(base_url=self.lw.public_url, timeout=30) as client:
            response = client.post("/api/instances", headers=PIA_HEADERS,
                                   json={"processId": self.pid})
            assert response.status_code == 201, response.text
            iid: str = response.json()["instanceId"]
            wait_until(lambda: client.get(f"/api/instances/{iid}",
                                          headers=PIA_HEADERS).status_code == 200,
                       60, 0.1, f"instance {iid} readable by its starter")
        return iid

    def complete(self, iid: str, element_id: str) -> None:
        """Pia completes the instance's open task `element_id` (a command, as the worklist
        would produce it)."""
        created = self.events.wait_for(lambda items: next(
            (r for r in items if r.instance_id == iid and r.intent == "USER_TASK_CREATED"
             and r.element_id == element_id), None), 60, f"{element_id} of {iid}")
        send(self.lw.producer(), self.lw.topics, command_record(
            Command.COMPLETE_USER_TASK, iid, {"taskKey": created.value["key"],
                                              "variables": {}}, PIA))


@pytest.fixture(scope="module")
def world(stack: Connections, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir: Path = tmp_path_factory.mktemp("live")
    lw = Laneway(bootstrap=stack.kafka_bootstrap_servers, database_url=stack.database_url,
                 redis_url=stack.redis_url, workdir=workdir,
                 services=("engine", "definitions", "audit"),
                 env_overrides={"LANEWAY_LIVE_MAX_STREAMS": str(MAX_STREAMS),
                                "LANEWAY_LIVE_KEEPALIVE_S": "1"})
    lw.start()
    try:
        pid = unique_name("live").replace("-", "_")
        lw.deploy(DIAGRAM.format(ns=LANEWAY_NS, pid=pid).encode())
        w = World(lw, pid)
        yield w
        w.events.close()
    finally:
        lw.close()


def ready(event: SseEvent) -> bool:
    return event.event == "ready"


def activated(element_id: str) -> Any:
    def wanted(event: SseEvent) -> bool:
        if event.event is not None or event.comment is not None:
            return False
        body = event.json()
        return bool(body["intent"] == "ELEMENT_ACTIVATED" and body["elementId"] == element_id)
    return wanted


def test_an_open_page_receives_the_next_task_as_it_is_activated(world: World) -> None:
    lw = world.lw
    iid = world.start()

    with LiveStream(lw.public_url, iid, PIA_HEADERS) as stream:
        assert stream.status_code == 200
        assert stream.response is not None
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["cache-control"] == "no-store"
        hello = stream.until(ready, 10, "ready").json()
        assert hello == {"instanceId": iid, "processId": world.pid, "version": 1,
                         "status": "ACTIVE"}
        began = time.time()
        world.complete(iid, "first")

        event = stream.until(activated("second"), 10, "ELEMENT_ACTIVATED of 'second'")

        body = event.json()
        assert set(body) >= FIELDS, body
        assert body["instanceId"] == iid
        assert (body["processId"], body["version"]) == (world.pid, 1)
        assert body["elementType"] == "userTask"
        assert body["principal"] == {"kind": "human", "id": "pia"}
        assert re.fullmatch(r"\d+:\d+", body["position"])
        assert event.id == body["position"]
        assert began - 1 <= body["at"] / 1000 <= event.read_at + 0.5
        assert "variables" not in body
        seen = [(e.json()["intent"], e.json()["elementId"]) for e in stream.events
                if e.event is None and e.comment is None]
        assert seen.index(("USER_TASK_COMPLETED", "first")) < seen.index(
            ("ELEMENT_COMPLETED", "first")) < seen.index(("ELEMENT_ACTIVATED", "second"))
        task = stream.until(lambda e: e.event is None and e.comment is None
                            and e.json()["intent"] == "USER_TASK_CREATED", 10,
                            "USER_TASK_CREATED of 'second'").json()
        assert task["elementName"] == "Second look"
        assert (task["lane"], task["persona"]) == ("Front desk", "Front desk")

        # the instance ends: the page is told so, and the stream closes
        world.complete(iid, "second")
        end = stream.until(lambda e: e.event == "end", 10, "event: end")
        assert end.json() == {"instanceId": iid, "reason": "ended"}
        assert stream.next(time.monotonic() + 10) is None


def test_a_stranger_gets_404_and_no_token_401(world: World) -> None:
    lw = world.lw
    iid = world.start()

    with LiveStream(lw.public_url, iid, STRANGER) as stranger:
        assert stranger.status_code == 404
        assert stranger.response is not None
        assert stranger.response.headers["content-type"] == "application/problem+json"
    with LiveStream(lw.public_url, str(uuid.uuid4()), ADMIN) as nothing:
        assert nothing.status_code == 404
    with LiveStream(lw.public_url, iid, {}) as anonymous:
        assert anonymous.status_code == 401
    # who oversees may watch any; on the service's own port, what tells the edge not to
    # buffer the stream (nginx takes the header for itself)
    with LiveStream(lw.url("audit"), iid, ADMIN) as operator:
        assert operator.status_code == 200
        assert operator.response is not None
        assert operator.response.headers["x-accel-buffering"] == "no"
        operator.until(ready, 10, "ready")


def test_streams_past_the_bound_get_503_until_one_closes(world: World) -> None:
    lw = world.lw
    iid = world.start()
    opened: list[LiveStream] = []

    def open_one() -> bool:
        """A stream once a place is free (another test's closed stream frees its place when
        the server notices the client went away)."""
        stream = LiveStream(lw.public_url, iid, ADMIN).__enter__()
        if stream.status_code == 200:
            opened.append(stream)
            return True
        assert stream.status_code == 503, stream.status_code
        stream.close()
        return False

    try:
        for _ in range(MAX_STREAMS):
            wait_until(open_one, 15, 0.2, "a free place")
            opened[-1].until(ready, 10, "ready")
        with LiveStream(lw.public_url, iid, ADMIN) as refused:
            assert refused.status_code == 503
            assert refused.response is not None
            assert int(refused.response.headers["retry-after"]) > 0
            assert refused.response.json()["status"] == 503

        opened.pop().close()  # the page goes away: the server notices and frees its place

        wait_until(open_one, 15, 0.2, "the place the closed stream freed")
        opened[-1].until(ready, 10, "ready")
    finally:
        for stream in opened:
            stream.close()
