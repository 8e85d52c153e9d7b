"""Start and end events: what starts an instance, and what each kind of end does."""

from __future__ import annotations

from conftest import RunFn

from laneway.records import Command

LINEAR = """
<startEvent id="s"/>
<endEvent id="e"/>
@ s -> e
"""


def test_none_start_and_end_complete_the_instance(run: RunFn) -> None:
    # given a process start -> end, when it starts
    h = run(LINEAR, variables={"a": 1})
    # then it runs straight through and ends COMPLETED with its variables
    assert h.trail("ELEMENT_ACTIVATED", "ELEMENT_COMPLETED", "SEQUENCE_FLOW_TAKEN") == [
        ("ELEMENT_ACTIVATED", "p"), ("ELEMENT_ACTIVATED", "s"), ("ELEMENT_COMPLETED", "s"),
        ("SEQUENCE_FLOW_TAKEN", "s_e"), ("ELEMENT_ACTIVATED", "e"), ("ELEMENT_COMPLETED", "e"),
        ("ELEMENT_COMPLETED", "p")]
    assert h.status(h.iid) == "COMPLETED"
    assert h.variables(h.iid) == {"a": 1}


def test_message_start_event_starts_the_process_when_the_message_is_published(run: RunFn) -> None:
    # given a process that starts on message 'order'
    h = run("""
    <message id="m" name="order"/>
    <startEvent id="s"><messageEventDefinition messageRef="m"/></startEvent>
    <userTask id="t"/>
    @ s -> t
    """, start=False)
    # when the message is published
    h.publish("order", variables={"orderId": 7})
    # then one instance started at the message start event, with the message's variables
    [iid] = h.instance_ids()
    assert h.activated(iid) == ["p", "s", "t"]
    assert h.last("MESSAGE_CORRELATED", "").value["startEventId"] == "s"
    assert h.variables(iid) == {"orderId": 7}


def test_timer_start_event_starts_the_process_when_named(run: RunFn) -> None:
    # given a process that starts on a timer
    xml = """
    <startEvent id="tick"><timerEventDefinition><timeCycle>R/PT1H</timeCycle>
    </timerEventDefinition></startEvent>
    <endEvent id="e"/>
    @ tick -> e
    """
    h = run(xml, start=False)
    # when the trigger starts it with its start event id
    iid = h.start("p", start_event_id="tick")
    # then it runs from that start event
    assert h.activated(iid) == ["p", "tick", "e"]
    assert h.status(iid) == "COMPLETED"


def test_start_without_event_id_is_rejected_when_there_is_no_none_start(run: RunFn) -> None:
    h = run("""
    <startEvent id="tick"><timerEventDefinition><timeCycle>R/PT1H</timeCycle>
    </timerEventDefinition></startEvent>
    <endEvent id="e"/>
    @ tick -> e
    """, start=False)
    recs = h.send(Command.START_INSTANCE, "i-1", {"processId": "p"})
    [rejection] = recs
    assert rejection.kind.value == "REJECTION"
    assert "none start event" in rejection.value["reason"]
    assert h.instance_ids() == []


def test_signal_start_event_starts_the_process_when_the_signal_is_broadcast(run: RunFn) -> None:
    h = run("""
    <signal id="sg" name="go"/>
    <startEvent id="s"><signalEventDefinition signalRef="sg"/></startEvent>
    <endEvent id="e"/>
    @ s -> e
    """, start=False)
    # when the signal is broadcast
    h.broadcast("go", {"v": 2})
    # then an instance ran from the signal start event with the signal's variables
    [iid] = h.instance_ids()
    assert h.activated(iid) == ["p", "s", "e"]
    assert h.variables(iid) == {"v": 2}


TERMINATE = """
<startEvent id="s"/>
<parallelGateway id="fork"/>
<userTask id="wait"/>
<serviceTask id="work" laneway:type="w"/>
<endEvent id="e1"/>
<endEvent id="kill"><terminateEventDefinition/></endEvent>
@ s -> fork -> wait -> e1
@ fork -> kill
@ fork -> work
"""


def test_terminate_end_kills_parallel_branches_and_completes_the_process(run: RunFn) -> None:
    # given parallel branches: one waits at a user task, one reaches a terminate end, and a
    # third is still on its way when the terminate end is reached
    h = run(TERMINATE)
    # then the waiting branch was terminated with its task, the token on its way never
    # arrived, and the process completed (as in Zeebe, a terminate end completes its scope)
    assert h.terminated() == ["wait"]
    assert h.events("USER_TASK_CANCELED", "wait")
    assert "work" not in h.activated()
    assert h.events("JOB_CREATED") == []
    assert h.completed()[-2:] == ["kill", "p"]
    assert h.status(h.iid) == "COMPLETED"


def test_terminate_end_in_a_subprocess_ends_only_the_subprocess(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <parallelGateway id="fork"/>
      <userTask id="wait"/>
      <endEvent id="kill"><terminateEventDefinition/></endEvent>
      @ ss -> fork -> wait
      @ fork -> kill
    </subProcess>
    <userTask id="after"/>
    @ s -> sub -> after
    """)
    assert h.terminated() == ["wait"]
    assert "sub" in h.completed()
    assert h.activated()[-1] == "after"
    assert h.status(h.iid) == "WAITING"


ERROR_END_IN_SUB = """
<error id="err" errorCode="E42"/>
<startEvent id="s"/>
<subProcess id="sub">
  <startEvent id="ss"/>
  <parallelGateway id="fork"/>
  <userTask id="wait"/>
  <endEvent id="fail"><errorEventDefinition errorRef="err"/></endEvent>
  @ ss -> fork -> wait
  @ fork -> fail
</subProcess>
<boundaryEvent id="caught" attachedToRef="sub">
  <errorEventDefinition errorRef="err"/></boundaryEvent>
<endEvent id="ok"/>
<endEvent id="handled"/>
@ s -> sub -> ok
@ caught -> handled
"""


def test_error_end_event_is_caught_by_a_boundary_event_on_the_enclosing_subprocess(
    run: RunFn,
) -> None:
    h = run(ERROR_END_IN_SUB)
    thrown = h.last("ERROR_THROWN", "fail")
    assert thrown.value["code"] == "E42"
    assert thrown.value["caught"] is True
    # the subprocess and what ran in it are terminated, the boundary path runs
    assert {"sub", "wait"} <= set(h.terminated())
    assert h.completed()[-3:] == ["caught", "handled", "p"]
    assert "ok" not in h.activated()
    assert h.status(h.iid) == "COMPLETED"


def test_error_end_event_is_caught_by_an_error_event_subprocess(run: RunFn) -> None:
    h = run("""
    <error id="err" errorCode="E1"/>
    <startEvent id="s"/>
    <parallelGateway id="fork"/>
    <userTask id="wait"/>
    <endEvent id="fail"><errorEventDefinition errorRef="err"/></endEvent>
    @ s -> fork -> wait
    @ fork -> fail
    <subProcess id="onError" triggeredByEvent="true">
      <startEvent id="es"><errorEventDefinition errorRef="err"/></startEvent>
      <endEvent id="ee"/>
      @ es -> ee
    </subProcess>
    """)
    assert "wait" in h.terminated()
    assert h.activated()[-3:] == ["onError", "es", "ee"]
    assert h.status(h.iid) == "COMPLETED"


def test_uncaught_error_end_event_raises_an_incident(run: RunFn) -> None:
    h = run("""
    <error id="err" errorCode="E9"/>
    <startEvent id="s"/>
    <endEvent id="fail"><errorEventDefinition errorRef="err"/></endEvent>
    @ s -> fail
    """)
    incident = h.last("INCIDENT_CREATED", "fail")
    assert incident.value["errorType"] == "UNHANDLED_ERROR_EVENT"
    assert "E9" in incident.value["message"]
    assert h.status(h.iid) == "INCIDENT"


ESCALATION_IN_SUB = """
<escalation id="esc" escalationCode="UP"/>
<startEvent id="s"/>
<subProcess id="sub">
  <startEvent id="ss"/>
  <parallelGateway id="fork"/>
  <userTask id="wait"/>
  <endEvent id="raise"><escalationEventDefinition escalationRef="esc"/></endEvent>
  @ ss -> fork -> wait
  @ fork -> raise
</subProcess>
<boundaryEvent id="caught" attachedToRef="sub" cancelActivity="{cancel}">
  <escalationEventDefinition escalationRef="esc"/></boundaryEvent>
<userTask id="handled"/>
<endEvent id="done"/>
@ s -> sub -> done
@ caught -> handled
"""


def test_escalation_end_caught_by_interrupting_boundary_ends_the_subprocess(run: RunFn) -> None:
    h = run(ESCALATION_IN_SUB.format(cancel="true"))
    assert h.last("ESCALATION_THROWN", "raise").value["caught"] is True
    assert {"sub", "wait"} <= set(h.terminated())
    assert h.activated()[-2:] == ["caught", "handled"]


def test_escalation_end_caught_by_non_interrupting_boundary_lets_the_subprocess_go_on(
    run: RunFn,
) -> None:
    h = run(ESCALATION_IN_SUB.format(cancel="false"))
    # the boundary path runs while the subprocess keeps waiting at 'wait'
    assert h.terminated() == []
    assert "handled" in h.activated()
    # when the subprocess finishes, the process continues normally
    h.complete_task("wait")
    h.complete_task("handled")
    assert "sub" in h.completed()
    assert h.status(h.iid) == "COMPLETED"


def test_uncaught_escalation_end_lets_the_instance_continue(run: RunFn) -> None:
    h = run("""
    <escalation id="esc" escalationCode="UP"/>
    <startEvent id="s"/>
    <endEvent id="raise"><escalationEventDefinition escalationRef="esc"/></endEvent>
    @ s -> raise
    """)
    assert h.last("ESCALATION_THROWN", "raise").value["caught"] is False
    assert h.events("INCIDENT_CREATED") == []
    assert h.status(h.iid) == "COMPLETED"


MESSAGE_SENDER = """
<message id="m" name="ping">
  <extensionElements><zeebe:subscription correlationKey="=orderId"/></extensionElements>
</message>
<process id="sender" isExecutable="true">
  <startEvent id="s"/>
  <endEvent id="tell"><messageEventDefinition messageRef="m"/></endEvent>
  @ s -> tell
</process>
"""
MESSAGE_RECEIVER = """
<message id="m" name="ping">
  <extensionElements><zeebe:subscription correlationKey="=orderId"/></extensionElements>
</message>
<process id="receiver" isExecutable="true">
  <startEvent id="s"/>
  <receiveTask id="hear" messageRef="m"/>
  <endEvent id="e"/>
  @ s -> hear -> e
</process>
"""


def test_message_end_event_publishes_a_message_another_instance_receives(run: RunFn) -> None:
    h = run(MESSAGE_RECEIVER, process="receiver", variables={"orderId": "o-1"},
            also=(MESSAGE_SENDER,))
    receiver = h.iid
    # when the sender ends with its message end event
    sender = h.start("sender", {"orderId": "o-1", "note": "hi"})
    # then the receiver's receive task got it, with the sender's variables
    assert h.status(sender) == "COMPLETED"
    assert h.status(receiver) == "COMPLETED"
    assert h.variables(receiver)["note"] == "hi"
    assert h.last("MESSAGE_SUBSCRIPTION_CORRELATED", "hear").value["name"] == "ping"


def test_signal_end_event_reaches_a_waiting_signal_catch(run: RunFn) -> None:
    catcher = """
    <signal id="sg" name="ready"/>
    <process id="catcher" isExecutable="true">
      <startEvent id="s"/>
      <intermediateCatchEvent id="wait">
        <signalEventDefinition signalRef="sg"/></intermediateCatchEvent>
      <endEvent id="e"/>
      @ s -> wait -> e
    </process>
    """
    thrower = """
    <signal id="sg" name="ready"/>
    <process id="thrower" isExecutable="true">
      <startEvent id="s"/>
      <endEvent id="shout"><signalEventDefinition signalRef="sg"/></endEvent>
      @ s -> shout
    </process>
    """
    h = run(catcher, process="catcher", also=(thrower,))
    assert h.status(h.iid) == "WAITING"
    other = h.start("thrower")
    assert h.status(other) == "COMPLETED"
    assert h.last("SIGNAL_BROADCAST", "").value["name"] == "ready"
    assert h.status(h.iid) == "COMPLETED"
