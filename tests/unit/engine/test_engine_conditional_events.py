"""Conditional events (BPMN 2.0.2 10.5.5, 13.5): triggered when their condition becomes true,
evaluated when the variables they read change (and once when the wait opens), never by
polling; a non-interrupting one fires on the change from false to true only. Conditional
starts of a process run on `EVALUATE_CONDITIONS`."""

from __future__ import annotations

import pytest
from conftest import RunFn, document

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.problems import DiagramError
from laneway.records import Command, RecordKind


def cond(expr: str) -> str:
    return ('<conditionalEventDefinition><condition xsi:type="tFormalExpression">'
            f"{expr}</condition></conditionalEventDefinition>")


INTERMEDIATE = f"""
<startEvent id="s"/>
<parallelGateway id="fork"/>
<intermediateCatchEvent id="wait">{cond("=level > 5")}</intermediateCatchEvent>
<task id="after"/>
<endEvent id="e1"/>
<serviceTask id="work"/>
<endEvent id="e2"/>
@ s -> fork -> wait -> after -> e1
@ fork -> work -> e2
"""


def test_an_intermediate_conditional_event_waits_until_its_condition_holds(run: RunFn) -> None:
    h = run(INTERMEDIATE, variables={"level": 1})
    assert "after" not in h.activated()
    h.complete_job("work", {"level": 3})
    assert "after" not in h.activated()
    assert h.status(h.iid) != "COMPLETED"


def test_an_intermediate_conditional_event_fires_when_a_variable_it_reads_changes(
        run: RunFn) -> None:
    h = run(INTERMEDIATE, variables={"level": 1})
    assert "after" not in h.activated()
    h.complete_job("work", {"level": 9})
    # the change the job's result made is what let the waiting branch go on
    assert h.activated() == ["p", "s", "fork", "wait", "work", "e2", "after", "e1"]
    assert h.status(h.iid) == "COMPLETED"


def test_an_intermediate_conditional_event_that_already_holds_passes_at_once(run: RunFn) -> None:
    h = run(INTERMEDIATE, variables={"level": 7})
    assert h.activated()[:6] == ["p", "s", "fork", "wait", "work", "after"]
    assert ("ELEMENT_COMPLETED", "wait") in h.trail("ELEMENT_COMPLETED")


BOUNDARY = """
<startEvent id="s"/>
<parallelGateway id="fork"/>
<serviceTask id="long"/>
<boundaryEvent id="b" attachedToRef="long" cancelActivity="{cancel}">{cond}</boundaryEvent>
<task id="handled"/>
<endEvent id="e1"/>
<endEvent id="eb"/>
<userTask id="setter"/>
<endEvent id="e2"/>
@ s -> fork -> long -> e1
@ b -> handled -> eb
@ fork -> setter -> e2
"""


def boundary(cancel: str) -> str:
    return BOUNDARY.replace("{cancel}", cancel).replace("{cond}", cond("=alarm"))


def test_an_interrupting_conditional_boundary_event_ends_its_activity(run: RunFn) -> None:
    h = run(boundary("true"), variables={"alarm": False})
    assert "handled" not in h.activated()
    h.complete_task("setter", {"alarm": True})
    assert h.terminated() == ["long"]
    assert "handled" in h.activated()
    assert h.status(h.iid) == "COMPLETED"


def test_a_conditional_boundary_event_that_holds_when_its_activity_starts_fires_at_once(
        run: RunFn) -> None:
    h = run(boundary("true"), variables={"alarm": True})
    assert h.terminated() == ["long"]
    order = h.activated()
    assert order.index("long") < order.index("b") < order.index("handled")


NON_INTERRUPTING_TWICE = f"""
<startEvent id="s"/>
<parallelGateway id="fork"/>
<userTask id="long"/>
<boundaryEvent id="b" attachedToRef="long" cancelActivity="false">{cond("=alarm")}</boundaryEvent>
<task id="handled"/>
<endEvent id="e1"/>
<endEvent id="eb"/>
<serviceTask id="setter"/>
<exclusiveGateway id="again" default="again_e2"/>
<endEvent id="e2"/>
@ s -> fork -> long -> e1
@ b -> handled -> eb
@ fork -> setter -> again
@ again -> setter : =more
<sequenceFlow id="again_e2" sourceRef="again" targetRef="e2"/>
"""


def test_a_non_interrupting_conditional_boundary_does_not_fire_again_while_it_stays_true(
        run: RunFn) -> None:
    h = run(NON_INTERRUPTING_TWICE, variables={"alarm": False, "more": True})
    h.complete_job("setter", {"alarm": True})
    assert h.activated().count("handled") == 1
    h.complete_job("setter", {"alarm": True, "n": 2})  # still true: no new event
    assert h.activated().count("handled") == 1
    h.complete_job("setter", {"alarm": False})
    assert h.activated().count("handled") == 1
    h.complete_job("setter", {"alarm": True, "more": False})  # false -> true: fires again
    assert h.activated().count("handled") == 2
    assert h.terminated() == []
    h.complete_task("long")
    assert h.status(h.iid) == "COMPLETED"


def esp(interrupting: str) -> str:
    return f"""
<startEvent id="s"/>
<parallelGateway id="fork"/>
<userTask id="main"/>
<endEvent id="e1"/>
<serviceTask id="setter"/>
<endEvent id="e2"/>
@ s -> fork -> main -> e1
@ fork -> setter -> e2
<subProcess id="handler" triggeredByEvent="true">
  <startEvent id="hs" isInterrupting="{interrupting}">{cond("=stop = true")}</startEvent>
  <task id="cleanup"/>
  <endEvent id="he"/>
  @ hs -> cleanup -> he
</subProcess>
"""


def test_an_interrupting_conditional_event_subprocess_ends_the_scope(run: RunFn) -> None:
    h = run(esp("true"), variables={"stop": False})
    assert "cleanup" not in h.activated()
    h.complete_job("setter", {"stop": True})
    assert h.terminated() == ["main"]
    assert h.activated() == ["p", "s", "fork", "main", "setter", "handler", "hs", "cleanup",
                             "he"]
    assert h.status(h.iid) == "COMPLETED"


def test_a_non_interrupting_conditional_event_subprocess_runs_beside_the_scope(
        run: RunFn) -> None:
    h = run(esp("false"), variables={"stop": False})
    h.complete_job("setter", {"stop": True})
    assert h.activated().count("cleanup") == 1
    assert h.terminated() == []
    assert h.status(h.iid) != "COMPLETED"
    h.complete_task("main")
    assert h.status(h.iid) == "COMPLETED"


def test_a_conditional_event_subprocess_that_holds_when_the_scope_starts_fires_at_once(
        run: RunFn) -> None:
    h = run(esp("true"), variables={"stop": True})
    # the scope's waits open as it starts: the tokens of its start event are cut off
    assert h.activated() == ["p", "s", "handler", "hs", "cleanup", "he"]
    assert h.status(h.iid) == "COMPLETED"


def test_a_boundary_condition_on_a_subprocess_sees_the_variables_of_the_process(
        run: RunFn) -> None:
    h = run(f"""
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/><userTask id="inner"/><endEvent id="se"/>
      @ ss -> inner -> se
    </subProcess>
    <boundaryEvent id="b" attachedToRef="sub">{cond('=contains(test, "a")')}</boundaryEvent>
    <task id="t3"/>
    <task id="t2"/>
    <endEvent id="e"/><endEvent id="eb"/>
    @ s -> sub -> t2 -> e
    @ b -> t3 -> eb
    """, variables={"test": "a"})
    assert "t3" in h.activated()
    assert "t2" not in h.activated()
    assert h.status(h.iid) == "COMPLETED"


TOP = f"""
<startEvent id="when">{cond("=amount > 100")}</startEvent>
<task id="big"/>
<endEvent id="e"/>
@ when -> big -> e
"""


def test_evaluate_conditions_starts_an_instance_where_a_conditional_start_holds(
        run: RunFn) -> None:
    h = run(TOP, start=False)
    out = h.send(Command.EVALUATE_CONDITIONS, "", {"variables": {"amount": 500}})
    assert not [r for r in out if r.kind == RecordKind.REJECTION]
    [iid] = h.instance_ids()
    assert h.activated(iid) == ["p", "when", "big", "e"]
    assert h.variables(iid) == {"amount": 500}
    assert h.status(iid) == "COMPLETED"


def test_evaluate_conditions_that_hold_nowhere_is_rejected_and_starts_nothing(
        run: RunFn) -> None:
    h = run(TOP, start=False)
    out = h.send(Command.EVALUATE_CONDITIONS, "", {"variables": {"amount": 5}})
    [rejection] = [r for r in out if r.kind == RecordKind.REJECTION]
    assert rejection.value["rejectionType"] == "NOT_FOUND"
    assert h.instance_ids() == []
    out = h.send(Command.EVALUATE_CONDITIONS, "", {"variables": {"amount": 500},
                                                   "processId": "other"})
    assert [r.value["rejectionType"] for r in out if r.kind == RecordKind.REJECTION] == [
        "NOT_FOUND"]
    out = h.send(Command.EVALUATE_CONDITIONS, "", {"variables": [1]})
    assert [r.value["rejectionType"] for r in out if r.kind == RecordKind.REJECTION] == [
        "INVALID_ARGUMENT"]
    assert h.instance_ids() == []


def test_a_process_started_plainly_does_not_start_at_a_conditional_start(run: RunFn) -> None:
    h = run(TOP, start=False)
    out = h.send(Command.START_INSTANCE, "i1", {"processId": "p"})
    [rejection] = [r for r in out if r.kind == RecordKind.REJECTION]
    assert "conditional" in rejection.value["reason"]


@pytest.mark.parametrize("where", ["intermediate", "boundary", "start"])
def test_a_condition_the_engine_cannot_evaluate_is_refused_at_deploy(where: str) -> None:
    bad = cond("=a +* b")
    bodies = {
        "intermediate": f'<startEvent id="s"/>\n<intermediateCatchEvent id="bad">{bad}'
                        '</intermediateCatchEvent>\n<endEvent id="e"/>\n@ s -> bad -> e',
        "boundary": '<startEvent id="s"/>\n<userTask id="t"/>\n<endEvent id="e"/>\n'
                    f'<boundaryEvent id="bad" attachedToRef="t">{bad}</boundaryEvent>\n'
                    '@ s -> t -> e',
        "start": f'<startEvent id="bad">{bad}</startEvent>\n<endEvent id="e"/>\n@ bad -> e',
    }
    xml = document(bodies[where])
    with pytest.raises(DiagramError) as caught:
        DefinitionRepository().deploy(parse(xml.encode(), "c.bpmn"))
    [problem] = caught.value.problems
    assert problem.element_id == "bad"
    assert problem.line == next(i for i, line in enumerate(xml.splitlines(), 1)
                                if 'id="bad"' in line)
    assert "cannot be evaluated" in problem.message


def test_a_diagram_without_conditional_events_has_nothing_to_watch() -> None:
    repo = DefinitionRepository()
    repo.deploy(parse(document('<startEvent id="s"/><task id="t"/><endEvent id="e"/>\n'
                               "@ s -> t -> e").encode(), "plain.bpmn"))
    assert not repo.get("p").conditions


def test_a_conditional_event_after_an_event_based_gateway_wins_when_it_holds(
        run: RunFn) -> None:
    h = run(f"""
    <message id="m1" name="reply"/>
    <startEvent id="s"/>
    <parallelGateway id="fork"/>
    <eventBasedGateway id="gw"/>
    <intermediateCatchEvent id="replied"><messageEventDefinition messageRef="m1"/>
    </intermediateCatchEvent>
    <intermediateCatchEvent id="late">{cond("=overdue")}</intermediateCatchEvent>
    <task id="remind"/><task id="thank"/>
    <serviceTask id="clock"/>
    <endEvent id="e1"/><endEvent id="e2"/><endEvent id="e3"/>
    @ s -> fork -> gw -> replied -> thank -> e1
    @ gw -> late -> remind -> e2
    @ fork -> clock -> e3
    """, variables={"overdue": False})
    assert "remind" not in h.activated()
    h.complete_job("clock", {"overdue": True})
    assert "remind" in h.activated()
    assert "thank" not in h.activated()
    # the gateway's other wait (the message subscription) closed with it
    assert h.status(h.iid) == "COMPLETED"


def test_a_non_interrupting_event_subprocess_of_a_subprocess_fires_as_it_starts(
        run: RunFn) -> None:
    h = run(f"""
    <startEvent id="s"/>
    <subProcess id="sub">
      <subProcess id="esp" triggeredByEvent="true">
        <startEvent id="es" isInterrupting="false">{cond('=contains(test, "a")')}</startEvent>
        <task id="t1"/><endEvent id="ee"/>
        @ es -> t1 -> ee
      </subProcess>
      <startEvent id="ss"/><task id="t2"/><endEvent id="se"/>
      @ ss -> t2 -> se
    </subProcess>
    <endEvent id="e"/>
    @ s -> sub -> e
    """, variables={"test": "abc"})
    order = h.activated()
    assert order.count("t1") == 1
    # it started as the subprocess started, before the subprocess's own token moved on
    assert order.index("esp") < order.index("t2")
    assert h.status(h.iid) == "COMPLETED"


def test_a_conditional_boundary_of_a_multi_instance_activity_interrupts_the_whole_body(
        run: RunFn) -> None:
    h = run(f"""
    <startEvent id="s"/>
    <parallelGateway id="fork"/>
    <userTask id="review">
      <multiInstanceLoopCharacteristics>
        <loopCardinality>3</loopCardinality>
      </multiInstanceLoopCharacteristics>
    </userTask>
    <boundaryEvent id="b" attachedToRef="review">{cond("=abort")}</boundaryEvent>
    <serviceTask id="watch"/>
    <task id="aborted"/>
    <endEvent id="e1"/><endEvent id="e2"/><endEvent id="e3"/>
    @ s -> fork -> review -> e1
    @ fork -> watch -> e2
    @ b -> aborted -> e3
    """, variables={"abort": False})
    assert h.activated().count("review") == 4  # the body and its three inner instances
    h.complete_job("watch", {"abort": True})
    assert h.activated().count("aborted") == 1
    assert h.terminated().count("review") == 4
    assert h.status(h.iid) == "COMPLETED"
