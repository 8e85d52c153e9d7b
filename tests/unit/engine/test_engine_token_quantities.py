"""Token quantities (BPMN 2.0.2 10.3.1, 13.2.1): `startQuantity` is the number of tokens
that must arrive before an activity starts; `completionQuantity` the number of tokens it
sends on each outgoing flow when it completes; zero for either is refused at deploy."""

from __future__ import annotations

import pytest
from conftest import RunFn, document

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.problems import DiagramError


def test_completion_quantity_sends_that_many_tokens_and_start_quantity_joins_them(
        run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <task id="one" completionQuantity="2"/>
    <task id="each"/>
    <task id="joined" startQuantity="2"/>
    <endEvent id="e"/>
    @ s -> one -> each -> joined -> e
    """)
    # the middle task runs once per token; the last one once, for both
    assert h.activated() == ["p", "s", "one", "each", "each", "joined", "e"]
    assert h.status(h.iid) == "COMPLETED"


def test_without_start_quantity_every_token_starts_the_activity_again(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <task id="split"/>
    <task id="a"/><task id="b"/>
    <task id="merge"/>
    <endEvent id="e"/>
    @ s -> split -> a -> merge -> e
    @ split -> b -> merge
    """)
    assert h.activated().count("merge") == 2
    assert h.activated().count("e") == 2
    assert h.status(h.iid) == "COMPLETED"


def test_start_quantity_two_on_two_flows_starts_once(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <task id="split"/>
    <task id="a"/><task id="b"/>
    <task id="merge" startQuantity="2"/>
    <endEvent id="e"/>
    @ s -> split -> a -> merge -> e
    @ split -> b -> merge
    """)
    assert h.activated() == ["p", "s", "split", "a", "b", "merge", "e"]
    assert h.status(h.iid) == "COMPLETED"


def test_an_activity_waiting_for_tokens_that_never_come_never_starts(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <task id="first"/>
    <task id="never" startQuantity="2"/>
    <endEvent id="e"/>
    @ s -> first -> never -> e
    """)
    assert "never" not in h.activated()
    # the token waits at the activity: the instance does not complete
    assert h.status(h.iid) != "COMPLETED"
    assert h.runner.engine.state.instances[h.iid].joins


def test_a_cancelled_instance_drops_the_tokens_waiting_for_a_start_quantity(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <task id="never" startQuantity="3"/>
    <endEvent id="e"/>
    @ s -> never -> e
    """)
    h.cancel(h.iid)
    assert h.status(h.iid) == "TERMINATED"


@pytest.mark.parametrize(("attribute", "value"), [
    ("startQuantity", "0"), ("completionQuantity", "0"), ("startQuantity", "two"),
    ("completionQuantity", "100000"),
])
def test_a_quantity_the_engine_cannot_honour_is_refused_at_deploy_with_element_and_line(
        attribute: str, value: str) -> None:
    xml = document(f"""
    <startEvent id="s"/>
    <scriptTask id="bad" {attribute}="{value}"/>
    <endEvent id="e"/>
    @ s -> bad -> e
    """)
    with pytest.raises(DiagramError) as caught:
        DefinitionRepository().deploy(parse(xml.encode(), "q.bpmn"))
    [problem] = caught.value.problems
    assert problem.element_id == "bad"
    assert problem.line == xml.splitlines().index(
        next(line for line in xml.splitlines() if 'id="bad"' in line)) + 1
    assert attribute in problem.message
