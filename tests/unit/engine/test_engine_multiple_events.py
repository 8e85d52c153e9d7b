"""Multiple and parallel multiple events (BPMN 2.0.2 10.5.6, 13.5): a catch with several
event definitions fires on the first of them (`parallelMultiple="false"`) or once all have
happened (`parallelMultiple="true"`); a throw with several throws all of them."""

from __future__ import annotations

import pytest
from conftest import RunFn, document

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.problems import DiagramError

SIGNALS = """
<signal id="s1" name="one"/>
<signal id="s2" name="two"/>
<message id="m1" name="order"/>
"""


def catch(parallel: str) -> str:
    return SIGNALS + f"""
<startEvent id="s"/>
<intermediateCatchEvent id="both" parallelMultiple="{parallel}">
  <signalEventDefinition signalRef="s1"/>
  <messageEventDefinition messageRef="m1"/>
</intermediateCatchEvent>
<task id="after"/>
<endEvent id="e"/>
@ s -> both -> after -> e
"""


@pytest.mark.parametrize("first", ["signal", "message"])
def test_a_multiple_catch_fires_on_the_first_of_its_triggers(run: RunFn, first: str) -> None:
    h = run(catch("false"))
    if first == "signal":
        h.broadcast("one")
    else:
        h.publish("order", variables={"n": 1})
    assert h.activated() == ["p", "s", "both", "after", "e"]
    assert h.status(h.iid) == "COMPLETED"
    inst = h.runner.engine.state.instances.get(h.iid)
    # the other trigger's wait closed with the catch
    assert inst is None or (not inst.signal_subs and not inst.message_subs)


def test_a_parallel_multiple_catch_waits_for_all_of_its_triggers(run: RunFn) -> None:
    h = run(catch("true"))
    h.broadcast("one")
    assert "after" not in h.activated()
    h.broadcast("one")  # the same trigger again does not count twice
    assert "after" not in h.activated()
    h.publish("order", variables={"n": 7})
    assert h.activated() == ["p", "s", "both", "after", "e"]
    assert h.variables(h.iid) == {"n": 7}
    assert h.status(h.iid) == "COMPLETED"


def test_a_parallel_multiple_catch_keeps_the_variables_of_earlier_triggers(run: RunFn) -> None:
    h = run(catch("true"))
    h.publish("order", variables={"first": 1})
    h.broadcast("one", {"second": 2})
    assert h.status(h.iid) == "COMPLETED"
    assert h.variables(h.iid)["first"] == 1


def test_a_multiple_catch_with_a_timer_and_a_message(run: RunFn) -> None:
    h = run(SIGNALS + """
    <startEvent id="s"/>
    <intermediateCatchEvent id="either">
      <messageEventDefinition messageRef="m1"/>
      <timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition>
    </intermediateCatchEvent>
    <endEvent id="e"/>
    @ s -> either -> e
    """)
    h.fire_timer("either")
    assert h.status(h.iid) == "COMPLETED"


def test_a_multiple_throw_throws_every_definition(run: RunFn) -> None:
    h = run(SIGNALS + """
    <startEvent id="s"/>
    <parallelGateway id="fork"/>
    <intermediateCatchEvent id="c1"><signalEventDefinition signalRef="s1"/>
    </intermediateCatchEvent>
    <intermediateCatchEvent id="c2"><signalEventDefinition signalRef="s2"/>
    </intermediateCatchEvent>
    <intermediateThrowEvent id="both">
      <signalEventDefinition signalRef="s1"/>
      <signalEventDefinition signalRef="s2"/>
    </intermediateThrowEvent>
    <task id="t1"/><task id="t2"/>
    <endEvent id="e1"/><endEvent id="e2"/><endEvent id="e3"/>
    @ s -> fork -> c1 -> t1 -> e1
    @ fork -> c2 -> t2 -> e2
    @ fork -> both -> e3
    """)
    order = h.activated()
    assert order.index("both") < order.index("t1")
    assert order.index("both") < order.index("t2")
    assert h.status(h.iid) == "COMPLETED"


def test_a_multiple_end_event_throws_a_signal_and_a_message(run: RunFn) -> None:
    h = run(SIGNALS + """
    <startEvent id="s"/>
    <endEvent id="end">
      <signalEventDefinition signalRef="s1"/>
      <messageEventDefinition messageRef="m1"/>
    </endEvent>
    @ s -> end
    """, also=("""
    <message id="m1" name="order"/>
    <process id="listener" isExecutable="true">
      <startEvent id="ls"><messageEventDefinition messageRef="m1"/></startEvent>
      <endEvent id="le"/>
      @ ls -> le
    </process>
    """,))
    broadcasts = [r for r in h.records if r.intent == "SIGNAL_BROADCAST"]
    assert [r.value["name"] for r in broadcasts] == ["one"]
    started = [i for i in h.instance_ids() if i != h.iid]
    assert len(started) == 1
    assert h.status(started[0]) == "COMPLETED"


def test_a_multiple_boundary_event_interrupts_on_either_trigger(run: RunFn) -> None:
    h = run(SIGNALS + """
    <startEvent id="s"/>
    <userTask id="work"/>
    <boundaryEvent id="b" attachedToRef="work">
      <signalEventDefinition signalRef="s1"/>
      <signalEventDefinition signalRef="s2"/>
    </boundaryEvent>
    <endEvent id="e"/><endEvent id="eb"/>
    @ s -> work -> e
    @ b -> eb
    """)
    h.broadcast("two")
    assert h.terminated() == ["work"]
    assert h.status(h.iid) == "COMPLETED"


def test_a_multiple_process_start_starts_on_any_of_its_triggers(run: RunFn) -> None:
    h = run(SIGNALS + """
    <startEvent id="s">
      <signalEventDefinition signalRef="s1"/>
      <messageEventDefinition messageRef="m1"/>
    </startEvent>
    <endEvent id="e"/>
    @ s -> e
    """, start=False)
    h.publish("order")
    h.broadcast("one")
    assert len(h.instance_ids()) == 2


@pytest.mark.parametrize(("event", "reason"), [
    ('<intermediateCatchEvent id="bad"><signalEventDefinition signalRef="s1"/>'
     '<errorEventDefinition/></intermediateCatchEvent>', "error trigger"),
    ('<intermediateCatchEvent id="bad" parallelMultiple="true"><signalEventDefinition '
     'signalRef="s1"/><conditionalEventDefinition><condition>=x</condition>'
     '</conditionalEventDefinition></intermediateCatchEvent>', "conditional trigger"),
    ('<intermediateThrowEvent id="bad"><signalEventDefinition signalRef="s1"/>'
     '<terminateEventDefinition/></intermediateThrowEvent>', "terminate event"),
    ('<intermediateCatchEvent id="bad"><timerEventDefinition><timeDuration>PT1M'
     '</timeDuration></timerEventDefinition><timerEventDefinition><timeDuration>PT2M'
     '</timeDuration></timerEventDefinition></intermediateCatchEvent>', "one timer"),
])
def test_combinations_that_cannot_run_are_refused_with_a_reason(event: str, reason: str) -> None:
    xml = document(SIGNALS + f'<startEvent id="s"/>\n{event}\n<endEvent id="e"/>\n'
                   "@ s -> bad -> e")
    with pytest.raises(DiagramError) as caught:
        DefinitionRepository().deploy(parse(xml.encode(), "m.bpmn"))
    [problem] = caught.value.problems
    assert problem.element_id == "bad"
    assert reason in problem.message


def test_a_non_interrupting_parallel_multiple_boundary_is_refused() -> None:
    xml = document(SIGNALS + """
    <startEvent id="s"/><userTask id="t"/><endEvent id="e"/>
    <boundaryEvent id="bad" attachedToRef="t" cancelActivity="false" parallelMultiple="true">
      <signalEventDefinition signalRef="s1"/><signalEventDefinition signalRef="s2"/>
    </boundaryEvent>
    @ s -> t -> e
    """)
    with pytest.raises(DiagramError) as caught:
        DefinitionRepository().deploy(parse(xml.encode(), "m.bpmn"))
    assert "non-interrupting parallel multiple" in caught.value.problems[0].message


def test_a_multiple_throw_sends_each_of_its_messages(run: RunFn) -> None:
    listeners = """
    <message id="ma" name="a"/>
    <message id="mb" name="b"/>
    <process id="la" isExecutable="true">
      <startEvent id="sa"><messageEventDefinition messageRef="ma"/></startEvent>
      <endEvent id="ea"/>
      @ sa -> ea
    </process>
    <process id="lb" isExecutable="true">
      <startEvent id="sb"><messageEventDefinition messageRef="mb"/></startEvent>
      <endEvent id="eb"/>
      @ sb -> eb
    </process>
    """
    h = run("""
    <message id="ma" name="a"/>
    <message id="mb" name="b"/>
    <startEvent id="s"/>
    <intermediateThrowEvent id="tell">
      <messageEventDefinition messageRef="ma"/>
      <messageEventDefinition messageRef="mb"/>
    </intermediateThrowEvent>
    <endEvent id="e"/>
    @ s -> tell -> e
    """, also=(listeners,))
    published = [r for r in h.records if r.intent == "MESSAGE_PUBLISHED"]
    assert sorted(r.value["name"] for r in published) == ["a", "b"]
    assert len({r.value["messageId"] for r in published}) == 2
    started = [i for i in h.instance_ids() if i != h.iid]
    assert len(started) == 2
    assert all(h.status(i) == "COMPLETED" for i in started)


def test_a_multiple_end_event_signals_then_terminates_its_scope(run: RunFn) -> None:
    h = run(SIGNALS + """
    <startEvent id="s"/>
    <parallelGateway id="fork"/>
    <userTask id="other"/>
    <endEvent id="e1"/>
    <endEvent id="stop">
      <signalEventDefinition signalRef="s1"/>
      <terminateEventDefinition/>
    </endEvent>
    @ s -> fork -> other -> e1
    @ fork -> stop
    """)
    assert [r.value["name"] for r in h.records if r.intent == "SIGNAL_BROADCAST"] == ["one"]
    assert h.terminated() == ["other"]
    assert h.status(h.iid) == "COMPLETED"


def test_a_multiple_end_event_signals_then_throws_its_error(run: RunFn) -> None:
    h = run(SIGNALS + """
    <error id="err" errorCode="E1"/>
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <endEvent id="fail">
        <signalEventDefinition signalRef="s2"/>
        <errorEventDefinition errorRef="err"/>
      </endEvent>
      @ ss -> fail
    </subProcess>
    <boundaryEvent id="caught" attachedToRef="sub"><errorEventDefinition errorRef="err"/>
    </boundaryEvent>
    <endEvent id="e"/><endEvent id="ec"/>
    @ s -> sub -> e
    @ caught -> ec
    """)
    assert [r.value["name"] for r in h.records if r.intent == "SIGNAL_BROADCAST"] == ["two"]
    assert "ec" in h.activated()
    assert "e" not in h.activated()
    assert h.status(h.iid) == "COMPLETED"
