"""The live feed's shaping (what a page is told of each event), its Redis names, its SSE
framing and its settings; the records come from real engine runs (`LocalRunner`)."""

from __future__ import annotations

import json

import pytest

from laneway.bpmn import LANEWAY_NS, parse
from laneway.engine import DefinitionRepository
from laneway.engine.runner import LocalRunner
from laneway.records import Command, Principal, PrincipalKind, Record, RecordKind
from laneway.settings import SettingsError
from services.audit.live import (
    LIVE_ENDS,
    LIVE_HEAD,
    MAX_EVENT_BYTES,
    MAX_TEXT,
    LiveKeys,
    live_event,
    live_json,
)
from services.audit.live_streams import event_frame, event_head, sse
from services.audit.settings import load_settings
from tests.e2e.sse import SseParser

ANA = Principal(PrincipalKind.HUMAN, "ana", ("clerk",),
                {"personas": ["Case Worker"], "email": "ana@example.org"})
DIAGRAM = f"""<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:laneway="{LANEWAY_NS}" id="d" targetNamespace="t">
  <process id="case" isExecutable="true">
    <laneSet><lane id="cw" name="Case Worker" laneway:persona="Case Worker">
      <flowNodeRef>review</flowNodeRef></lane></laneSet>
    <startEvent id="s"/>
    <userTask id="review" name="Review case"/>
    <serviceTask id="work" name="Work" laneway:type="x"/>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
    <sequenceFlow id="f2" sourceRef="review" targetRef="work"/>
    <sequenceFlow id="f3" sourceRef="work" targetRef="e"/>
  </process>
</definitions>""".encode()
SECRET = "secret-salary-84000"


def _run() -> tuple[str, list[Record]]:
    """An instance with a secret variable: started, its task completed by Ana, then the
    same completion again (a rejection)."""
    repository = DefinitionRepository()
    repository.deploy(parse(DIAGRAM, "case.bpmn"))
    runner = LocalRunner(repository)
    iid = runner.start("case", {"salary": SECRET})
    runner.drain()
    task = next(r for r in runner.records if r.intent == "USER_TASK_CREATED").value["key"]
    for _ in range(2):
        runner.submit(Command.COMPLETE_USER_TASK, iid,
                      {"taskKey": task, "variables": {"note": SECRET}}, principal=ANA)
        runner.drain()
    return iid, runner.records


def _one(records: list[Record], intent: str, element_id: str | None = None) -> Record:
    return next(r for r in records if r.intent == intent
                and (element_id is None or r.element_id == element_id))


def test_an_element_event_says_which_element_of_which_scope_and_when() -> None:
    iid, records = _run()
    record = _one(records, "ELEMENT_ACTIVATED", "review")

    event = live_event(record, 3, 1234, 1_767_225_600_123)

    assert event == {"position": "3:1234", "instanceId": iid, "key": record.token_id,
                     "intent": "ELEMENT_ACTIVATED", "elementId": "review",
                     "elementType": "userTask", "flowScopeKey": record.scope_id,
                     "principal": {"kind": "system", "id": "engine"},
                     "at": 1_767_225_600_123}
    assert record.token_id > 0
    assert record.scope_id > 0


def test_the_principal_is_who_acted_without_roles_or_claims() -> None:
    _, records = _run()

    event = live_event(_one(records, "USER_TASK_COMPLETED"), 0, 1, 5)

    assert event["principal"] == {"kind": "human", "id": "ana"}


def test_a_task_carries_its_name_lane_and_persona_and_no_variables() -> None:
    _, records = _run()

    event = live_event(_one(records, "USER_TASK_CREATED"), 0, 1, 5)

    assert (event["elementName"], event["lane"], event["persona"]) == (
        "Review case", "Case Worker", "Case Worker")
    for record in records:
        assert SECRET not in json.dumps(live_event(record, 0, 1, 5))


def test_a_flow_has_no_key_and_a_rejection_says_why() -> None:
    iid, records = _run()

    flow = live_event(_one(records, "SEQUENCE_FLOW_TAKEN"), 0, 1, 5)
    rejection = live_event(next(r for r in records if r.kind == RecordKind.REJECTION), 0, 2, 5)

    assert (flow["elementId"], flow["elementType"], flow["key"]) == (
        "f1", "sequenceFlow", 0)
    assert rejection["intent"] == "COMPLETE_USER_TASK"
    assert rejection["rejection"]["type"] == "NOT_FOUND"
    assert "to be open" in rejection["rejection"]["reason"]
    assert rejection["elementId"] is None  # the engine named no element
    assert rejection["instanceId"] == iid


def test_an_incident_says_its_type_and_message_bounded() -> None:
    created = Record("r1", RecordKind.EVENT, "INCIDENT_CREATED", "i1", 10,
                     {"key": 7, "errorType": "JOB_NO_RETRIES", "message": "x" * 5000,
                      "jobKey": 4, "stage": "job"}, "work", "serviceTask", 4, 1)
    resolved = Record("r2", RecordKind.EVENT, "INCIDENT_RESOLVED", "i1", 11,
                      {"key": 7, "reason": "resolved"}, "work", "serviceTask", 4, 1)

    first = live_event(created, 0, 1, 0)
    second = live_event(resolved, 0, 2, None)

    assert first["incident"] == {"key": 7, "errorType": "JOB_NO_RETRIES",
                                 "message": "x" * MAX_TEXT}
    assert first["at"] == 10  # no Kafka timestamp: the record's own
    assert second["incident"] == {"key": 7, "reason": "resolved"}
    assert second["at"] == 11


def test_the_last_event_of_an_instance_says_it_ends_in_its_last_member() -> None:
    iid, records = _run()
    done = Record("r9", RecordKind.EVENT, "ELEMENT_COMPLETED", iid, 10, {"key": 1}, "case",
                  "process", 1, 0)

    ends = live_json(live_event(done, 0, 9, 5))
    others = [live_json(live_event(r, 0, n, 5)) for n, r in enumerate(records)]

    assert ends is not None
    assert ends.startswith(LIVE_HEAD + b"0:9")
    assert ends.endswith(LIVE_ENDS)
    assert json.loads(ends)["ends"] is True
    assert not any(o is None or o.endswith(LIVE_ENDS) for o in others)
    assert all(o is not None and o.startswith(LIVE_HEAD) for o in others)


def test_the_json_is_compact_and_bounded() -> None:
    record = Record("r", RecordKind.EVENT, "ELEMENT_ACTIVATED", "i1", 10, {"key": 2},
                    "e" * 10_000, "userTask", 2, 1)
    small = Record("r", RecordKind.EVENT, "ELEMENT_ACTIVATED", "i1", 10, {"key": 2},
                   "review", "userTask", 2, 1)
    huge_id = Record("r", RecordKind.EVENT, "ELEMENT_ACTIVATED", "i" * 10_000, 10,
                     {"key": 2}, "review", "userTask", 2, 1)

    cut = live_json(live_event(record, 0, 1, 5))
    whole = live_json(live_event(small, 0, 1, 5))

    assert cut is not None
    assert len(cut) <= MAX_EVENT_BYTES
    assert json.loads(cut)["truncated"] is True
    assert json.loads(cut)["elementId"] == "e" * 200
    assert whole is not None
    assert b" " not in whole
    assert b"\n" not in whole
    assert json.loads(whole) == live_event(small, 0, 1, 5)
    assert live_json(live_event(huge_id, 0, 1, 5)) is None
    ending = Record("r", RecordKind.EVENT, "ELEMENT_TERMINATED", "i1", 10, {"key": 1},
                    "p" * 10_000, "process", 1, 0)
    cut_end = live_json(live_event(ending, 0, 1, 5))
    assert cut_end is not None
    assert cut_end.startswith(LIVE_HEAD)
    assert cut_end.endswith(LIVE_ENDS)


def test_redis_names_carry_the_topic_prefix() -> None:
    assert LiveKeys("e2e-1.").channel("abc") == "laneway:e2e-1.live:abc"
    assert LiveKeys("").channel("abc") == "laneway:live:abc"
    assert LiveKeys("e2e-1.").watching == "laneway:e2e-1.live-watching"


def test_sse_frames_read_back_as_the_events_they_are() -> None:
    parser = SseParser()
    text = (sse('{"a":1}', event="ready") + b": keepalive\n\n"
            + sse(b'{"b":2}', event_id="3:7")).decode()

    out = [e for e in map(parser.line, text.split("\n")) if e is not None]

    assert [(e.event, e.id, e.data, e.comment) for e in out] == [
        ("ready", None, '{"a":1}', None), (None, None, "", "keepalive"),
        (None, "3:7", '{"b":2}', None)]


def test_a_published_event_becomes_an_sse_event_with_its_process_in_front() -> None:
    _, records = _run()
    data = live_json(live_event(_one(records, "ELEMENT_ACTIVATED", "review"), 1, 42, 5))
    assert data is not None
    parser = SseParser()

    frame = event_frame(data, event_head("case \u00e9", 3))

    assert frame is not None
    read = [e for e in map(parser.line, frame.decode().split("\n")) if e is not None]
    assert len(read) == 1
    assert read[0].id == "1:42"
    assert read[0].json() == {"processId": "case \u00e9", "version": 3, **json.loads(data)}
    assert event_frame(b'{"instanceId":"x"}', b"{") is None
    assert event_frame(b'{"position":"1:2","a":"\n"}', b"{") is None
    assert event_frame(b'{"position":"1:2', b"{") is None


def test_live_settings_default_and_refuse_what_the_edge_would_cut() -> None:
    live = load_settings({"LANEWAY_TOPIC_PREFIX": "t1."}).live
    assert (live.enabled, live.group, live.max_streams, live.max_s, live.keepalive_s) == (
        True, "t1.audit-live", 200, 3600.0, 15.0)
    assert load_settings({"LANEWAY_LIVE": "off"}).live.enabled is False
    assert load_settings({"LANEWAY_LIVE_MAX_STREAMS": "3"}).live.max_streams == 3
    for bad in ({"LANEWAY_LIVE_KEEPALIVE_S": "60"}, {"LANEWAY_LIVE_KEEPALIVE_S": "inf"},
                {"LANEWAY_LIVE_MAX_STREAMS": "0"}, {"LANEWAY_LIVE_MAX_S": "1e9"},
                {"LANEWAY_LIVE": "maybe"}):
        with pytest.raises(SettingsError):
            load_settings(bad)
