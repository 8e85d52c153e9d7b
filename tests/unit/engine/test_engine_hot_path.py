"""What the engine's hot path works out once (issue 16) gives the same records as working it
out every time: events built without `Record.__init__`, and a user task's static part kept
per process version."""

from __future__ import annotations

from typing import Any

import pytest

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository, Engine, context
from laneway.records import Command, Principal, PrincipalKind, Record, RecordKind, command

START = 1_767_225_600_000

DIAGRAM = """<?xml version="1.0"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
             xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" xmlns:acme="http://acme.example/bpmn"
             targetNamespace="t">
  <process id="p" isExecutable="true">
    <laneSet id="ls">
      <lane id="desk" name="Desk" laneway:persona="clerk"><flowNodeRef>t</flowNodeRef></lane>
    </laneSet>
    <startEvent id="s"/>
    <userTask id="t" name="Check" acme:prio="high" laneway:candidateGroups="a, b"
              laneway:candidateUsers="=who" laneway:form="f1" laneway:slaMinutes="2"/>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
  </process>
</definitions>"""


def _fields(rec: Record) -> dict[str, Any]:
    return {name: getattr(rec, name) for name in context._RECORD_FIELDS}


@pytest.mark.parametrize("fast", [True, False])
def test_an_event_built_on_the_hot_path_equals_one_built_by_its_class(
        monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    if not fast:
        monkeypatch.setattr(context, "_SETTERS", None)
    principal = Principal(PrincipalKind.HUMAN, "ana", (), {})
    built = context._event("c1.3", "ELEMENT_ACTIVATED", "i1", 7, {"key": 3}, "t", "userTask",
                           3, 1, principal)
    expected = Record("c1.3", RecordKind.EVENT, "ELEMENT_ACTIVATED", "i1", 7, {"key": 3}, "t",
                      "userTask", 3, 1, principal)
    assert type(built) is Record
    assert built == expected
    assert _fields(built) == _fields(expected)
    assert built.to_json() == expected.to_json()
    assert hash(built.record_id) == hash(expected.record_id)


def test_the_hot_path_builds_records_without_the_class_init() -> None:
    # the fast path is in use for today's Record (a slots dataclass): if Record changes so
    # that it no longer applies, the engine falls back to Record(...) and this says so
    assert context._SETTERS is not None


def _created(engine: Engine, iid: str, who: str) -> dict[str, Any]:
    result = engine.process(command(Command.START_INSTANCE, iid,
                                    {"processId": "p", "variables": {"who": who}},
                                    record_id=f"c-{iid}", timestamp=START))
    (created,) = [e for e in result.events if e.intent == "USER_TASK_CREATED"]
    return dict(created.value)


def test_a_user_tasks_static_part_is_shared_by_no_two_records() -> None:
    repo = DefinitionRepository()
    repo.deploy(parse(DIAGRAM.encode()))
    engine = Engine(repo)
    first = _created(engine, "i1", "ana")
    second = _created(engine, "i2", "ben")
    # what comes from the node is the same for both instances ...
    for value in (first, second):
        assert value["elementName"] == "Check"
        assert value["attributes"] == first["attributes"] != {}
        assert value["lane"] == "Desk"
        assert value["laneId"] == "desk"
        assert value["persona"] == "clerk"
        assert value["form"] == "f1"
        assert value["candidateGroups"] == ["a", "b"]
        assert value["dueDate"] == START + 120_000
    # ... what is evaluated comes from each instance's variables
    assert first["candidateUsers"] == ["ana"]
    assert second["candidateUsers"] == ["ben"]
    # and no list or mapping is shared between two records: changing one leaves the other
    assert first["candidateGroups"] is not second["candidateGroups"]
    assert first["attributes"] is not second["attributes"]
    first["candidateGroups"].append("x")
    first["attributes"]["y"] = "z"
    third = _created(engine, "i3", "cy")
    assert third["candidateGroups"] == ["a", "b"]
    assert "y" not in third["attributes"]


def test_each_version_keeps_its_own_static_part() -> None:
    repo = DefinitionRepository()
    repo.deploy(parse(DIAGRAM.encode()))
    engine = Engine(repo)
    assert _created(engine, "i1", "ana")["candidateGroups"] == ["a", "b"]
    repo.deploy(parse(DIAGRAM.replace('candidateGroups="a, b"',
                                      'candidateGroups="c"').encode()))
    assert _created(engine, "i2", "ana")["candidateGroups"] == ["c"]


def _start_records(iid: str) -> list[str]:
    repo = DefinitionRepository()
    repo.deploy(parse(DIAGRAM.encode()))
    result = Engine(repo).process(command(Command.START_INSTANCE, iid,
                                          {"processId": "p", "variables": {"who": "ana"}},
                                          record_id="c1", timestamp=START))
    assert all(type(e) is Record for e in result.events)
    return [e.to_json() for e in result.events]


def test_the_engine_writes_the_same_records_with_and_without_the_fast_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _start_records("i1")
    monkeypatch.setattr(context, "_SETTERS", None)
    assert _start_records("i1") == fast
    assert len(fast) > 3
