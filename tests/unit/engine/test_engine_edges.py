"""Edges where elements meet: errors inside multi-instance and nested scopes, which catcher
wins, escalations from called processes, event subprocesses inside subprocesses."""

from __future__ import annotations

from conftest import RunFn

from laneway.records import Command


def test_an_error_from_one_inner_instance_is_caught_on_the_multi_instance_activity(
    run: RunFn,
) -> None:
    h = run("""
    <error id="err" errorCode="BAD"/>
    <startEvent id="s"/>
    <serviceTask id="each" laneway:type="w">
      <multiInstanceLoopCharacteristics>
        <extensionElements><zeebe:loopCharacteristics inputCollection="=items"
          inputElement="item"/></extensionElements>
      </multiInstanceLoopCharacteristics>
    </serviceTask>
    <boundaryEvent id="bad" attachedToRef="each"><errorEventDefinition errorRef="err"/>
    </boundaryEvent>
    <endEvent id="e"/><userTask id="fix"/>
    @ s -> each -> e
    @ bad -> fix
    """, variables={"items": [1, 2, 3]})
    first = h.events("JOB_CREATED")[0]
    h.send(Command.THROW_ERROR, h.iid, {"jobKey": first.value["key"], "errorCode": "BAD"})
    assert len(h.events("JOB_CANCELED")) == 2
    assert h.terminated().count("each") == 4  # three inner instances and the body
    assert h.activated()[-2:] == ["bad", "fix"]


def test_an_exact_error_code_wins_over_a_catch_all_boundary(run: RunFn) -> None:
    h = run("""
    <error id="err" errorCode="SPECIFIC"/>
    <startEvent id="s"/>
    <serviceTask id="t" laneway:type="w"/>
    <boundaryEvent id="any" attachedToRef="t"><errorEventDefinition/></boundaryEvent>
    <boundaryEvent id="exact" attachedToRef="t"><errorEventDefinition errorRef="err"/>
    </boundaryEvent>
    <endEvent id="e"/><endEvent id="e1"/><endEvent id="e2"/>
    @ s -> t -> e
    @ any -> e1
    @ exact -> e2
    """)
    h.throw_error("t", "SPECIFIC")
    assert "exact" in h.activated()
    assert "any" not in h.activated()


def test_the_event_subprocess_inside_a_subprocess_catches_before_its_boundary(
    run: RunFn,
) -> None:
    h = run("""
    <error id="err" errorCode="E"/>
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <serviceTask id="t" laneway:type="w"/>
      <endEvent id="se"/>
      @ ss -> t -> se
      <subProcess id="inner" triggeredByEvent="true">
        <startEvent id="is"><errorEventDefinition errorRef="err"/></startEvent>
        <endEvent id="ie"/>
        @ is -> ie
      </subProcess>
    </subProcess>
    <boundaryEvent id="outer" attachedToRef="sub"><errorEventDefinition errorRef="err"/>
    </boundaryEvent>
    <userTask id="after"/><endEvent id="oe"/>
    @ s -> sub -> after
    @ outer -> oe
    """)
    h.throw_error("t", "E")
    assert "outer" not in h.activated()
    # the subprocess ended normally after its event subprocess
    assert h.completed()[-3:] == ["ie", "inner", "sub"]
    assert h.activated()[-1] == "after"


def test_an_escalation_from_a_called_process_reaches_a_boundary_on_the_call_activity(
    run: RunFn,
) -> None:
    child = """
    <escalation id="esc" escalationCode="ASK"/>
    <process id="child" isExecutable="true">
      <startEvent id="cs"/>
      <intermediateThrowEvent id="ask"><escalationEventDefinition escalationRef="esc"/>
      </intermediateThrowEvent>
      <userTask id="cwait"/>
      @ cs -> ask -> cwait
    </process>
    """
    h = run("""
    <escalation id="esc" escalationCode="ASK"/>
    <startEvent id="s"/>
    <callActivity id="call" calledElement="child"/>
    <boundaryEvent id="asked" attachedToRef="call" cancelActivity="false">
      <escalationEventDefinition escalationRef="esc"/></boundaryEvent>
    <userTask id="answer"/><endEvent id="e"/>
    @ s -> call -> e
    @ asked -> answer
    """, also=(child,))
    [_, child_id] = h.instance_ids()
    assert "answer" in h.activated(h.iid)
    assert h.activated(child_id)[-1] == "cwait"
    h.complete_task("cwait")
    assert h.status(child_id) == "COMPLETED"
    assert "call" in h.completed(h.iid)


def test_a_call_activity_to_a_process_that_is_not_deployed_raises_an_incident(
    run: RunFn,
) -> None:
    h = run("""
    <startEvent id="s"/><callActivity id="call" calledElement="missing"/><endEvent id="e"/>
    @ s -> call -> e
    """)
    incident = h.last("INCIDENT_CREATED", "call")
    assert incident.value["errorType"] == "CALLED_ELEMENT_ERROR"
    assert "'missing'" in incident.value["message"]


def test_call_activity_output_mapping_without_propagation_keeps_only_mapped_values(
    run: RunFn,
) -> None:
    child = """
    <process id="child" isExecutable="true">
      <startEvent id="cs"/><serviceTask id="cw" laneway:type="w"/><endEvent id="ce"/>
      @ cs -> cw -> ce
    </process>
    """
    h = run("""
    <startEvent id="s"/>
    <callActivity id="call">
      <extensionElements>
        <zeebe:calledElement processId="child" propagateAllChildVariables="false"/>
        <zeebe:ioMapping>
          <zeebe:input source="=orderId" target="id"/>
          <zeebe:output source="=total" target="orderTotal"/>
        </zeebe:ioMapping>
      </extensionElements>
    </callActivity>
    <endEvent id="e"/>
    @ s -> call -> e
    """, variables={"orderId": 5, "secret": "x"}, also=(child,))
    # the child sees only its inputs
    assert h.job("cw").value["variables"] == {"id": 5}
    h.complete_job("cw", {"total": 99, "noise": 1})
    assert h.variables(h.iid) == {"orderId": 5, "secret": "x", "orderTotal": 99}


def test_inclusive_gateway_takes_the_default_flow_when_no_condition_holds(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <inclusiveGateway id="split" default="split_c"/>
    <endEvent id="a"/><endEvent id="b"/><endEvent id="c"/>
    @ s -> split
    @ split -> a : =x = 1
    @ split -> b : =x = 2
    @ split -> c
    """, variables={"x": 0})
    assert [f for f in h.taken() if f.startswith("split_")] == ["split_c"]


def test_a_process_waits_for_a_running_non_interrupting_event_subprocess(run: RunFn) -> None:
    h = run("""
    <signal id="sg" name="extra"/>
    <startEvent id="s"/><userTask id="main"/><endEvent id="e"/>
    @ s -> main -> e
    <subProcess id="side" triggeredByEvent="true">
      <startEvent id="ss" isInterrupting="false"><signalEventDefinition signalRef="sg"/>
      </startEvent>
      <userTask id="sideTask"/>
      @ ss -> sideTask
    </subProcess>
    """)
    h.broadcast("extra")
    h.complete_task("main")
    assert h.status(h.iid) == "WAITING"
    h.complete_task("sideTask")
    assert h.status(h.iid) == "COMPLETED"


def test_a_timer_cycle_event_subprocess_fires_each_repetition(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/><userTask id="main"/><endEvent id="e"/>
    @ s -> main -> e
    <subProcess id="nag" triggeredByEvent="true">
      <startEvent id="ns" isInterrupting="false">
        <timerEventDefinition><timeCycle>R2/PT10M</timeCycle></timerEventDefinition>
      </startEvent>
      <endEvent id="ne"/>
      @ ns -> ne
    </subProcess>
    """)
    h.fire_timer("ns")
    h.fire_timer("ns")
    assert h.completed().count("nag") == 2
    assert len(h.events("TIMER_CREATED")) == 2
    h.complete_task("main")
    assert h.status(h.iid) == "COMPLETED"


def test_user_task_input_mapping_is_offered_with_the_task(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <userTask id="t">
      <extensionElements><zeebe:ioMapping><zeebe:input source="=amount * 2" target="double"/>
      </zeebe:ioMapping></extensionElements>
    </userTask>
    <endEvent id="e"/>
    @ s -> t -> e
    """, variables={"amount": 2})
    assert h.last("USER_TASK_CREATED", "t").value["variables"] == {"double": 4}
    h.complete_task("t", {"done": True})
    assert h.variables(h.iid) == {"amount": 2, "done": True}


def test_event_based_gateway_to_a_receive_task_and_a_signal(run: RunFn) -> None:
    h = run("""
    <message id="m" name="reply"/>
    <signal id="sg" name="abort"/>
    <startEvent id="s"/>
    <eventBasedGateway id="race"/>
    <receiveTask id="hear" messageRef="m"/>
    <intermediateCatchEvent id="stop"><signalEventDefinition signalRef="sg"/>
    </intermediateCatchEvent>
    <endEvent id="e1"/><endEvent id="e2"/>
    @ s -> race
    @ race -> hear -> e1
    @ race -> stop -> e2
    """)
    h.broadcast("abort")
    assert h.completed()[-3:] == ["stop", "e2", "p"]
    assert h.events("MESSAGE_SUBSCRIPTION_DELETED", "race")


def test_an_error_nobody_in_the_hierarchy_catches_raises_the_incident_where_it_was_thrown(
    run: RunFn,
) -> None:
    child = """
    <process id="child" isExecutable="true">
      <startEvent id="cs"/><serviceTask id="cw" laneway:type="w"/><endEvent id="ce"/>
      @ cs -> cw -> ce
    </process>
    """
    h = run("""
    <startEvent id="s"/><callActivity id="call" calledElement="child"/><endEvent id="e"/>
    @ s -> call -> e
    """, also=(child,))
    h.throw_error("cw", "X")
    thrown = h.last("ERROR_THROWN", "cw")
    assert thrown.value["toParent"] is True
    child_iid = thrown.instance_id
    # as in Zeebe: the incident is in the child, at the task whose worker threw
    incident = h.last("INCIDENT_CREATED", "cw", child_iid)
    assert incident.value["errorType"] == "UNHANDLED_ERROR_EVENT"
    assert h.events("INCIDENT_CREATED", "call") == []
    assert h.status(child_iid) == "INCIDENT"
    # the parent's run is stuck on its child's incident, not on one of its own
    assert any(text.startswith("cw: ") for text in h.outcome(h.iid).incidents)
    # resolving it retries the job; the child and then the parent complete
    h.send(Command.RESOLVE_INCIDENT, child_iid, {"incidentKey": incident.value["key"]})
    h.complete_job("cw", iid=child_iid)
    assert h.status(child_iid) == "COMPLETED"
    assert h.status(h.iid) == "COMPLETED"


def test_interrupting_timer_on_a_multi_instance_activity_ends_every_instance(
    run: RunFn,
) -> None:
    h = run("""
    <startEvent id="s"/>
    <userTask id="each">
      <multiInstanceLoopCharacteristics><loopCardinality>3</loopCardinality>
      </multiInstanceLoopCharacteristics>
    </userTask>
    <boundaryEvent id="late" attachedToRef="each">
      <timerEventDefinition><timeDuration>PT1M</timeDuration></timerEventDefinition>
    </boundaryEvent>
    <endEvent id="e"/><endEvent id="e2"/>
    @ s -> each -> e
    @ late -> e2
    """)
    h.fire_timer("late")
    assert h.terminated() == ["each"] * 4
    assert len(h.events("USER_TASK_CANCELED")) == 3
    assert h.completed()[-2:] == ["e2", "p"]


def test_non_interrupting_signal_boundary_fires_on_every_broadcast(run: RunFn) -> None:
    h = run("""
    <signal id="sg" name="ping"/>
    <startEvent id="s"/><userTask id="t"/>
    <boundaryEvent id="b" attachedToRef="t" cancelActivity="false">
      <signalEventDefinition signalRef="sg"/></boundaryEvent>
    <endEvent id="e"/><endEvent id="e2"/>
    @ s -> t -> e
    @ b -> e2
    """)
    h.broadcast("ping")
    h.broadcast("ping")
    assert h.activated().count("b") == 2
    h.complete_task("t")
    assert h.events("SIGNAL_SUBSCRIPTION_DELETED", "t")
    assert h.status(h.iid) == "COMPLETED"


def test_a_link_inside_a_subprocess_lands_in_that_subprocess(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <intermediateThrowEvent id="jump"><linkEventDefinition name="L"/>
      </intermediateThrowEvent>
      <intermediateCatchEvent id="land"><linkEventDefinition name="L"/>
      </intermediateCatchEvent>
      <endEvent id="se"/>
      @ ss -> jump
      @ land -> se
    </subProcess>
    <endEvent id="e"/>
    @ s -> sub -> e
    """)
    assert h.activated() == ["p", "s", "sub", "ss", "jump", "land", "se", "e"]
    assert h.status(h.iid) == "COMPLETED"


def test_a_test_before_loop_whose_condition_fails_at_once_skips_the_activity(
    run: RunFn,
) -> None:
    h = run("""
    <startEvent id="s"/>
    <task id="t"><standardLoopCharacteristics testBefore="true">
      <loopCondition>=n &lt; 2</loopCondition></standardLoopCharacteristics></task>
    <endEvent id="e"/>
    @ s -> t -> e
    """, variables={"n": 5})
    assert h.activated() == ["p", "s", "e"]
    assert h.status(h.iid) == "COMPLETED"


def test_an_interrupting_event_subprocess_starts_only_once(run: RunFn) -> None:
    h = run("""
    <message id="m" name="stop"/>
    <startEvent id="s"/><userTask id="t"/><endEvent id="e"/>
    @ s -> t -> e
    <subProcess id="esp" triggeredByEvent="true">
      <startEvent id="es"><messageEventDefinition messageRef="m"/></startEvent>
      <userTask id="et"/>
      @ es -> et
    </subProcess>
    """)
    h.publish("stop")
    h.publish("stop")
    assert h.activated().count("esp") == 1
    h.complete_task("et")
    assert h.status(h.iid) == "COMPLETED"
