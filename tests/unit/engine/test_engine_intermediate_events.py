"""Intermediate catch events (timer, message, signal, link) and intermediate throw events
(signal, escalation, link, message)."""

from __future__ import annotations

from conftest import RunFn

from laneway.records import Command, RecordKind

TIMER_CATCH = """
<startEvent id="s"/>
<intermediateCatchEvent id="pause">
  <timerEventDefinition><timeDuration>PT2H</timeDuration></timerEventDefinition>
</intermediateCatchEvent>
<endEvent id="e"/>
@ s -> pause -> e
"""


def test_timer_catch_is_due_the_duration_after_the_command_timestamp(run: RunFn) -> None:
    h = run(TIMER_CATCH, start=False)
    h.clock = 1_800_000_000_000
    iid = h.start()
    assert h.timer("pause").value["due"] == 1_800_000_000_000 + 2 * 3_600_000
    h.fire_timer("pause")
    assert h.status(iid) == "COMPLETED"


def test_triggering_a_timer_before_it_is_due_is_rejected(run: RunFn) -> None:
    h = run(TIMER_CATCH)
    timer = h.timer("pause")
    [rejection] = h.fire_timer("pause", at=timer.value["due"] - 1)
    assert rejection.kind == RecordKind.REJECTION
    assert "to be due" in rejection.value["reason"]
    assert h.status(h.iid) == "WAITING"
    h.fire_timer("pause")
    assert h.status(h.iid) == "COMPLETED"


def test_timer_catch_with_a_feel_duration_uses_the_variable(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <intermediateCatchEvent id="pause">
      <timerEventDefinition><timeDuration>=wait</timeDuration></timerEventDefinition>
    </intermediateCatchEvent>
    <endEvent id="e"/>
    @ s -> pause -> e
    """, variables={"wait": "PT1M"})
    assert h.timer("pause").value["due"] == h.clock + 60_000


def test_message_catch_waits_for_its_correlation_key(run: RunFn) -> None:
    h = run("""
    <message id="m" name="docs">
      <extensionElements><zeebe:subscription correlationKey="=ref"/></extensionElements>
    </message>
    <startEvent id="s"/>
    <intermediateCatchEvent id="wait"><messageEventDefinition messageRef="m"/>
    </intermediateCatchEvent>
    <endEvent id="e"/>
    @ s -> wait -> e
    """, variables={"ref": "r-1"})
    h.publish("docs", "r-2")
    assert h.status(h.iid) == "WAITING"
    h.publish("docs", "r-1", {"pages": 3})
    assert h.variables(h.iid) == {"ref": "r-1", "pages": 3}
    assert h.status(h.iid) == "COMPLETED"


def test_signal_catch_continues_when_the_signal_is_broadcast(run: RunFn) -> None:
    h = run("""
    <signal id="sg" name="open"/>
    <startEvent id="s"/>
    <intermediateCatchEvent id="wait"><signalEventDefinition signalRef="sg"/>
    </intermediateCatchEvent>
    <endEvent id="e"/>
    @ s -> wait -> e
    """)
    h.broadcast("close")
    assert h.status(h.iid) == "WAITING"
    h.broadcast("open", {"door": 1})
    assert h.status(h.iid) == "COMPLETED"
    assert h.variables(h.iid) == {"door": 1}


def test_link_throw_continues_at_the_catch_of_the_same_name(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <intermediateThrowEvent id="jump"><linkEventDefinition name="B"/></intermediateThrowEvent>
    <intermediateCatchEvent id="landA"><linkEventDefinition name="A"/></intermediateCatchEvent>
    <intermediateCatchEvent id="landB"><linkEventDefinition name="B"/></intermediateCatchEvent>
    <endEvent id="endA"/><endEvent id="endB"/>
    @ s -> jump
    @ landA -> endA
    @ landB -> endB
    """)
    assert h.activated() == ["p", "s", "jump", "landB", "endB"]
    assert h.status(h.iid) == "COMPLETED"


def test_signal_throw_reaches_other_instances_and_moves_on(run: RunFn) -> None:
    waiter = """
    <signal id="sg" name="go"/>
    <process id="waiter" isExecutable="true">
      <startEvent id="s"/>
      <intermediateCatchEvent id="wait"><signalEventDefinition signalRef="sg"/>
      </intermediateCatchEvent>
      <endEvent id="e"/>
      @ s -> wait -> e
    </process>
    """
    h = run("""
    <signal id="sg" name="go"/>
    <startEvent id="s"/>
    <intermediateThrowEvent id="shout"><signalEventDefinition signalRef="sg"/>
    </intermediateThrowEvent>
    <userTask id="next"/>
    @ s -> shout -> next
    """, start=False, also=(waiter,))
    w1 = h.start("waiter")
    w2 = h.start("waiter")
    thrower = h.start("p")
    assert h.status(w1) == h.status(w2) == "COMPLETED"
    assert h.activated(thrower)[-1] == "next"


def test_escalation_throw_without_a_catcher_moves_on(run: RunFn) -> None:
    h = run("""
    <escalation id="esc" escalationCode="X"/>
    <startEvent id="s"/>
    <intermediateThrowEvent id="up"><escalationEventDefinition escalationRef="esc"/>
    </intermediateThrowEvent>
    <endEvent id="e"/>
    @ s -> up -> e
    """)
    assert h.last("ESCALATION_THROWN", "up").value["caught"] is False
    assert h.status(h.iid) == "COMPLETED"


def test_escalation_throw_caught_by_an_interrupting_boundary_stops_the_thrower(
    run: RunFn,
) -> None:
    h = run("""
    <escalation id="esc" escalationCode="X"/>
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <intermediateThrowEvent id="up"><escalationEventDefinition escalationRef="esc"/>
      </intermediateThrowEvent>
      <userTask id="never"/>
      @ ss -> up -> never
    </subProcess>
    <boundaryEvent id="caught" attachedToRef="sub"><escalationEventDefinition/></boundaryEvent>
    <endEvent id="e"/>
    @ s -> sub
    @ caught -> e
    """)
    assert "never" not in h.activated()
    assert "sub" in h.terminated()
    assert h.status(h.iid) == "COMPLETED"


def test_message_throw_publishes_to_a_waiting_instance(run: RunFn) -> None:
    receiver = """
    <message id="m" name="hello">
      <extensionElements><zeebe:subscription correlationKey="=key"/></extensionElements>
    </message>
    <process id="receiver" isExecutable="true">
      <startEvent id="s"/>
      <intermediateCatchEvent id="wait"><messageEventDefinition messageRef="m"/>
      </intermediateCatchEvent>
      <endEvent id="e"/>
      @ s -> wait -> e
    </process>
    """
    h = run("""
    <message id="m" name="hello">
      <extensionElements><zeebe:subscription correlationKey="=key"/></extensionElements>
    </message>
    <startEvent id="s"/>
    <intermediateThrowEvent id="say"><messageEventDefinition messageRef="m"/>
    </intermediateThrowEvent>
    <userTask id="next"/>
    @ s -> say -> next
    """, start=False, also=(receiver,))
    other = h.start("receiver", {"key": 9})
    sender = h.start("p", {"key": 9, "greeting": "hi"})
    assert h.status(other) == "COMPLETED"
    assert h.variables(other)["greeting"] == "hi"
    assert h.activated(sender)[-1] == "next"


def test_message_throw_with_a_job_type_waits_for_the_job(run: RunFn) -> None:
    h = run("""
    <message id="m" name="hello"/>
    <startEvent id="s"/>
    <intermediateThrowEvent id="say"><messageEventDefinition messageRef="m"/>
      <extensionElements><zeebe:taskDefinition type="mailer"/></extensionElements>
    </intermediateThrowEvent>
    <endEvent id="e"/>
    @ s -> say -> e
    """)
    assert h.job("say").value["type"] == "mailer"
    h.send(Command.COMPLETE_JOB, h.iid, {"jobKey": h.job("say").value["key"]})
    assert h.status(h.iid) == "COMPLETED"
