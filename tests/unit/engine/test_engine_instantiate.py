"""Elements that instantiate a process (BPMN 2.0.2 10.5.6, 10.3.3): an event-based gateway
with `instantiate="true"` and no incoming flow, whose events start an instance; a receive
task with `instantiate="true"` and no incoming flow, whose message starts one."""

from __future__ import annotations

import pytest
from conftest import RunFn, document

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.problems import DiagramError

GATEWAY = """
<message id="m1" name="order"/>
<signal id="s1" name="cancel"/>
<eventBasedGateway id="gw" instantiate="true" eventGatewayType="Exclusive"/>
<intermediateCatchEvent id="ordered"><messageEventDefinition messageRef="m1"/>
</intermediateCatchEvent>
<intermediateCatchEvent id="cancelled"><signalEventDefinition signalRef="s1"/>
</intermediateCatchEvent>
<task id="ship"/><task id="drop"/>
<endEvent id="e1"/><endEvent id="e2"/>
@ gw -> ordered -> ship -> e1
@ gw -> cancelled -> drop -> e2
"""


def test_a_message_on_an_instantiating_gateway_starts_an_instance_there(run: RunFn) -> None:
    h = run(GATEWAY, start=False)
    h.publish("order", variables={"item": "book"})
    [iid] = h.instance_ids()
    assert h.activated(iid) == ["p", "gw", "ordered", "ship", "e1"]
    assert h.variables(iid) == {"item": "book"}
    assert h.status(iid) == "COMPLETED"


def test_a_signal_on_an_instantiating_gateway_starts_an_instance_on_its_branch(
        run: RunFn) -> None:
    h = run(GATEWAY, start=False)
    h.broadcast("cancel")
    [iid] = h.instance_ids()
    assert h.activated(iid) == ["p", "gw", "cancelled", "drop", "e2"]
    # the instance does not wait on the other event: the gateway was passed
    assert h.status(iid) == "COMPLETED"


def test_each_message_starts_a_new_instance(run: RunFn) -> None:
    h = run(GATEWAY, start=False)
    h.publish("order", message_id="a")
    h.publish("order", message_id="b")
    assert len(h.instance_ids()) == 2


def test_a_plain_start_waits_at_the_instantiating_gateway(run: RunFn) -> None:
    h = run(GATEWAY)
    assert h.activated() == ["p", "gw"]
    h.publish("order")
    # the waiting instance takes the message (a message goes to one waiting subscription of a
    # process before it starts one); no new instance starts for it
    assert h.instance_ids() == [h.iid]
    assert h.activated() == ["p", "gw", "ordered", "ship", "e1"]


RECEIVE = """
<message id="m1" name="hello"/>
<receiveTask id="rt" messageRef="m1" instantiate="true"/>
<task id="greet"/>
<endEvent id="e"/>
@ rt -> greet -> e
"""


def test_a_message_to_an_instantiating_receive_task_starts_an_instance_there(
        run: RunFn) -> None:
    h = run(RECEIVE, start=False, also=("""
    <message id="m1" name="hello"/>
    <process id="sender" isExecutable="true">
      <startEvent id="s"/>
      <intermediateThrowEvent id="say"><messageEventDefinition messageRef="m1"/>
      </intermediateThrowEvent>
      <endEvent id="e"/>
      @ s -> say -> e
    </process>
    """,))
    sender = h.start("sender", {"who": "ann"})
    started = [i for i in h.instance_ids() if i != sender]
    assert len(started) == 1
    assert h.activated(started[0]) == ["p", "rt", "greet", "e"]
    assert h.variables(started[0])["who"] == "ann"
    assert h.status(started[0]) == "COMPLETED"


@pytest.mark.parametrize(("body", "reason"), [
    ('<message id="m1" name="x"/>\n<startEvent id="s"/>'
     '<receiveTask id="bad" messageRef="m1" instantiate="true"/><endEvent id="e"/>\n'
     "@ s -> bad -> e", "cannot have incoming"),
    ('<message id="m1" name="x"/>\n<eventBasedGateway id="bad" instantiate="true" '
     'eventGatewayType="Parallel"/><intermediateCatchEvent id="c"><messageEventDefinition '
     'messageRef="m1"/></intermediateCatchEvent><endEvent id="e"/>\n@ bad -> c -> e',
     "parallel instantiating"),
])
def test_instantiating_elements_that_cannot_start_are_refused(body: str, reason: str) -> None:
    with pytest.raises(DiagramError) as caught:
        DefinitionRepository().deploy(parse(document(body).encode(), "i.bpmn"))
    [problem] = caught.value.problems
    assert problem.element_id == "bad"
    assert reason in problem.message


def test_a_start_naming_the_timer_after_an_instantiating_gateway_passes_the_gateway(
        run: RunFn) -> None:
    # what the triggers service sends when such a timer falls due
    h = run("""
    <message id="m1" name="order"/>
    <eventBasedGateway id="gw" instantiate="true"/>
    <intermediateCatchEvent id="daily">
      <timerEventDefinition><timeCycle>R/PT24H</timeCycle></timerEventDefinition>
    </intermediateCatchEvent>
    <intermediateCatchEvent id="ordered"><messageEventDefinition messageRef="m1"/>
    </intermediateCatchEvent>
    <task id="report"/>
    <endEvent id="e1"/><endEvent id="e2"/>
    @ gw -> daily -> report -> e1
    @ gw -> ordered -> e2
    """, start=False)
    iid = h.start(start_event_id="daily")
    assert h.activated(iid) == ["p", "gw", "daily", "report", "e1"]
    assert h.trail("TIMER_CREATED", "MESSAGE_SUBSCRIPTION_CREATED", iid=iid) == []
    assert h.status(iid) == "COMPLETED"
