"""The deploy check of a `response` task's `laneway:deadline` against its timer boundary events
(laneway/connectors/builtin/response.py `deadline_findings`, through `check_diagram`, the one
check of `laneway validate`, a deploy and the console)."""

from __future__ import annotations

from pathlib import Path

from laneway.bpmn import LANEWAY_NS
from laneway.diagram_check import check_diagram
from tests.e2e.test_response_e2e import MESSAGE, NS, TASK

ROOT = Path(__file__).resolve().parents[2]

_DIAGRAM = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:laneway="{ns}" id="d" targetNamespace="t">
  <process id="p" isExecutable="true">
    <startEvent id="s"/>
    <serviceTask id="ask" laneway:type="response" laneway:to="a@example.org" {attrs}/>
    {boundaries}
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="ask"/>
    <sequenceFlow id="f2" sourceRef="ask" targetRef="e"/>
  </process>
</definitions>"""


def _timer(id_: str, text: str, *, interrupting: bool = True, kind: str = "timeDuration") -> str:
    return (f'<boundaryEvent id="{id_}" attachedToRef="ask" '
            f'cancelActivity="{str(interrupting).lower()}"><timerEventDefinition>'
            f'<{kind}>{text}</{kind}></timerEventDefinition></boundaryEvent>')


def _check(attrs: str = "", *boundaries: str) -> tuple[list[tuple[int, str | None, str]],
                                                         list[tuple[int, str | None, str]]]:
    data = _DIAGRAM.format(ns=LANEWAY_NS, attrs=attrs, boundaries="\n".join(boundaries))
    checked = check_diagram(data.encode(), "r.bpmn")
    return ([(p.line, p.element_id, p.message) for p in checked.problems],
            [(p.line, p.element_id, p.message) for p in checked.warnings])


def test_a_deadline_other_than_the_interrupting_timers_duration_is_refused_naming_both() -> None:
    problems, _ = _check('laneway:deadline="P7D"', _timer("late", "P3D"))
    assert problems == [(5, "ask", "Expected laneway:deadline (P7D) to equal the duration of "
                         "the interrupting timer boundary event 'late' (P3D): the link must "
                         "close when the timer ends the task (the response connector)")]
    # absent, the deadline is the default P7D
    problems, _ = _check("", _timer("late", "PT2S"))
    assert [m for _, _, m in problems] == [
        "Expected laneway:deadline (P7D) to equal the duration of the interrupting timer "
        "boundary event 'late' (PT2S): the link must close when the timer ends the task "
        "(the response connector)"]
    # a month has no fixed length: never a deadline's
    assert _check('laneway:deadline="P30D"', _timer("late", "P1M"))[0] != []


def test_a_deadline_equal_to_the_timers_duration_is_accepted() -> None:
    assert _check('laneway:deadline="P3D"', _timer("late", "P3D")) == ([], [])
    assert _check('laneway:deadline="PT72H"', _timer("late", "P3D")) == ([], [])
    assert _check("", _timer("late", "P7D")) == ([], [])
    # the timer that ends the task is the first to fire; a non-interrupting one ends nothing
    assert _check('laneway:deadline="PT1H"', _timer("late", "P1D"), _timer("soon", "PT1H"),
                  _timer("remind", "PT5M", interrupting=False)) == ([], [])


def test_a_task_without_an_interrupting_timer_is_accepted_with_a_warning() -> None:
    problems, warnings = _check('laneway:deadline="P3D"')
    assert problems == []
    assert warnings == [(5, "ask", "warning: no interrupting timer boundary event ends this "
                         "response task: it waits until the link expires (laneway:deadline, "
                         "P3D) and then for ever; give it one of the same duration (the "
                         "response connector)")]
    problems, warnings = _check('laneway:deadline="P3D"',
                                _timer("remind", "PT5M", interrupting=False))
    assert problems == []
    assert len(warnings) == 1


def test_timers_that_are_no_plain_duration_are_not_judged() -> None:
    assert _check('laneway:deadline="P3D"', _timer("late", "=wait")) == ([], [])
    assert _check('laneway:deadline="P3D"', _timer("late", "${wait}")) == ([], [])
    assert _check('laneway:deadline="P3D"',
                  _timer("late", "2030-01-01T00:00:00Z", kind="timeDate")) == ([], [])


def test_mode_message_and_a_malformed_deadline_are_left_to_other_checks() -> None:
    assert _check('laneway:mode="message" laneway:message="m" laneway:send="none" '
                  'laneway:deadline="P3D"') == ([], [])
    problems, _ = _check('laneway:deadline="soon"', _timer("late", "P3D"))
    assert [m for _, _, m in problems] == [
        "Expected laneway:deadline to be an ISO 8601 duration such as 'PT30S', but got 'soon' "
        "(the response connector)"]


def test_the_example_and_the_e2e_diagrams_pass() -> None:
    example = ROOT / "examples/connectors/response/response.bpmn"
    checked = check_diagram(example.read_bytes(), example.name)
    assert (checked.problems, checked.warnings) == ([], [])
    for deadline in ("PT1H", "PT2S"):
        checked = check_diagram(TASK.format(ns=NS, pid="p", deadline=deadline).encode(), "t")
        assert (checked.problems, checked.warnings) == ([], [])
    checked = check_diagram(MESSAGE.format(ns=NS, pid="quote").encode(), "m.bpmn")
    assert (checked.problems, checked.warnings) == ([], [])
