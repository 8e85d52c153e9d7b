"""A conditional boundary event whose condition already holds when its activity is entered
(BPMN 2.0.2 10.5.5: the event is triggered when the condition is true; 13.5.x: a boundary event
waits from the moment its activity is activated). As in Camunda 7, the condition is evaluated
on entry, before the activity does anything: an interrupting one ends the activity before any
of its inner elements, job or task exists; a non-interrupting one starts its path first."""

from __future__ import annotations

from conftest import RunFn


def cond(expr: str) -> str:
    return ('<conditionalEventDefinition><condition xsi:type="tFormalExpression">'
            f"{expr}</condition></conditionalEventDefinition>")


def script(element_id: str, variable: str) -> str:
    return (f'<scriptTask id="{element_id}"><extensionElements>'
            f'<zeebe:script expression="=1" resultVariable="{variable}"/>'
            "</extensionElements></scriptTask>")


def subprocess(cancel: str) -> str:
    return f"""
<startEvent id="s"/>
<subProcess id="sub">
  <startEvent id="ss"/>
  {script("inner", "innerRan")}
  <endEvent id="se"/>
  @ ss -> inner -> se
</subProcess>
<boundaryEvent id="b" attachedToRef="sub" cancelActivity="{cancel}">{cond("=alarm")}</boundaryEvent>
{script("handled", "handledRan")}
<endEvent id="e"/>
<endEvent id="eb"/>
@ s -> sub -> e
@ b -> handled -> eb
"""


def test_an_interrupting_boundary_that_holds_on_entry_ends_the_subprocess_before_its_steps(
        run: RunFn) -> None:
    h = run(subprocess("true"), variables={"alarm": True})
    assert h.activated() == ["p", "s", "sub", "b", "handled", "eb"]
    assert h.terminated() == ["sub"]
    assert h.events("ELEMENT_ACTIVATED", "ss") == []
    assert h.status(h.iid) == "COMPLETED"
    assert "innerRan" not in h.variables(h.iid)
    assert h.variables(h.iid)["handledRan"] == 1


def test_a_non_interrupting_boundary_that_holds_on_entry_starts_its_path_first(
        run: RunFn) -> None:
    h = run(subprocess("false"), variables={"alarm": True})
    done = h.completed()
    assert done.index("handled") < done.index("inner")
    # fired once, on entry: the wait that opens after does not fire it again
    assert h.activated().count("b") == 1
    assert h.terminated() == []
    assert h.status(h.iid) == "COMPLETED"
    assert h.variables(h.iid)["innerRan"] == 1


def test_a_boundary_that_does_not_hold_on_entry_lets_the_subprocess_run(run: RunFn) -> None:
    h = run(subprocess("true"), variables={"alarm": False})
    assert "b" not in h.activated()
    assert h.completed()[-3:] == ["sub", "e", "p"]
    assert h.variables(h.iid)["innerRan"] == 1


SERVICE = f"""
<startEvent id="s"/>
<serviceTask id="work"><extensionElements><zeebe:taskDefinition type="work"/>
</extensionElements></serviceTask>
<boundaryEvent id="b" attachedToRef="work">{cond("=alarm")}</boundaryEvent>
<task id="handled"/>
<endEvent id="e"/>
<endEvent id="eb"/>
@ s -> work -> e
@ b -> handled -> eb
"""


def test_an_interrupting_boundary_that_holds_on_entry_creates_no_job(run: RunFn) -> None:
    h = run(SERVICE, variables={"alarm": True})
    assert h.events("JOB_CREATED") == []
    assert h.events("JOB_CANCELED") == []
    assert h.terminated() == ["work"]
    assert h.activated() == ["p", "s", "work", "b", "handled", "eb"]
    assert h.status(h.iid) == "COMPLETED"


def test_an_input_mapping_of_the_activity_is_seen_on_entry(run: RunFn) -> None:
    mapped = SERVICE.replace(
        '<zeebe:taskDefinition type="work"/>',
        '<zeebe:taskDefinition type="work"/><zeebe:ioMapping>'
        '<zeebe:input source="=level > 5" target="alarm"/></zeebe:ioMapping>')
    h = run(mapped, variables={"level": 9})
    assert h.events("JOB_CREATED") == []
    assert h.terminated() == ["work"]
    h2 = run(mapped, variables={"level": 1})
    assert len(h2.events("JOB_CREATED")) == 1
    assert "b" not in h2.activated()


MULTI = f"""
<startEvent id="s"/>
<serviceTask id="work"><extensionElements><zeebe:taskDefinition type="work"/>
</extensionElements>
<multiInstanceLoopCharacteristics isSequential="false">
<loopCardinality>=2</loopCardinality></multiInstanceLoopCharacteristics>
</serviceTask>
<boundaryEvent id="b" attachedToRef="work">{cond("=alarm")}</boundaryEvent>
<task id="handled"/>
<endEvent id="e"/>
<endEvent id="eb"/>
@ s -> work -> e
@ b -> handled -> eb
"""


def test_a_multi_instance_activity_is_interrupted_before_its_instances_start(
        run: RunFn) -> None:
    h = run(MULTI, variables={"alarm": True})
    assert h.events("JOB_CREATED") == []
    assert h.activated() == ["p", "s", "work", "b", "handled", "eb"]
    assert h.status(h.iid) == "COMPLETED"
