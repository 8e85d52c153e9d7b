"""Multi-instance `behavior` (BPMN 2.0.2, 10.3.8 and 13.3.7): what the activity throws as
its instances complete. `None` throws the `noneBehaviorEventRef` event after every instance,
`One` the `oneBehaviorEventRef` event after the first only, `All` nothing, and `Complex` the
event of each `complexBehaviorDefinition` whose condition holds after an instance. Each is
an implicit throw event of the activity, caught here by boundary events on it."""

from __future__ import annotations

import pytest
from conftest import RunFn, document

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.problems import DiagramError

SHARED = """
<signalEventDefinition id="tickDef" signalRef="tick"/>
<escalationEventDefinition id="lateDef" escalationRef="late"/>
"""


def diagram(behavior: str, inside: str = "", boundary: str = "", attrs: str = "") -> str:
    doc = document(f"""
    <signal id="tick" name="tick"/>
    <escalation id="late" escalationCode="LATE"/>
    <startEvent id="s"/>
    <serviceTask id="each" laneway:type="w">
      <multiInstanceLoopCharacteristics isSequential="true" behavior="{behavior}" {attrs}>
        <loopCardinality>3</loopCardinality>
        {inside}
      </multiInstanceLoopCharacteristics>
    </serviceTask>
    {boundary or '''
    <boundaryEvent id="heard" attachedToRef="each" cancelActivity="false">
      <signalEventDefinition signalRef="tick"/>
    </boundaryEvent>'''}
    <task id="notice"/>
    <endEvent id="ne"/>
    <task id="after"/>
    <endEvent id="e"/>
    @ s -> each -> after -> e
    @ heard -> notice -> ne
    """)
    return doc.replace('<process id="p"', SHARED + '<process id="p"', 1)


def _drive(h: object, count: int) -> list[str]:
    from conftest import Harness

    assert isinstance(h, Harness)
    for _ in range(count):
        h.complete_job("each")
    return [e for e in h.activated() if e in ("each", "heard", "after")]


def test_none_throws_after_every_instance(run: RunFn) -> None:
    h = run(diagram("None", attrs='noneBehaviorEventRef="tickDef"'))
    trace = _drive(h, 3)
    # the body and its first instance, then each completion throws the signal before the
    # next instance starts
    assert trace == ["each", "each", "heard", "each", "heard", "each", "heard", "after"]
    assert h.status(h.iid) == "COMPLETED"


def test_one_throws_once_after_the_first_instance(run: RunFn) -> None:
    h = run(diagram("One", attrs='oneBehaviorEventRef="tickDef"'))
    assert _drive(h, 3) == ["each", "each", "heard", "each", "each", "after"]


def test_all_throws_nothing(run: RunFn) -> None:
    h = run(diagram("All", attrs='noneBehaviorEventRef="tickDef"'))
    assert _drive(h, 3) == ["each", "each", "each", "each", "after"]
    assert h.events("SIGNAL_BROADCAST") == []


def test_complex_throws_the_event_whose_condition_holds(run: RunFn) -> None:
    h = run(diagram("Complex", inside="""
        <complexBehaviorDefinition>
          <condition>=nrOfCompletedInstances = 2</condition>
          <event><escalationEventDefinition escalationRef="late"/></event>
        </complexBehaviorDefinition>
        <complexBehaviorDefinition>
          <condition>=false</condition>
          <event><signalEventDefinition signalRef="tick"/></event>
        </complexBehaviorDefinition>""", boundary="""
    <boundaryEvent id="heard" attachedToRef="each" cancelActivity="false">
      <escalationEventDefinition escalationRef="late"/>
    </boundaryEvent>"""))
    # only after the second instance, and only the escalation (caught on the activity,
    # which goes on: the boundary does not interrupt)
    assert _drive(h, 3) == ["each", "each", "each", "heard", "each", "after"]
    assert [r.value["code"] for r in h.events("ESCALATION_THROWN")] == ["LATE"]


def test_an_interrupting_catcher_ends_the_remaining_instances(run: RunFn) -> None:
    h = run(diagram("Complex", inside="""
        <complexBehaviorDefinition>
          <condition>=true</condition>
          <event><eventDefinitionRef>tickDef</eventDefinitionRef></event>
        </complexBehaviorDefinition>""", boundary="""
    <boundaryEvent id="heard" attachedToRef="each">
      <signalEventDefinition signalRef="tick"/>
    </boundaryEvent>"""))
    assert _drive(h, 1) == ["each", "each", "heard"]
    assert "after" not in h.activated()
    assert h.status(h.iid) == "COMPLETED"


def test_a_behavior_event_that_cannot_be_thrown_is_refused_at_deploy() -> None:
    doc = diagram("Complex", inside="""
        <complexBehaviorDefinition>
          <condition>=true</condition>
          <event><terminateEventDefinition/></event>
        </complexBehaviorDefinition>""")
    with pytest.raises(DiagramError, match=r"element 'each': multi-instance behavior Complex"):
        DefinitionRepository().deploy(parse(doc.encode(), "mi.bpmn"))
