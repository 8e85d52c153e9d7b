"""Transaction subprocesses and cancel events (BPMN 2.0.2, 10.3.x, 10.5.3, 13.5.7).

A cancel end event inside a transaction ends it: everything still running in it is
terminated, its completed activities are compensated (last first), then the cancel boundary
event on the transaction is taken. An error caught by an error boundary event on the
transaction (a hazard) terminates it without compensation. Diagrams of our own."""

from __future__ import annotations

from conftest import RunFn, document

from laneway.bpmn import parse
from laneway.engine.check import check_runnable


def _handler(activity: str, handler: str, kind: str = "task", extra: str = "") -> str:
    return (f'<boundaryEvent id="{activity}_comp" attachedToRef="{activity}">'
            "<compensateEventDefinition/></boundaryEvent>\n"
            f'<{kind} id="{handler}" isForCompensation="true" {extra}/>\n'
            f'<association id="{activity}_assoc" sourceRef="{activity}_comp" '
            f'targetRef="{handler}"/>')


BOOKING = f"""
<error id="boom" errorCode="BOOM"/>
<startEvent id="s"/>
<transaction id="tx">
  <startEvent id="ts"/>
  <parallelGateway id="fork"/>
  <task id="flight"/>
  {_handler("flight", "cancel_flight")}
  <task id="hotel"/>
  {_handler("hotel", "cancel_hotel", "serviceTask", 'laneway:type="cancel-hotel"')}
  <exclusiveGateway id="ok" default="ok_done"/>
  <endEvent id="done"/>
  <endEvent id="abort"><cancelEventDefinition/></endEvent>
  <endEvent id="fail"><errorEventDefinition errorRef="boom"/></endEvent>
  <userTask id="approve"/>
  <endEvent id="approved"/>
  @ ts -> fork -> flight -> hotel -> ok -> done
  @ ok -> abort : =outcome = "cancel"
  @ ok -> fail : =outcome = "error"
  @ fork -> approve -> approved
</transaction>
<boundaryEvent id="cancelled" attachedToRef="tx"><cancelEventDefinition/></boundaryEvent>
<boundaryEvent id="failed" attachedToRef="tx"><errorEventDefinition errorRef="boom"/>
</boundaryEvent>
<task id="booked"/>
<task id="rebook"/>
<task id="report"/>
<endEvent id="e1"/>
<endEvent id="e2"/>
<endEvent id="e3"/>
@ s -> tx -> booked -> e1
@ cancelled -> rebook -> e2
@ failed -> report -> e3
"""


def test_a_cancel_end_event_rolls_the_transaction_back_then_takes_the_cancel_flow(
        run: RunFn) -> None:
    h = run(BOOKING, variables={"outcome": "cancel"})
    # the rest of the transaction was terminated before anything was compensated
    assert "approve" in h.terminated()
    trail = h.trail("ELEMENT_ACTIVATED", "ELEMENT_TERMINATED", "COMPENSATION_STARTED")
    assert trail.index(("ELEMENT_TERMINATED", "approve")) < trail.index(
        ("COMPENSATION_STARTED", "abort"))
    # the handlers run last first, the cancel end event waiting for them
    assert h.activated()[-1] == "cancel_hotel"
    assert "rebook" not in h.activated()
    h.complete_job("cancel_hotel")
    ran = [e for e in h.activated()
           if e in ("cancel_hotel", "cancel_flight", "cancelled", "rebook", "booked")]
    assert ran == ["cancel_hotel", "cancel_flight", "cancelled", "rebook"]
    # the transaction was interrupted (never completed), the normal flow never taken
    assert "tx" in h.terminated()
    assert "tx" not in h.completed()
    assert "tx_booked" not in h.taken()
    assert h.status(h.iid) == "COMPLETED"


def test_a_transaction_that_completes_takes_its_normal_flow_without_compensation(
        run: RunFn) -> None:
    h = run(BOOKING, variables={"outcome": "ok"})
    h.complete_task("approve")
    assert "booked" in h.activated()
    assert not h.events("COMPENSATION_STARTED")
    assert "cancelled" not in h.activated()
    assert h.status(h.iid) == "COMPLETED"


def test_an_error_caught_on_the_transaction_terminates_it_without_compensation(
        run: RunFn) -> None:
    h = run(BOOKING, variables={"outcome": "error"})
    assert "report" in h.activated()
    assert not {"cancel_flight", "cancel_hotel", "cancelled", "rebook"} & set(h.activated())
    assert not h.events("COMPENSATION_STARTED")
    assert "tx" in h.terminated()
    assert h.status(h.iid) == "COMPLETED"
    assert "compensations" not in h.runner.engine.state.instances[h.iid].to_dict()


def test_a_cancel_with_nothing_to_compensate_takes_the_cancel_flow_at_once(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <task id="first"/>
    <transaction id="tx">
      <startEvent id="ts"/>
      <task id="inside"/>
      <endEvent id="abort"><cancelEventDefinition/></endEvent>
      @ ts -> inside -> abort
    </transaction>
    <boundaryEvent id="cancelled" attachedToRef="tx"><cancelEventDefinition/></boundaryEvent>
    <task id="after_cancel"/>
    <task id="after_tx"/>
    <endEvent id="e1"/>
    <endEvent id="e2"/>
    @ s -> first -> tx -> after_tx -> e1
    @ cancelled -> after_cancel -> e2
    """)
    assert [e for e in h.activated() if e in ("first", "inside", "after_cancel", "after_tx")] == [
        "first", "inside", "after_cancel"]
    assert h.status(h.iid) == "COMPLETED"


def test_cancel_compensates_a_completed_subprocess_inside_the_transaction(run: RunFn) -> None:
    h = run(f"""
    <startEvent id="s"/>
    <transaction id="tx">
      <startEvent id="ts"/>
      <task id="a"/>
      {_handler("a", "undo_a")}
      <subProcess id="sub">
        <startEvent id="ss"/>
        <task id="b"/>
        {_handler("b", "undo_b")}
        <task id="c"/>
        {_handler("c", "undo_c")}
        <endEvent id="se"/>
        @ ss -> b -> c -> se
      </subProcess>
      <endEvent id="abort"><cancelEventDefinition/></endEvent>
      @ ts -> a -> sub -> abort
    </transaction>
    <boundaryEvent id="cancelled" attachedToRef="tx"><cancelEventDefinition/></boundaryEvent>
    <endEvent id="e1"/>
    <endEvent id="e2"/>
    @ s -> tx -> e1
    @ cancelled -> e2
    """)
    assert [e for e in h.activated() if e.startswith("undo_") or e == "cancelled"] == [
        "undo_c", "undo_b", "undo_a", "cancelled"]
    assert h.completed()[-1] == "p"


def _problems(xml: str) -> list[str]:
    definitions = parse(document(xml).encode(), "t.bpmn")
    return [f"{p.line}:{p.element_id}: {p.message}"
            for p in check_runnable(definitions, definitions.processes[0])]


def test_deploy_refuses_a_cancel_end_event_outside_a_transaction() -> None:
    problems = _problems("""
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <endEvent id="abort"><cancelEventDefinition/></endEvent>
      @ ss -> abort
    </subProcess>
    <endEvent id="e"/>
    @ s -> sub -> e
    """)
    assert len(problems) == 1
    assert ":abort: a cancel end event is only allowed directly inside a transaction" in (
        problems[0])
    assert not problems[0].startswith("0:")


def test_deploy_refuses_a_cancel_boundary_event_on_anything_but_a_transaction() -> None:
    problems = _problems("""
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <endEvent id="se"/>
      @ ss -> se
    </subProcess>
    <boundaryEvent id="cancelled" attachedToRef="sub"><cancelEventDefinition/></boundaryEvent>
    <endEvent id="e"/>
    <endEvent id="e2"/>
    @ s -> sub -> e
    @ cancelled -> e2
    """)
    assert len(problems) == 1
    assert ":cancelled: a cancel boundary event is only allowed on a transaction" in problems[0]


def test_deploy_refuses_a_cancel_end_event_without_a_cancel_boundary() -> None:
    problems = _problems("""
    <startEvent id="s"/>
    <transaction id="tx">
      <startEvent id="ts"/>
      <endEvent id="abort"><cancelEventDefinition/></endEvent>
      @ ts -> abort
    </transaction>
    <endEvent id="e"/>
    @ s -> tx -> e
    """)
    assert len(problems) == 1
    assert "has no cancel boundary event" in problems[0]


def test_deploy_accepts_a_transaction() -> None:
    assert _problems(BOOKING) == []


def test_cancel_compensates_the_completed_iterations_of_a_running_multi_instance(
        run: RunFn) -> None:
    h = run(f"""
    <startEvent id="s"/>
    <transaction id="tx">
      <startEvent id="ts"/>
      <parallelGateway id="fork"/>
      <serviceTask id="seat" laneway:type="seat">
        <multiInstanceLoopCharacteristics isSequential="true">
          <extensionElements>
            <zeebe:loopCharacteristics inputCollection="=seats" inputElement="seatNo"/>
          </extensionElements>
        </multiInstanceLoopCharacteristics>
      </serviceTask>
      {_handler("seat", "release", "serviceTask", 'laneway:type="release"')}
      <endEvent id="seated"/>
      <userTask id="confirm"/>
      <endEvent id="abort"><cancelEventDefinition/></endEvent>
      @ ts -> fork -> seat -> seated
      @ fork -> confirm -> abort
    </transaction>
    <boundaryEvent id="cancelled" attachedToRef="tx"><cancelEventDefinition/></boundaryEvent>
    <endEvent id="e1"/>
    <endEvent id="e2"/>
    @ s -> tx -> e1
    @ cancelled -> e2
    """, variables={"seats": ["1A", "1B", "1C"]})
    h.complete_job("seat")
    h.complete_job("seat")
    h.complete_task("confirm")
    # the third iteration was running: terminated, not compensated; the two done are, last first
    released = []
    for _ in range(3):
        if "cancelled" in h.activated():
            break
        released.append(h.job("release").value["variables"]["seatNo"])
        h.complete_job("release")
    assert released == ["1B", "1A"]
    assert h.status(h.iid) == "COMPLETED"


def test_deploy_refuses_a_cancel_boundary_event_that_does_not_interrupt() -> None:
    problems = _problems(BOOKING.replace(
        '<boundaryEvent id="cancelled" attachedToRef="tx">',
        '<boundaryEvent id="cancelled" attachedToRef="tx" cancelActivity="false">'))
    assert len(problems) == 1
    assert ":cancelled: cancel boundary events always interrupt their activity" in problems[0]


def test_deploy_refuses_a_triggered_start_event_inside_a_transaction() -> None:
    problems = _problems("""
    <startEvent id="s"/>
    <transaction id="tx">
      <startEvent id="ts"><timerEventDefinition><timeDuration>PT1S</timeDuration>
      </timerEventDefinition></startEvent>
      <endEvent id="te"/>
      @ ts -> te
    </transaction>
    <endEvent id="e"/>
    @ s -> tx -> e
    """)
    assert len(problems) == 1
    assert ":ts: a start event inside transaction 'tx' has no trigger" in problems[0]
