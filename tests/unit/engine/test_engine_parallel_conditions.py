"""Conditions on the outgoing flows of a parallel gateway (BPMN 2.0.2, 10.6.4 and 13.3.4:
the gateway takes every outgoing flow): the engine ignores them, whatever language they are
in, and `laneway validate` warns, naming the flow, the gateway and why."""

from __future__ import annotations

from conftest import RunFn, document

from laneway.bpmn import parse
from laneway.diagram_check import diagram_warnings_of

FORK = """
<startEvent id="s"/>
<parallelGateway id="fork"/>
<task id="a"/><task id="b"/>
<parallelGateway id="join"/>
<endEvent id="e"/>
@ s -> fork
@ fork -> a : ${test.contains("a")}
@ fork -> b : =false
@ a -> join
@ b -> join
@ join -> e
"""


def test_every_branch_runs_whatever_the_conditions_say(run: RunFn) -> None:
    h = run(FORK, variables={"test": "b"})
    assert set(h.activated()) >= {"a", "b"}
    assert h.activated()[-2:] == ["join", "e"]
    assert h.status(h.iid) == "COMPLETED"


def test_validate_warns_on_each_conditional_flow() -> None:
    warnings = [(p.element_id, p.message) for p in
                diagram_warnings_of(parse(document(FORK).encode(), "fork.bpmn"))]
    assert [w for w, _ in warnings] == ["fork_a", "fork_b"]
    assert all("parallel gateway 'fork' is ignored" in m for _, m in warnings)
    assert warnings[0][1].startswith("warning: condition '${test.contains(\"a\")}'")
