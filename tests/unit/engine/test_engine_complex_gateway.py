"""Complex gateways (BPMN 2.0.2 10.6.5 and 13.3.5): a split like an inclusive gateway; a join
that fires once its activation condition (reading `activationCount` and the variables) holds,
then consumes the tokens still to come without firing again (the reset), after which a new
round starts. Without an activation condition the join is an inclusive join."""

from __future__ import annotations

from conftest import RunFn

from laneway.bpmn import parse
from laneway.engine.check import check_runnable

SPLIT = """
<startEvent id="s"/>
<complexGateway id="split" default="to_c"/>
<task id="a"/><task id="b"/><task id="c"/>
<endEvent id="ea"/><endEvent id="eb"/><endEvent id="ec"/>
@ s -> split
@ split -> a : =x > 0
@ split -> b : =x > 1
<sequenceFlow id="to_c" sourceRef="split" targetRef="c"/>
@ a -> ea
@ b -> eb
@ c -> ec
"""


def test_a_complex_split_takes_every_flow_whose_condition_holds(run: RunFn) -> None:
    h = run(SPLIT, variables={"x": 2})
    assert [f for f in h.taken() if f.startswith(("split_", "to_"))] == ["split_a", "split_b"]
    assert "c" not in h.activated()
    assert h.status(h.iid) == "COMPLETED"


def test_a_complex_split_takes_the_default_when_no_condition_holds(run: RunFn) -> None:
    h = run(SPLIT, variables={"x": 0})
    assert "a" not in h.activated()
    assert "b" not in h.activated()
    assert h.activated().count("c") == 1
    assert h.status(h.iid) == "COMPLETED"


# the discriminator: the first branch to arrive fires the gateway, the other is consumed
DISCRIMINATOR = """
<startEvent id="s"/>
<parallelGateway id="fork"/>
<userTask id="a"/><userTask id="b"/>
<complexGateway id="join">
  <activationCondition xsi:type="tFormalExpression">=activationCount >= 1</activationCondition>
</complexGateway>
<userTask id="after"/>
<endEvent id="e"/>
@ s -> fork
@ fork -> a
@ fork -> b
@ a -> join
@ b -> join
@ join -> after -> e
"""


def test_the_first_token_fires_the_join_and_the_second_is_consumed_without_firing(
        run: RunFn) -> None:
    h = run(DISCRIMINATOR)
    h.complete_task("b")
    # fired by b's token alone: `after` runs while a is still open
    assert h.activated()[-2:] == ["join", "after"]
    assert h.last("JOIN_CONSUMED", "join").value["flows"] == ["b_join"]
    assert h.last("COMPLEX_GATEWAY_FIRED", "join").value["flows"] == ["b_join"]
    h.complete_task("a")
    # a's token is consumed by the reset: the gateway does not activate again
    assert h.activated().count("join") == 1
    assert h.activated().count("after") == 1
    assert h.trail("JOIN_CONSUMED", "COMPLEX_GATEWAY_RESET")[-2:] == [
        ("JOIN_CONSUMED", "join"), ("COMPLEX_GATEWAY_RESET", "join")]
    assert h.last("COMPLEX_GATEWAY_RESET", "join").value["flows"] == ["a_join"]
    h.complete_task("after")
    assert h.status(h.iid) == "COMPLETED"


def test_the_join_waits_until_its_activation_condition_holds(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <parallelGateway id="fork"/>
    <userTask id="a"/><userTask id="b"/><userTask id="c"/>
    <complexGateway id="join">
      <activationCondition xsi:type="tFormalExpression">=activationCount >= 2</activationCondition>
    </complexGateway>
    <userTask id="after"/>
    <endEvent id="e"/>
    @ s -> fork
    @ fork -> a
    @ fork -> b
    @ fork -> c
    @ a -> join
    @ b -> join
    @ c -> join
    @ join -> after -> e
    """)
    h.complete_task("c")
    assert "join" not in h.activated()
    h.complete_task("a")
    # two tokens: it fires, consuming both
    assert h.activated()[-2:] == ["join", "after"]
    assert sorted(h.last("JOIN_CONSUMED", "join").value["flows"]) == ["a_join", "c_join"]
    h.complete_task("after")
    # b is still to come: the instance waits for the reset
    assert h.status(h.iid) == "WAITING"
    h.complete_task("b")
    assert h.activated().count("after") == 1
    assert h.status(h.iid) == "COMPLETED"


def test_the_activation_condition_reads_process_variables(run: RunFn) -> None:
    xml = DISCRIMINATOR.replace("=activationCount >= 1", "=activationCount >= needed")
    h = run(xml, variables={"needed": 2})
    h.complete_task("a")
    assert "join" not in h.activated()
    h.complete_task("b")
    assert h.activated().count("join") == 1
    # every incoming flow had a token: no reset phase
    assert h.events("COMPLEX_GATEWAY_FIRED") == []
    h.complete_task("after")
    assert h.status(h.iid) == "COMPLETED"


def test_the_reset_happens_when_the_rest_can_no_longer_arrive(run: RunFn) -> None:
    # b's branch may route away from the join: once it has, the join resets without its token
    h = run("""
    <startEvent id="s"/>
    <parallelGateway id="fork"/>
    <userTask id="a"/><userTask id="b"/>
    <exclusiveGateway id="route" default="route_elsewhere"/>
    <complexGateway id="join">
      <activationCondition xsi:type="tFormalExpression">=activationCount >= 1</activationCondition>
    </complexGateway>
    <userTask id="after"/>
    <endEvent id="e"/><endEvent id="elsewhere"/>
    @ s -> fork
    @ fork -> a
    @ fork -> b
    @ b -> route
    @ route -> join : =go
    @ route -> elsewhere
    @ a -> join
    @ join -> after -> e
    """, variables={"go": False})
    h.complete_task("a")
    assert h.activated()[-2:] == ["join", "after"]
    h.complete_task("b", {"go": False})
    assert h.last("COMPLEX_GATEWAY_RESET", "join").value["flows"] == []
    h.complete_task("after")
    assert h.status(h.iid) == "COMPLETED"


def test_after_the_reset_a_new_round_fires_again(run: RunFn) -> None:
    # a loop brings both branches back: each round fires once
    h = run("""
    <startEvent id="s"/>
    <exclusiveGateway id="merge"/>
    <parallelGateway id="fork"/>
    <userTask id="a"/><userTask id="b"/>
    <complexGateway id="join">
      <activationCondition xsi:type="tFormalExpression">=activationCount >= 1</activationCondition>
    </complexGateway>
    <userTask id="after"/>
    <exclusiveGateway id="more" default="more_e"/>
    <endEvent id="e"/>
    @ s -> merge -> fork
    @ fork -> a
    @ fork -> b
    @ a -> join
    @ b -> join
    @ join -> after -> more
    @ more -> merge : =again
    @ more -> e
    """, variables={"again": True})
    h.complete_task("a")
    h.complete_task("b")
    h.complete_task("after", {"again": True})
    assert h.activated().count("join") == 1
    h.complete_task("b")
    assert h.activated().count("join") == 2
    h.complete_task("a")
    assert h.events("COMPLEX_GATEWAY_RESET")[-1].value["flows"] == ["a_join"]
    h.complete_task("after", {"again": False})
    assert h.activated().count("join") == 2
    assert h.status(h.iid) == "COMPLETED"


def test_without_an_activation_condition_the_join_is_an_inclusive_join(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <complexGateway id="split"/>
    <userTask id="a"/><userTask id="b"/><userTask id="c"/>
    <complexGateway id="join"/>
    <userTask id="after"/>
    <endEvent id="e"/>
    @ s -> split
    @ split -> a : =x > 0
    @ split -> b : =x > 1
    @ split -> c : =x > 2
    @ a -> join
    @ b -> join
    @ c -> join
    @ join -> after -> e
    """, variables={"x": 2})
    h.complete_task("b")
    assert "join" not in h.activated()
    h.complete_task("a")
    assert h.activated().count("join") == 1
    assert sorted(h.last("JOIN_CONSUMED", "join").value["flows"]) == ["a_join", "b_join"]
    h.complete_task("after")
    assert h.status(h.iid) == "COMPLETED"


def test_an_activation_condition_the_engine_cannot_evaluate_is_refused_at_deploy() -> None:
    xml = f"""<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
      xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d">
    <process id="p" isExecutable="true">
      <startEvent id="s"/><task id="a"/><task id="b"/>
      <complexGateway id="join">
        <activationCondition xsi:type="tFormalExpression"
          language="groovy">{'x &gt;'}</activationCondition>
      </complexGateway>
      <endEvent id="e"/>
      <sequenceFlow id="f1" sourceRef="s" targetRef="a"/>
      <sequenceFlow id="f2" sourceRef="a" targetRef="join"/>
      <sequenceFlow id="f3" sourceRef="b" targetRef="join"/>
      <sequenceFlow id="f4" sourceRef="join" targetRef="e"/>
    </process></definitions>"""
    definitions = parse(xml.encode(), "cx.bpmn")
    problems = check_runnable(definitions, definitions.processes[0])
    assert [(p.element_id, p.message) for p in problems] == [
        ("join", "activation condition 'x >' cannot be evaluated by the engine")]
