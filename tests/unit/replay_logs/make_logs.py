"""Record event logs of the current applier versions, once: `.venv/bin/python
tests/unit/replay_logs/make_logs.py`.

Each scenario below drives the engine core in process (the examples of `examples/` and small
diagrams of our own covering tasks, gateways, timers, messages, signals, user tasks and the
people on them, incidents, multi-instance and call activities) and writes

- `<name>.jsonl`: every record it emitted, one `Record.to_json()` a line, and
- `<name>.expected.json`: what replaying the log's events through the appliers gives: the
  final `EngineState.to_dict()` and a SHA-256 of the state after each event.

`tests/unit/test_replay_logs.py` replays every log and compares. A log is written only when
its files are not there: recorded logs are history and are never regenerated (a change that
makes an old log replay differently is a new applier version; see docs/engine.md). Corpus
diagrams are not used: their files are never copied into this project, and a log would carry
their ids, names and scripts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path[:0] = [str(ROOT), str(HERE), str(HERE.parent / "engine")]

from conftest import Harness, document  # noqa: E402  (tests/unit/engine)
from replaying import replay, state_digest  # noqa: E402

from laneway.engine.runner import Answers  # noqa: E402
from laneway.records import Command, Principal, PrincipalKind  # noqa: E402

START = 1_767_225_600_000
ANA = Principal(PrincipalKind.HUMAN, "ana", (), {"personas": ["Case Worker"], "groups": ["leads"]})
BEN = Principal(PrincipalKind.HUMAN, "ben", (), {"personas": ["case-worker"], "groups": ["leads"]})
SLA_LOOP = Principal(PrincipalKind.AGENT, "worklist-sla")


# --- scenarios ------------------------------------------------------------------------------

def _example(path: str, process: str, answers: Answers, variables: dict[str, Any]) -> Harness:
    h = Harness((ROOT / path).read_text(encoding="utf-8"))
    h.clock = START
    iid = h.start(process, variables)
    h.answer(iid, answers)
    return h


def example_order() -> Harness:
    """examples/order: an exclusive gateway, connector jobs and an approval task."""
    return _example("examples/order/order.bpmn", "order",
                    Answers(jobs={"payment": {"paymentId": "PAY-1"}}, auto_jobs=True,
                            tasks={"approve_order": [{"approved": True}]}),
                    {"amount": 1500})


def example_permit() -> Harness:
    """examples/permit: lanes with personas, forms, two user tasks, an e-mail job."""
    return _example("examples/permit/permit.bpmn", "permit",
                    Answers(jobs={"email": {"decisionMailId": "mail-1"}},
                            tasks={"review_application": [{"recommendation": "approve"}],
                                   "decide_permit": [{"approved": True, "reason": "ok"}]}),
                    {"applicant": {"name": "Ada"}, "address": "12 Lane", "description": "shed"})


def example_reminder() -> Harness:
    """examples/timeouts: a repeating non-interrupting timer and an interrupting deadline on a
    user task, with instant timers."""
    return _example("examples/timeouts/reminder.bpmn", "reminder",
                    Answers(auto_jobs=True, instant_timers=True), {})


def gateways() -> Harness:
    """Exclusive, parallel and inclusive gateways, a script task, variables."""
    h = Harness(document("""
    <startEvent id="s"/>
    <exclusiveGateway id="x" default="x_low"/>
    <parallelGateway id="split"/><parallelGateway id="join"/>
    <scriptTask id="calc">
      <extensionElements><zeebe:script expression="=amount * 2" resultVariable="doubled"/>
      </extensionElements>
    </scriptTask>
    <task id="a"/><task id="b"/>
    <inclusiveGateway id="ifork"/><inclusiveGateway id="ijoin"/>
    <task id="i1"/><task id="i2"/><task id="i3"/>
    <task id="low"/><endEvent id="e"/>
    @ s -> x
    @ x -> split : =amount > 100
    @ x -> low
    @ split -> a -> join
    @ split -> b -> join
    @ join -> calc -> ifork
    @ ifork -> i1 : =amount > 0
    @ ifork -> i2 : =amount > 1000
    @ ifork -> i3 : =true
    @ i1 -> ijoin
    @ i2 -> ijoin
    @ i3 -> ijoin
    @ ijoin -> e
    @ low -> e
    """))
    h.clock = START
    h.start("p", {"amount": 500})
    h.start("p", {"amount": 5})
    return h


def messages_and_signals() -> Harness:
    """A message catch by correlation key, a buffered message, an event-based gateway (message
    against timer), a message boundary, a signal catch and a non-interrupting signal event
    subprocess."""
    h = Harness(document("""
    <message id="m" name="docs">
      <extensionElements><zeebe:subscription correlationKey="=ref"/></extensionElements>
    </message>
    <message id="go" name="go">
      <extensionElements><zeebe:subscription correlationKey="=ref"/></extensionElements>
    </message>
    <signal id="sg" name="open"/>
    <signal id="note" name="note"/>
    <startEvent id="s"/>
    <intermediateCatchEvent id="wait"><messageEventDefinition messageRef="m"/>
    </intermediateCatchEvent>
    <eventBasedGateway id="ebg"/>
    <intermediateCatchEvent id="gomsg"><messageEventDefinition messageRef="go"/>
    </intermediateCatchEvent>
    <intermediateCatchEvent id="late"><timerEventDefinition><timeDuration>PT1H</timeDuration>
    </timerEventDefinition></intermediateCatchEvent>
    <receiveTask id="recv" messageRef="m"/>
    <boundaryEvent id="poke" attachedToRef="recv"><messageEventDefinition messageRef="go"/>
    </boundaryEvent>
    <intermediateCatchEvent id="sig"><signalEventDefinition signalRef="sg"/>
    </intermediateCatchEvent>
    <subProcess id="esp" triggeredByEvent="true">
      <startEvent id="esp_s" isInterrupting="false"><signalEventDefinition signalRef="note"/>
      </startEvent>
      <task id="noted"/><endEvent id="esp_e"/>
      <sequenceFlow id="esp_f1" sourceRef="esp_s" targetRef="noted"/>
      <sequenceFlow id="esp_f2" sourceRef="noted" targetRef="esp_e"/>
    </subProcess>
    <endEvent id="e"/><endEvent id="e_late"/>
    @ s -> wait -> ebg
    @ ebg -> gomsg -> recv -> sig -> e
    @ ebg -> late -> e_late
    @ poke -> sig
    """))
    h.clock = START
    first = h.start("p", {"ref": "r-1"})
    h.publish("docs", "r-2", {"pages": 1}, ttl=60_000, message_id="early")
    h.publish("docs", "r-1", {"pages": 3})
    h.broadcast("note", {"n": 1})
    h.publish("go", "r-1")
    h.publish("go", "r-1", {"poked": True})
    h.broadcast("open")
    second = h.start("p", {"ref": "r-2"})
    h.fire_timer("late", iid=second)
    assert first != second
    return h


def people() -> Harness:
    """A user task in a persona's lane with candidates and an SLA: claimed, refused to another,
    unclaimed, claimed by the other, escalated by the SLA loop (a notification job),
    completed."""
    h = Harness(document("""
    <laneSet id="ls">
      <lane id="workers" name="Workers" laneway:persona="Case Worker">
        <flowNodeRef>review</flowNodeRef>
      </lane>
    </laneSet>
    <startEvent id="s"/>
    <userTask id="review" name="Review the case" laneway:candidateGroups="leads"
      laneway:slaMinutes="90" laneway:escalationConnector="email" laneway:form="review-form"/>
    <endEvent id="e"/>
    @ s -> review -> e
    """))
    h.clock = START
    iid = h.start("p", {"case": 7})
    key = int(h.last("USER_TASK_CREATED", "review").value["key"])
    h.send(Command.CLAIM_USER_TASK, iid, {"taskKey": key}, principal=ANA)
    h.send(Command.CLAIM_USER_TASK, iid, {"taskKey": key}, principal=BEN)
    h.send(Command.UNCLAIM_USER_TASK, iid, {"taskKey": key}, principal=ANA)
    h.send(Command.CLAIM_USER_TASK, iid, {"taskKey": key}, principal=BEN)
    h.send(Command.ESCALATE_USER_TASK, iid, {"taskKey": key}, at=START + 91 * 60_000,
           principal=SLA_LOOP)
    h.send(Command.COMPLETE_USER_TASK, iid, {"taskKey": key, "variables": {"ok": True}},
           principal=BEN)
    return h


def incidents() -> Harness:
    """A job failing down to no retries (an incident), resolved and completed; a condition
    that cannot be evaluated next (an incident, left open)."""
    h = Harness(document("""
    <startEvent id="s"/>
    <serviceTask id="charge" laneway:type="payment" laneway:retries="2"/>
    <exclusiveGateway id="x"/>
    <endEvent id="e"/><endEvent id="e2"/>
    @ s -> charge -> x
    @ x -> e : =total > 10
    @ x -> e2 : =total <= 10
    """))
    h.clock = START
    iid = h.start("p", {})
    h.fail_job("charge", retries=1, message="timeout")
    h.fail_job("charge", retries=0, message="card declined")
    incident = h.last("INCIDENT_CREATED", "charge")
    h.send(Command.RESOLVE_INCIDENT, iid, {"incidentKey": incident.value["key"], "retries": 1})
    h.complete_job("charge", {"paid": True})
    return h


def multi_instance() -> Harness:
    """A parallel multi-instance service task over a collection, a sequential multi-instance
    user task with a cardinality, and an error from one inner instance caught on the body."""
    h = Harness(document("""
    <error id="err" errorCode="BAD"/>
    <startEvent id="s"/>
    <serviceTask id="each" laneway:type="w">
      <multiInstanceLoopCharacteristics>
        <extensionElements><zeebe:loopCharacteristics inputCollection="=items"
          inputElement="item" outputCollection="results" outputElement="=item * 10"/>
        </extensionElements>
      </multiInstanceLoopCharacteristics>
    </serviceTask>
    <userTask id="twice">
      <multiInstanceLoopCharacteristics isSequential="true">
        <loopCardinality>2</loopCardinality>
      </multiInstanceLoopCharacteristics>
    </userTask>
    <serviceTask id="risky" laneway:type="r">
      <multiInstanceLoopCharacteristics><loopCardinality>3</loopCardinality>
      </multiInstanceLoopCharacteristics>
    </serviceTask>
    <boundaryEvent id="bad" attachedToRef="risky"><errorEventDefinition errorRef="err"/>
    </boundaryEvent>
    <endEvent id="e"/><endEvent id="e_bad"/>
    @ s -> each -> twice -> risky -> e
    @ bad -> e_bad
    """))
    h.clock = START
    iid = h.start("p", {"items": [1, 2, 3]})
    for job in h.events("JOB_CREATED", "each"):
        h.send(Command.COMPLETE_JOB, iid, {"jobKey": job.value["key"], "variables": {}})
    h.complete_task("twice", {"round": 1})
    h.complete_task("twice", {"round": 2})
    first = h.events("JOB_CREATED", "risky")[0]
    h.send(Command.COMPLETE_JOB, iid, {"jobKey": first.value["key"], "variables": {}})
    second = h.events("JOB_CREATED", "risky")[1]
    h.send(Command.THROW_ERROR, iid, {"jobKey": second.value["key"], "errorCode": "BAD"})
    return h


def call_activity() -> Harness:
    """A call activity whose child completes with its variables, and one whose child's error
    is caught on the call activity's boundary; the parent is cancelled at last."""
    child = """
    <definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
      xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" id="dc" targetNamespace="http://x">
    <error id="cerr" errorCode="NOPE"/>
    <process id="child" isExecutable="true">
      <startEvent id="cs"/><serviceTask id="cwork" laneway:type="child-work"/>
      <exclusiveGateway id="cx" default="cf_ok"/>
      <endEvent id="ce"/>
      <endEvent id="cfail"><errorEventDefinition errorRef="cerr"/></endEvent>
      <sequenceFlow id="cf1" sourceRef="cs" targetRef="cwork"/>
      <sequenceFlow id="cf2" sourceRef="cwork" targetRef="cx"/>
      <sequenceFlow id="cf_ok" sourceRef="cx" targetRef="ce"/>
      <sequenceFlow id="cf_fail" sourceRef="cx" targetRef="cfail">
        <conditionExpression>=fail</conditionExpression></sequenceFlow>
    </process></definitions>
    """
    parent = document("""
    <error id="perr" errorCode="NOPE"/>
    <startEvent id="s"/>
    <callActivity id="call" calledElement="child"/>
    <callActivity id="call2" calledElement="child"/>
    <boundaryEvent id="caught" attachedToRef="call2"><errorEventDefinition errorRef="perr"/>
    </boundaryEvent>
    <userTask id="after"/><endEvent id="e"/>
    @ s -> call -> call2 -> e
    @ caught -> after
    """)
    h = Harness(parent, child)
    h.clock = START
    iid = h.start("p", {"fail": False})
    for n, job in enumerate(h.events("JOB_CREATED", "cwork")):
        h.send(Command.COMPLETE_JOB, job.instance_id, {"jobKey": job.value["key"],
                                                       "variables": {"n": n}})
    jobs = h.events("JOB_CREATED", "cwork")
    h.send(Command.COMPLETE_JOB, jobs[-1].instance_id, {"jobKey": jobs[-1].value["key"],
                                                        "variables": {"fail": True}})
    h.cancel(iid)
    return h


def call_depth() -> Harness:
    """ELEMENT_ACTIVATED version 2: a process calls a child that calls a grandchild, each
    keeping its depth in the call chain; the grandchild waits on a task, then completes."""
    grandchild = document("""
    <startEvent id="gs"/><userTask id="gwork"/><endEvent id="ge"/>
    @ gs -> gwork -> ge
    """, "grandchild")
    child = document("""
    <startEvent id="cs"/><callActivity id="callg" calledElement="grandchild"/><endEvent id="ce"/>
    @ cs -> callg -> ce
    """, "child")
    parent = document("""
    <startEvent id="s"/><callActivity id="call" calledElement="child"/><endEvent id="e"/>
    @ s -> call -> e
    """)
    h = Harness(parent, child, grandchild)
    h.clock = START
    h.start("p", {"n": 1})
    task = h.events("USER_TASK_CREATED", "gwork")[0]
    h.send(Command.COMPLETE_USER_TASK, task.instance_id, {"taskKey": task.value["key"],
                                                          "variables": {"done": True}})
    return h


def complex_and_adhoc() -> Harness:
    """A complex gateway as a discriminator (fired by the first token, reset by the second)
    and an ad-hoc subprocess whose activities a decision handler (an agent) chooses."""
    h = Harness(document("""
    <startEvent id="s"/>
    <parallelGateway id="fork"/>
    <userTask id="a"/><userTask id="b"/>
    <complexGateway id="first">
      <activationCondition xsi:type="tFormalExpression">=activationCount >= 1</activationCondition>
    </complexGateway>
    <adHocSubProcess id="work" ordering="Sequential" laneway:decision="handler">
      <userTask id="gather"/><userTask id="write"/>
    </adHocSubProcess>
    <endEvent id="e"/>
    @ s -> fork
    @ fork -> a -> first
    @ fork -> b -> first
    @ first -> work -> e
    """))
    h.clock = START
    iid = h.start("p", {})
    agent = Principal(PrincipalKind.AGENT, "planner")
    for element in ("b", "a"):
        task = h.events("USER_TASK_CREATED", element)[-1]
        h.send(Command.COMPLETE_USER_TASK, iid, {"taskKey": task.value["key"],
                                                 "variables": {}}, principal=ANA)
    for chosen, done in ((["write"], False), (["gather"], False), ([], True)):
        job = h.events("JOB_CREATED", "work")[-1]
        h.send(Command.SUBMIT_DECISION, iid, {"jobKey": job.value["key"],
                                              "activities": chosen, "done": done},
               principal=agent)
        if chosen:
            task = h.events("USER_TASK_CREATED", chosen[0])[-1]
            h.send(Command.COMPLETE_USER_TASK, iid, {"taskKey": task.value["key"],
                                                     "variables": {}}, principal=ANA)
    return h


def _comp(activity: str, handler: str, extra: str = "") -> str:
    return (f'<boundaryEvent id="{activity}_c" attachedToRef="{activity}">'
            f'<compensateEventDefinition/></boundaryEvent>'
            f'<serviceTask id="{handler}" isForCompensation="true" {extra}/>'
            f'<association id="{activity}_a" sourceRef="{activity}_c" targetRef="{handler}"/>')


def compensation() -> Harness:
    """Compensation and transactions: a transaction whose completed task, multi-instance
    iterations and subprocess (with a compensation event subprocess) are compensated when a
    cancel end event cancels it, handlers answered one by one; a second instance with a
    throw that does not wait, and a subprocess interrupted by an error whose compensable
    activities are dropped."""
    h = Harness(document(f"""
    <error id="boom" errorCode="BOOM"/>
    <startEvent id="s"/>
    <exclusiveGateway id="which" default="which_tx"/>
    <transaction id="tx">
      <startEvent id="ts"/>
      <serviceTask id="book" laneway:type="book"/>
      {_comp("book", "unbook", 'laneway:type="unbook"')}
      <task id="seat">
        <multiInstanceLoopCharacteristics isSequential="true">
          <extensionElements>
            <zeebe:loopCharacteristics inputCollection="=seats" inputElement="seatNo"/>
          </extensionElements>
        </multiInstanceLoopCharacteristics>
      </task>
      {_comp("seat", "release", 'laneway:type="release"')}
      <subProcess id="meal">
        <extensionElements><zeebe:ioMapping>
          <zeebe:input source="=&quot;veg&quot;" target="menu"/>
        </zeebe:ioMapping></extensionElements>
        <startEvent id="ms"/>
        <task id="order_meal"/>
        {_comp("order_meal", "drop_meal", 'laneway:type="drop-meal"')}
        <endEvent id="me"/>
        @ ms -> order_meal -> me
        <subProcess id="undo_meal" triggeredByEvent="true">
          <startEvent id="us"><compensateEventDefinition/></startEvent>
          <intermediateThrowEvent id="undo_inner"><compensateEventDefinition/>
          </intermediateThrowEvent>
          <endEvent id="ue"/>
          @ us -> undo_inner -> ue
        </subProcess>
      </subProcess>
      <endEvent id="abort"><cancelEventDefinition/></endEvent>
      @ ts -> book -> seat -> meal -> abort
    </transaction>
    <boundaryEvent id="cancelled" attachedToRef="tx"><cancelEventDefinition/></boundaryEvent>
    <endEvent id="e1"/>
    <endEvent id="e2"/>
    @ s -> which -> tx -> e1
    @ cancelled -> e2
    <subProcess id="trip">
      <startEvent id="ps"/>
      <task id="fly"/>
      {_comp("fly", "unfly", 'laneway:type="unfly"')}
      <exclusiveGateway id="ok" default="ok_pe"/>
      <endEvent id="pe"/>
      <endEvent id="fail"><errorEventDefinition errorRef="boom"/></endEvent>
      @ ps -> fly -> ok -> pe
      @ ok -> fail : =broken
    </subProcess>
    <boundaryEvent id="failed" attachedToRef="trip"><errorEventDefinition errorRef="boom"/>
    </boundaryEvent>
    <task id="hotel"/>
    {_comp("hotel", "unhotel", 'laneway:type="unhotel"')}
    <intermediateThrowEvent id="undo"><compensateEventDefinition waitForCompletion="false"/>
    </intermediateThrowEvent>
    <endEvent id="e3"/>
    <endEvent id="e4"/>
    @ which -> hotel : =second
    @ hotel -> trip -> undo -> e3
    @ failed -> undo
    """))
    h.clock = START
    iid = h.start("p", {"seats": ["1A", "1B"], "second": False})
    h.complete_job("book", {"bookingId": "B-1"}, iid)
    for element in ("drop_meal", "release", "release", "unbook"):
        h.complete_job(element, {}, iid)
    second = h.start("p", {"seats": [], "second": True, "broken": True})
    h.complete_job("unhotel", {}, second)
    return h


SCENARIOS: dict[str, Callable[[], Harness]] = {
    "example_order": example_order,
    "example_permit": example_permit,
    "example_reminder": example_reminder,
    "gateways": gateways,
    "messages_and_signals": messages_and_signals,
    "people": people,
    "incidents": incidents,
    "multi_instance": multi_instance,
    "call_activity": call_activity,
    "call_depth": call_depth,
    "complex_and_adhoc": complex_and_adhoc,
    "compensation": compensation,
}


def write(name: str, make: Callable[[], Harness]) -> bool:
    """Record one scenario unless it is recorded already; whether it wrote."""
    log, expected = HERE / f"{name}.jsonl", HERE / f"{name}.expected.json"
    if log.exists() or expected.exists():
        return False
    h = make()
    h.verify()  # the live state equals the replayed one, and a second run gives equal bytes
    records = list(h.records)
    state, digests = replay(records)
    assert state_digest(state) == state_digest(h.runner.engine.state)
    log.write_text("".join(r.to_json() + "\n" for r in records), encoding="utf-8")
    expected.write_text(json.dumps({"final": state.to_dict(), "digests": digests},
                                   indent=1, sort_keys=True, default=str) + "\n",
                        encoding="utf-8")
    return True


def main() -> None:
    """Write the scenarios not recorded yet."""
    for name, make in SCENARIOS.items():
        print(("wrote " if write(name, make) else "kept  ") + name)


if __name__ == "__main__":
    main()
