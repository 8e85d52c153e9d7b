"""Appliers by intent and version: an event is applied by the applier of the version it was
written with (no `recordVersion`: version 1), a version this engine does not know is refused,
and the writer stamps the latest version of an intent that has more than one."""

from __future__ import annotations

from typing import Any

import pytest

import laneway.engine.appliers as appliers
import laneway.engine.context as context
from laneway.bpmn import parse
from laneway.engine import DefinitionRepository, Engine, EngineState, apply_event
from laneway.engine.state import InstanceState
from laneway.records import Command, Event, Record, RecordKind, command

DIAGRAM = b"""<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
    targetNamespace="http://x"><process id="p" isExecutable="true">
  <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
  <userTask id="t"/><sequenceFlow id="f2" sourceRef="t" targetRef="e"/><endEvent id="e"/>
</process></definitions>"""


def _started() -> tuple[Engine, list[Record]]:
    repo = DefinitionRepository()
    repo.deploy(parse(DIAGRAM))
    engine = Engine(repo)
    result = engine.process(command(Command.START_INSTANCE, "i1", {"processId": "p"},
                                    record_id="c1", timestamp=1))
    return engine, list(result.events)


def _variables_event(version: int | None) -> Record:
    value: dict[str, Any] = {"variables": {"x": 1}}
    if version is not None:
        value[appliers.RECORD_VERSION] = version
    return Record(record_id="v1", kind=RecordKind.EVENT, intent=Event.VARIABLES_UPDATED.value,
                  instance_id="i1", timestamp=2, value=value, token_id=1)


def _with_v2(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """VARIABLES_UPDATED gets a version 2 that doubles numbers (and counts its calls)."""
    calls: list[int] = []

    def doubling_v2(state: EngineState, inst: InstanceState | None, rec: Record,
                    v: Any) -> None:
        assert inst is not None
        calls.append(rec.token_id)
        inst.variables.setdefault(rec.token_id, {}).update(
            {k: x * 2 for k, x in v["variables"].items()})

    table = {**appliers.APPLIERS, (Event.VARIABLES_UPDATED.value, 2): doubling_v2}
    monkeypatch.setattr(appliers, "APPLIERS", table)
    latest = {**appliers.LATEST_VERSION, Event.VARIABLES_UPDATED.value: 2}
    monkeypatch.setattr(appliers, "LATEST_VERSION", latest)
    monkeypatch.setattr(context, "LATEST_VERSION", latest)
    monkeypatch.setattr(context, "STAMPED", frozenset({Event.VARIABLES_UPDATED.value}))
    return calls


def test_only_the_intents_with_a_second_version_are_stamped() -> None:
    # ELEMENT_ACTIVATED version 2 keeps a called instance's call depth; every other applier
    # of today is version 1, and its events carry no version
    newer = {i: n for i, n in appliers.LATEST_VERSION.items() if n > 1}
    assert newer == {Event.ELEMENT_ACTIVATED.value: 2}
    assert {Event.ELEMENT_ACTIVATED.value} == appliers.STAMPED
    _, events = _started()
    assert all((appliers.RECORD_VERSION in e.value) == (e.intent in appliers.STAMPED)
               for e in events)


def test_an_event_is_applied_by_the_applier_of_its_version(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _with_v2(monkeypatch)
    _, events = _started()
    state = EngineState()
    for e in events:
        apply_event(state, e)
    apply_event(state, _variables_event(None))
    assert state.instances["i1"].variables[1] == {"x": 1}
    assert calls == []
    apply_event(state, _variables_event(2))
    assert state.instances["i1"].variables[1] == {"x": 2}
    assert calls == [1]


def test_the_writer_stamps_the_latest_version_of_a_versioned_intent(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _with_v2(monkeypatch)
    repo = DefinitionRepository()
    repo.deploy(parse(DIAGRAM))
    result = Engine(repo).process(command(Command.START_INSTANCE, "i1",
                                          {"processId": "p", "variables": {"x": 3}},
                                          record_id="c1", timestamp=1))
    updated = [e for e in result.events if e.intent == Event.VARIABLES_UPDATED.value]
    assert [dict(e.value) for e in updated] == [
        {"variables": {"x": 3}, appliers.RECORD_VERSION: 2}]
    others = [e for e in result.events if e.intent != Event.VARIABLES_UPDATED.value]
    assert others
    assert all(appliers.RECORD_VERSION not in e.value for e in others)


@pytest.mark.parametrize("version", [3, "2", True])
def test_a_version_this_engine_does_not_have_is_refused(version: Any) -> None:
    _, events = _started()
    state = EngineState()
    for e in events:
        apply_event(state, e)
    with pytest.raises(appliers.UnknownVersionError, match="VARIABLES_UPDATED version 1 to 1"):
        apply_event(state, _variables_event(version))
