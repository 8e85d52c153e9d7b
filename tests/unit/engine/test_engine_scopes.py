"""Scopes: embedded subprocesses and their variables, call activities, boundary events and
event subprocesses."""

from __future__ import annotations

from conftest import RunFn

MINUTE = 60_000

SUBPROCESS = """
<startEvent id="s"/>
<subProcess id="sub">
  <extensionElements><zeebe:ioMapping>
    <zeebe:input source="=amount * 2" target="doubled"/>
  </zeebe:ioMapping></extensionElements>
  <startEvent id="ss"/>
  <serviceTask id="work" laneway:type="w"/>
  <endEvent id="se"/>
  @ ss -> work -> se
</subProcess>
<userTask id="after"/>
@ s -> sub -> after
"""


def test_subprocess_input_mapping_is_local_and_does_not_leak(run: RunFn) -> None:
    h = run(SUBPROCESS, variables={"amount": 4})
    # the job inside sees the local variable
    assert h.job("work").value["variables"] == {"amount": 4, "doubled": 8}
    h.complete_job("work")
    # after the subprocess it is gone
    assert h.variables(h.iid) == {"amount": 4}
    assert h.activated()[-1] == "after"


def test_job_results_go_to_the_root_unless_a_nearer_scope_has_them(run: RunFn) -> None:
    h = run(SUBPROCESS, variables={"amount": 4})
    recs = h.complete_job("work", {"doubled": 100, "paid": True})
    updates = [(r.element_id, dict(r.value["variables"])) for r in recs
               if r.intent == "VARIABLES_UPDATED"]
    assert sorted(updates) == [("p", {"paid": True}), ("sub", {"doubled": 100})]
    assert h.variables(h.iid) == {"amount": 4, "paid": True}


CHILD = """
<error id="err" errorCode="CHILD_FAILED"/>
<process id="child" isExecutable="true">
  <startEvent id="cs"/>
  <serviceTask id="cwork" laneway:type="child-work"/>
  <exclusiveGateway id="cgw" default="cgw_ce"/>
  <endEvent id="ce"/>
  <endEvent id="cfail"><errorEventDefinition errorRef="err"/></endEvent>
  @ cs -> cwork -> cgw -> ce
  @ cgw -> cfail : =failed
</process>
"""
PARENT = """
<error id="err" errorCode="CHILD_FAILED"/>
<process id="parent" isExecutable="true">
  <startEvent id="s"/>
  <callActivity id="call">
    <extensionElements><zeebe:calledElement processId="child"/></extensionElements>
  </callActivity>
  <boundaryEvent id="childFailed" attachedToRef="call">
    <errorEventDefinition errorRef="err"/></boundaryEvent>
  <userTask id="after"/>
  <userTask id="recover"/>
  @ s -> call -> after
  @ childFailed -> recover
</process>
"""


def _child(h: object) -> str:
    from conftest import Harness

    assert isinstance(h, Harness)
    [_, child] = h.instance_ids()
    return child


def test_call_activity_starts_the_child_and_resumes_with_its_variables(run: RunFn) -> None:
    h = run(PARENT, process="parent", variables={"orderId": 3}, also=(CHILD,))
    child = _child(h)
    start = next(r for r in h.records if r.intent == "ELEMENT_ACTIVATED"
                 and r.instance_id == child)
    assert start.value["parent"]["instanceId"] == h.iid
    assert h.job("cwork").value["variables"] == {"orderId": 3}
    assert h.status(h.iid) == "WAITING"
    h.complete_job("cwork", {"shipped": True})
    assert h.status(child) == "COMPLETED"
    assert h.variables(h.iid) == {"orderId": 3, "shipped": True}
    assert h.activated(h.iid)[-1] == "after"


def test_an_error_in_the_child_is_caught_on_the_call_activity(run: RunFn) -> None:
    h = run(PARENT, process="parent", also=(CHILD,))
    child = _child(h)
    h.complete_job("cwork", {"failed": True})
    assert h.last("ERROR_THROWN", "cfail").value["toParent"] is True
    assert "call" in h.terminated(h.iid)
    assert h.activated(h.iid)[-2:] == ["childFailed", "recover"]
    # as in Zeebe, terminating the call activity terminates the child that threw
    assert h.status(child) == "TERMINATED"
    assert h.events("INCIDENT_CREATED") == []


def test_cancelling_the_parent_cancels_the_child(run: RunFn) -> None:
    h = run(PARENT, process="parent", also=(CHILD,))
    child = _child(h)
    h.cancel(h.iid)
    assert h.status(h.iid) == "TERMINATED"
    assert h.status(child) == "TERMINATED"
    assert h.events("JOB_CANCELED", "cwork")


TIMER_BOUNDARY = """
<startEvent id="s"/>
<serviceTask id="work" laneway:type="w"/>
<boundaryEvent id="tooLong" attachedToRef="work" cancelActivity="{cancel}">
  <timerEventDefinition>{timer}</timerEventDefinition></boundaryEvent>
<endEvent id="done"/>
<serviceTask id="remind" laneway:type="remind"/>
@ s -> work -> done
@ tooLong -> remind
"""


def test_interrupting_timer_boundary_terminates_the_task_and_cancels_its_job(
    run: RunFn,
) -> None:
    h = run(TIMER_BOUNDARY.format(cancel="true", timer="<timeDuration>PT5M</timeDuration>"))
    timer = h.timer("tooLong")
    assert timer.value["due"] == h.clock + 5 * MINUTE
    h.fire_timer("tooLong")
    assert h.trail("TIMER_TRIGGERED", "JOB_CANCELED", "ELEMENT_TERMINATED")[-3:] == [
        ("TIMER_TRIGGERED", "work"), ("JOB_CANCELED", "work"), ("ELEMENT_TERMINATED", "work")]
    assert h.activated()[-1] == "remind"
    # the worker's late answer is refused
    [rejection] = h.complete_job("work")
    assert rejection.kind.value == "REJECTION"


def test_non_interrupting_timer_cycle_fires_each_repetition_while_the_task_waits(
    run: RunFn,
) -> None:
    h = run(TIMER_BOUNDARY.format(cancel="false", timer="<timeCycle>R3/PT1M</timeCycle>"))
    start = h.clock
    dues = []
    for _ in range(3):
        dues.append(h.timer("tooLong").value["due"])
        h.fire_timer("tooLong")
    assert dues == [start + MINUTE, start + 2 * MINUTE, start + 3 * MINUTE]
    assert len(h.events("TIMER_TRIGGERED")) == 3
    assert len(h.events("TIMER_CREATED")) == 3
    assert h.activated().count("remind") == 3
    assert h.terminated() == []
    # the task still waits and completes normally
    h.complete_job("work")
    assert "work" in h.completed()


MESSAGE_BOUNDARY = """
<message id="m" name="cancel-order">
  <extensionElements><zeebe:subscription correlationKey="=orderId"/></extensionElements>
</message>
<startEvent id="s"/>
<userTask id="pack"/>
<boundaryEvent id="cancelled" attachedToRef="pack" cancelActivity="{cancel}">
  <messageEventDefinition messageRef="m"/></boundaryEvent>
<endEvent id="shipped"/>
<serviceTask id="notify" laneway:type="notify"/>
@ s -> pack -> shipped
@ cancelled -> notify
"""


def test_interrupting_message_boundary_terminates_the_task(run: RunFn) -> None:
    h = run(MESSAGE_BOUNDARY.format(cancel="true"), variables={"orderId": "A"})
    h.publish("cancel-order", "A", {"why": "changed mind"})
    assert h.terminated() == ["pack"]
    assert h.events("USER_TASK_CANCELED", "pack")
    assert h.activated()[-1] == "notify"
    assert h.variables(h.iid)["why"] == "changed mind"


def test_non_interrupting_message_boundary_fires_each_time_and_keeps_the_task(
    run: RunFn,
) -> None:
    h = run(MESSAGE_BOUNDARY.format(cancel="false"), variables={"orderId": "A"})
    h.publish("cancel-order", "A")
    h.publish("cancel-order", "A")
    assert h.activated().count("notify") == 2
    assert h.terminated() == []
    h.complete_task("pack")
    assert "pack" in h.completed()
    # leaving the task closed its subscription on the message side
    h.publish("cancel-order", "A")
    assert h.activated().count("notify") == 2


def test_signal_boundary_interrupts_the_task(run: RunFn) -> None:
    h = run("""
    <signal id="sg" name="stop"/>
    <startEvent id="s"/>
    <userTask id="t"/>
    <boundaryEvent id="stopped" attachedToRef="t"><signalEventDefinition signalRef="sg"/>
    </boundaryEvent>
    <endEvent id="e"/><endEvent id="halt"/>
    @ s -> t -> e
    @ stopped -> halt
    """)
    h.broadcast("stop")
    assert h.terminated() == ["t"]
    assert h.completed()[-2:] == ["halt", "p"]


def test_escalation_thrown_inside_is_caught_by_a_boundary_on_the_subprocess(run: RunFn) -> None:
    h = run("""
    <escalation id="esc" escalationCode="LATE"/>
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <intermediateThrowEvent id="warn"><escalationEventDefinition escalationRef="esc"/>
      </intermediateThrowEvent>
      <userTask id="goOn"/>
      @ ss -> warn -> goOn
    </subProcess>
    <boundaryEvent id="late" attachedToRef="sub" cancelActivity="false">
      <escalationEventDefinition escalationRef="esc"/></boundaryEvent>
    <userTask id="tellBoss"/>
    @ s -> sub
    @ late -> tellBoss
    """)
    assert h.last("ESCALATION_THROWN", "warn").value["catchElementId"] == "late"
    assert {"goOn", "tellBoss"} <= set(h.activated())
    assert h.terminated() == []


ESP = """
<message id="m" name="abort">
  <extensionElements><zeebe:subscription correlationKey="=caseId"/></extensionElements>
</message>
<signal id="sg" name="audit"/>
<escalation id="esc" escalationCode="HELP"/>
<startEvent id="s"/>
<userTask id="main"/>
<endEvent id="e"/>
@ s -> main -> e
<subProcess id="onAbort" triggeredByEvent="true">
  <startEvent id="abortStart"><messageEventDefinition messageRef="m"/></startEvent>
  <endEvent id="aborted"/>
  @ abortStart -> aborted
</subProcess>
<subProcess id="reminder" triggeredByEvent="true">
  <startEvent id="remindStart" isInterrupting="false">
    <timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition></startEvent>
  <serviceTask id="remind" laneway:type="remind"/>
  <endEvent id="reminded"/>
  @ remindStart -> remind -> reminded
</subProcess>
<subProcess id="onAudit" triggeredByEvent="true">
  <startEvent id="auditStart" isInterrupting="false"><signalEventDefinition signalRef="sg"/>
  </startEvent>
  <endEvent id="audited"/>
  @ auditStart -> audited
</subProcess>
"""


def test_interrupting_message_event_subprocess_terminates_the_main_flow(run: RunFn) -> None:
    h = run(ESP, variables={"caseId": "k"})
    h.publish("abort", "k")
    assert h.terminated() == ["main"]
    # its other start events stop waiting
    assert h.events("TIMER_CANCELED")
    assert h.events("SIGNAL_SUBSCRIPTION_DELETED")
    assert h.completed()[-3:] == ["aborted", "onAbort", "p"]
    assert h.status(h.iid) == "COMPLETED"


def test_non_interrupting_timer_event_subprocess_runs_alongside(run: RunFn) -> None:
    h = run(ESP, variables={"caseId": "k"})
    assert h.timer("remindStart").value["due"] == h.clock + 60 * MINUTE
    h.fire_timer("remindStart")
    assert h.activated()[-3:] == ["reminder", "remindStart", "remind"]
    assert h.terminated() == []
    h.complete_job("remind")
    h.complete_task("main")
    assert h.status(h.iid) == "COMPLETED"


def test_signal_event_subprocess_runs_when_the_signal_is_broadcast(run: RunFn) -> None:
    h = run(ESP, variables={"caseId": "k"})
    h.broadcast("audit", {"auditor": "ann"})
    assert h.completed()[-3:] == ["auditStart", "audited", "onAudit"]
    assert h.terminated() == []
    assert h.status(h.iid) == "WAITING"


def test_escalation_event_subprocess_catches_an_escalation_of_its_scope(run: RunFn) -> None:
    h = run("""
    <escalation id="esc" escalationCode="HELP"/>
    <startEvent id="s"/>
    <userTask id="main"/>
    <intermediateThrowEvent id="ask"><escalationEventDefinition escalationRef="esc"/>
    </intermediateThrowEvent>
    <parallelGateway id="fork"/>
    <endEvent id="e"/><endEvent id="e2"/>
    @ s -> fork -> main -> e
    @ fork -> ask -> e2
    <subProcess id="helpDesk" triggeredByEvent="true">
      <startEvent id="helpStart" isInterrupting="false">
        <escalationEventDefinition escalationRef="esc"/></startEvent>
      <userTask id="help"/>
      @ helpStart -> help
    </subProcess>
    """)
    assert h.last("ESCALATION_THROWN", "ask").value["catchElementId"] == "helpStart"
    assert {"main", "help"} <= set(h.activated())
    assert "e2" in h.completed()
    assert h.terminated() == []
