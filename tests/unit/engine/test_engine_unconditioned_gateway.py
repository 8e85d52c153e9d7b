"""An exclusive gateway whose outgoing flows carry no condition and no default (BPMN 2.0.2,
10.6.2 leaves the choice open): the engine asks a decision handler with a `decision` job
(docs/engine.md "Gateways"); `laneway run --jobs auto` answers it with the first flow."""

from __future__ import annotations

from conftest import RunFn, document

from laneway.bpmn import parse, validate
from laneway.engine.runner import Answers
from laneway.records import Command

OPEN_CHOICE = """
<startEvent id="s"/>
<exclusiveGateway id="g"/>
<task id="a"/><task id="b"/>
<endEvent id="ea"/><endEvent id="eb"/>
@ s -> g -> a -> ea
@ g -> b -> eb
"""


def test_validate_accepts_it() -> None:
    assert validate(parse(document(OPEN_CHOICE).encode(), "open.bpmn")) == []


def test_it_creates_a_decision_job_and_takes_the_flow_submitted(run: RunFn) -> None:
    h = run(OPEN_CHOICE)
    job = h.job("g")
    assert job.value["type"] == "decision"
    assert [f["id"] for f in job.value["flows"]] == ["g_a", "g_b"]
    assert h.status(h.iid) == "WAITING"
    h.send(Command.SUBMIT_DECISION, h.iid, {"jobKey": job.value["key"], "flows": ["g_b"]})
    assert h.activated()[-2:] == ["b", "eb"]
    assert "a" not in h.activated()
    assert h.status(h.iid) == "COMPLETED"


def test_the_local_runner_answers_it_with_the_first_flow_when_told_auto(run: RunFn) -> None:
    h = run(OPEN_CHOICE, Answers(auto_jobs=True))
    assert h.activated()[-2:] == ["a", "ea"]
    assert h.status(h.iid) == "COMPLETED"


def test_auto_leaves_a_handler_with_conditions_waiting(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <exclusiveGateway id="g" laneway:decision="handler"/>
    <endEvent id="ea"/><endEvent id="eb"/>
    @ s -> g
    @ g -> ea : =x &gt; 1
    @ g -> eb : =x &lt;= 1
    """, Answers(auto_jobs=True), variables={"x": 3})
    assert h.status(h.iid) == "WAITING"
    assert h.job("g").value["type"] == "decision"
