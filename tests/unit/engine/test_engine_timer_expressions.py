"""Timers whose definition embeds an expression (BPMN 2.0.2, 10.5.4: timeDuration, timeDate
and timeCycle are expressions): a JUEL `${...}` inside a template (`PT${secs}S`) is
substituted at run time, a whole `${duration}` or `=duration` is evaluated; validate and
deploy refuse only what can never give a timer."""

from __future__ import annotations

import pytest
from conftest import RunFn, document

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.problems import DiagramError


def waiting(definition: str, kind: str = "timeDuration") -> str:
    return f"""
    <startEvent id="s"/>
    <intermediateCatchEvent id="wait">
      <timerEventDefinition><{kind}>{definition}</{kind}></timerEventDefinition>
    </intermediateCatchEvent>
    <task id="after"/>
    <endEvent id="e"/>
    @ s -> wait -> after -> e
    """


@pytest.mark.parametrize(("definition", "variables"), [
    ("PT${secs}S", {"secs": 30}),
    ("PT${secs + 10}S", {"secs": 20}),
    ("${duration}", {"duration": "PT30S"}),
    ("#{duration}", {"duration": "PT30S"}),
    ("=duration", {"duration": "PT30S"}),
    ('=duration("PT" + string(secs) + "S")', {"secs": 30}),
])
def test_an_embedded_expression_is_evaluated_when_the_timer_is_created(
        run: RunFn, definition: str, variables: dict[str, object]) -> None:
    h = run(waiting(definition), variables=variables)
    timer = h.timer("wait")
    assert timer.value["due"] - h.clock == 30_000
    assert h.events("INCIDENT_CREATED") == []
    h.fire_timer("wait")
    assert h.activated()[-2:] == ["after", "e"]
    assert h.status(h.iid) == "COMPLETED"


def test_a_cycle_template_repeats_as_substituted(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <userTask id="work"/>
    <boundaryEvent id="tick" attachedToRef="work" cancelActivity="false">
      <timerEventDefinition><timeCycle>R${n}/PT${secs}S</timeCycle></timerEventDefinition>
    </boundaryEvent>
    <endEvent id="e"/><endEvent id="te"/>
    @ s -> work -> e
    @ tick -> te
    """, variables={"n": 2, "secs": 5})
    assert h.timer("tick").value["repetitions"] == 2
    assert h.timer("tick").value["expression"] == "R2/PT5S"


def test_a_variable_that_gives_no_timer_is_an_incident_at_run_time(run: RunFn) -> None:
    h = run(waiting("PT${secs}S"), variables={"secs": "soon"})
    assert h.last("INCIDENT_CREATED", "wait").value["errorType"] == "TIMER_ERROR"


@pytest.mark.parametrize("definition", ["PT${secs}S", "${duration}", "=duration",
                                        "${a}${b}"])
def test_deploy_accepts_what_variables_can_complete(definition: str) -> None:
    doc = parse(document(waiting(definition)).encode(), "t.bpmn")
    DefinitionRepository().deploy(doc)


@pytest.mark.parametrize("definition", ["PT${1 + 1}X", "P${'x'}Q", "PT${secs}X"])
def test_deploy_refuses_what_can_never_give_a_timer(definition: str) -> None:
    doc = parse(document(waiting(definition)).encode(), "t.bpmn")
    with pytest.raises(DiagramError, match=r"t\.bpmn:\d+: element 'wait'"):
        DefinitionRepository().deploy(doc)
