"""Timer values beyond what the engine schedules (laneway/timers.py `TimerBounds`): a
duration of ten million years, a cron or RRULE that never falls due, a cycle faster than a
second. From a variable they are a TIMER_ERROR incident on that instance (never an error that
stops the engine); written in the diagram they are refused at deploy, naming the element and
its line."""

from __future__ import annotations

import time

import pytest
from conftest import RunFn, document

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.problems import DiagramError

OTHER = """
<process id="q" isExecutable="true">
  <startEvent id="qs"/><task id="qt"/><endEvent id="qe"/>
  @ qs -> qt -> qe
</process>
"""


def _catch(kind: str, text: str) -> str:
    return f"""
    <startEvent id="s"/>
    <intermediateCatchEvent id="wait">
      <timerEventDefinition><{kind}>{text}</{kind}></timerEventDefinition>
    </intermediateCatchEvent>
    <endEvent id="e"/>
    @ s -> wait -> e
    """


def _boundary_cycle(text: str) -> str:
    return f"""
    <startEvent id="s"/><userTask id="u"/>
    <boundaryEvent id="tick" attachedToRef="u" cancelActivity="false">
      <timerEventDefinition><timeCycle>{text}</timeCycle></timerEventDefinition>
    </boundaryEvent>
    <endEvent id="e"/><endEvent id="f"/>
    @ s -> u -> e
    @ tick -> f
    """


FROM_VARIABLES = [
    ("timeDuration", "P9999999Y", "at most 100 years"),
    ("timeCycle", "0 0 30 2 *", "never does"),
    ("timeCycle", "RRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30", "never falls due"),
    ("timeCycle", "R/PT0.0001S", "more often than every 1 s"),
]


@pytest.mark.parametrize(("kind", "value", "words"), FROM_VARIABLES)
def test_a_timer_value_from_a_variable_beyond_bounds_is_an_incident(
        run: RunFn, kind: str, value: str, words: str) -> None:
    started = time.monotonic()
    xml = _catch(kind, "=when") if kind == "timeDuration" else _boundary_cycle("=when")
    h = run(xml, variables={"when": value}, also=(OTHER,))
    assert time.monotonic() - started < 5
    inst = h.runner.instance(h.iid)
    assert inst is not None
    incidents = list(inst.incidents.values())
    assert [i.error_type for i in incidents] == ["TIMER_ERROR"]
    assert words in incidents[0].message
    assert not inst.timers
    assert h.status(h.start("q")) == "COMPLETED"


@pytest.mark.parametrize(("kind", "value", "words"), [
    *FROM_VARIABLES,
    ("timeCycle", "R/2026-01-01T00:00:00Z/2026-01-01T00:00:00.0001Z", "more often"),
    ("timeCycle", "DTSTART:20260101T000000Z RRULE:FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31",
     "never falls due"),
    ("timeCycle", '="R/PT0.0001S"', "more often"),
])
def test_a_literal_timer_beyond_bounds_is_refused_at_deploy(
        kind: str, value: str, words: str) -> None:
    xml = _catch(kind, value) if kind == "timeDuration" else _boundary_cycle(value)
    with pytest.raises(DiagramError) as caught:
        DefinitionRepository().deploy(parse(document(xml).encode(), "test.bpmn"))
    [problem] = caught.value.problems
    element = "wait" if kind == "timeDuration" else "tick"
    assert problem.element_id == element
    assert problem.line > 0
    assert words in problem.message


@pytest.mark.parametrize(("kind", "value"), [
    ("timeDuration", "P100Y"),
    ("timeDuration", "=wait"),
    ("timeDuration", "${wait}"),
    ("timeCycle", "R/PT1S"),
    ("timeCycle", "0 0 29 2 *"),
    ("timeCycle", "* * * * * *"),
    ("timeCycle", "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"),
])
def test_timers_within_bounds_deploy(kind: str, value: str) -> None:
    xml = _catch(kind, value) if kind == "timeDuration" else _boundary_cycle(value)
    assert DefinitionRepository().deploy(parse(document(xml).encode(), "test.bpmn"))
