"""Standard loops (BPMN 2.0.2, 10.3.8 "Loop Characteristics", 13.3.6 "Loop Activity"): with
`testBefore` the condition is checked before every iteration, the first one included (a
while loop, zero runs when it is false at first); without it after every iteration (a
do-while loop, at least one run); `loopMaximum` bounds the iterations; a negative one is
refused at deploy."""

from __future__ import annotations

import pytest
from conftest import RunFn, document

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.problems import DiagramError


def loop(test_before: bool, condition: str | None, maximum: int | None = None) -> str:
    attrs = f' testBefore="{str(test_before).lower()}"'
    if maximum is not None:
        attrs += f' loopMaximum="{maximum}"'
    cond = f"<loopCondition>{condition}</loopCondition>" if condition is not None else ""
    return f"""
    <startEvent id="s"/>
    <scriptTask id="count">
      <extensionElements><zeebe:script expression="=n + 1" resultVariable="n"/>
      </extensionElements>
      <standardLoopCharacteristics{attrs}>{cond}</standardLoopCharacteristics>
    </scriptTask>
    <task id="after"/>
    <endEvent id="e"/>
    @ s -> count -> after -> e
    """


@pytest.mark.parametrize(("start", "runs"), [(0, 3), (1, 2), (2, 1), (3, 0), (7, 0)])
def test_test_before_checks_the_condition_before_every_iteration(
        run: RunFn, start: int, runs: int) -> None:
    h = run(loop(True, "=n &lt; 3"), variables={"n": start})
    # a while loop: as many runs as the condition holds before them, zero when it is false
    # at first
    assert h.activated() == ["p", "s", *(["count"] * runs), "after", "e"]
    assert h.variables(h.iid) == {"n": max(start, 3)}
    assert h.status(h.iid) == "COMPLETED"


@pytest.mark.parametrize(("start", "runs"), [(0, 3), (1, 2), (3, 1), (7, 1)])
def test_test_after_runs_the_body_first(run: RunFn, start: int, runs: int) -> None:
    h = run(loop(False, "=n &lt; 3"), variables={"n": start})
    assert h.activated() == ["p", "s", *(["count"] * runs), "after", "e"]
    assert h.variables(h.iid) == {"n": start + runs}


@pytest.mark.parametrize("test_before", [True, False])
def test_loop_maximum_bounds_the_iterations(run: RunFn, test_before: bool) -> None:
    h = run(loop(test_before, "=true", maximum=3), variables={"n": 0})
    assert h.activated().count("count") == 3
    assert h.variables(h.iid) == {"n": 3}
    assert h.status(h.iid) == "COMPLETED"


def test_a_loop_maximum_of_zero_with_test_before_runs_nothing(run: RunFn) -> None:
    h = run(loop(True, "=true", maximum=0), variables={"n": 0})
    assert "count" not in h.activated()
    assert h.activated()[-2:] == ["after", "e"]


def test_test_before_condition_sees_the_iterations_done(run: RunFn) -> None:
    h = run(loop(True, "=loopCounter &lt; 2"), variables={"n": 0})
    assert h.activated().count("count") == 2


def test_a_negative_loop_maximum_is_refused_at_deploy() -> None:
    doc = parse(document(loop(True, "=true", maximum=-1)).encode(), "neg.bpmn")
    with pytest.raises(DiagramError, match=r"count.*loopMaximum") as info:
        DefinitionRepository().deploy(doc)
    assert "neg.bpmn:" in str(info.value)
