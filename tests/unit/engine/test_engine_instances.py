"""Whole instances: cancelling, rejections of commands to unknown or ended instances, the
size of a parked instance, and the determinism checks themselves."""

from __future__ import annotations

import json

import pytest
from conftest import Harness, RunFn, document

from laneway.records import Command, RecordKind

BUSY = """
<message id="m" name="poke"/>
<signal id="sg" name="wake"/>
<startEvent id="s"/>
<parallelGateway id="fork"/>
<userTask id="task"/>
<serviceTask id="job" laneway:type="w"/>
<intermediateCatchEvent id="msg"><messageEventDefinition messageRef="m"/>
</intermediateCatchEvent>
<intermediateCatchEvent id="sig"><signalEventDefinition signalRef="sg"/>
</intermediateCatchEvent>
<subProcess id="sub">
  <startEvent id="ss"/>
  <intermediateCatchEvent id="nap">
    <timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition>
  </intermediateCatchEvent>
  @ ss -> nap
</subProcess>
@ s -> fork -> task
@ fork -> job
@ fork -> msg
@ fork -> sig
@ fork -> sub
"""


def test_cancel_instance_terminates_everything_it_waits_on(run: RunFn) -> None:
    h = run(BUSY)
    recs = h.cancel(h.iid)
    intents = {r.intent for r in recs}
    assert {"USER_TASK_CANCELED", "JOB_CANCELED", "TIMER_CANCELED",
            "MESSAGE_SUBSCRIPTION_DELETED", "SIGNAL_SUBSCRIPTION_DELETED",
            "PROCESS_MESSAGE_SUBSCRIPTION_CLOSED"} <= intents
    assert set(h.terminated()) == {"task", "job", "msg", "sig", "nap", "sub", "p"}
    assert h.status(h.iid) == "TERMINATED"
    # nothing reaches it any more
    seen = len(h.events(iid=h.iid))
    h.broadcast("wake")
    h.publish("poke")
    assert len(h.events(iid=h.iid)) == seen


def test_commands_to_an_ended_instance_are_rejected(run: RunFn) -> None:
    h = run(BUSY)
    h.cancel(h.iid)
    [rejection] = h.cancel(h.iid)
    assert rejection.kind == RecordKind.REJECTION
    assert "TERMINATED" in rejection.value["reason"]
    [rejection] = h.send(Command.COMPLETE_JOB, "no-such-instance", {"jobKey": 1})
    assert rejection.value["rejectionType"] == "NOT_FOUND"


def test_starting_a_process_that_is_not_deployed_is_rejected(run: RunFn) -> None:
    h = run(BUSY, start=False)
    [rejection] = h.send(Command.START_INSTANCE, "x", {"processId": "nope"})
    assert rejection.value["rejectionType"] == "NOT_FOUND"
    assert "'nope'" in rejection.value["reason"]
    assert h.instance_ids() == []


def test_an_instance_parked_at_a_user_task_is_small_and_holds_no_definition(
    run: RunFn,
) -> None:
    h = run("""
    <laneSet id="ls">
      <lane id="clerks" name="Clerks" laneway:persona="clerk">
        <flowNodeRef>review</flowNodeRef></lane>
    </laneSet>
    <startEvent id="s"/>
    <serviceTask id="check" laneway:type="check" acme:costCenter="42"/>
    <userTask id="review" name="Review the order carefully"/>
    <endEvent id="e"/>
    @ s -> check -> review -> e
    """, variables={"orderId": "o-1", "amount": 120})
    h.complete_job("check", {"ok": True})
    inst = h.runner.engine.state.instances[h.iid]
    text = json.dumps(inst.to_dict(), separators=(",", ":"))
    assert len(text.encode()) < 2048
    for fragment in ("Review the order carefully", "costCenter", "sequenceFlow",
                     "<", "check_review"):
        assert fragment not in text
    # the task keeps the persona it asks for: the engine checks it on every task command
    assert inst.user_tasks[next(iter(inst.user_tasks))].persona == "clerk"


def test_the_determinism_check_catches_records_that_differ_on_a_second_run() -> None:
    h = Harness(document("""
    <startEvent id="s"/><userTask id="t"/>
    @ s -> t
    """))
    h.start()
    h.verify()
    cmd_json, emitted = h.trace[0]
    h.trace[0] = (cmd_json, [*emitted[:-1], emitted[-1].replace('"t"', '"x"')])
    with pytest.raises(AssertionError, match="other records"):
        h.verify()


def test_the_replay_check_catches_state_no_event_explains() -> None:
    h = Harness(document("""
    <startEvent id="s"/><userTask id="t"/>
    @ s -> t
    """))
    h.start()
    h.runner.engine.state.instances[h.iid].variables[1] = {"sneaked": True}
    with pytest.raises(AssertionError, match="another state"):
        h.verify()


WAITS = """
<message id="m" name="poke"/>
<startEvent id="s"/>
<userTask id="task"/>
<serviceTask id="job" laneway:type="w"/>
<intermediateCatchEvent id="msg"><messageEventDefinition messageRef="m"/>
</intermediateCatchEvent>
<endEvent id="e"/>
@ s -> task -> job -> msg -> e
"""

UNSTORABLE = [
    ({"note": "a\x00b"}, "note holds the character U+0000"),
    ({"form": {"amount": float("nan")}}, "form.amount is nan, not a finite number"),
    ({"rows": [1, float("inf")]}, "rows[1] is inf, not a finite number"),
    ({"a\x00": 1}, "holds the character U+0000"),
]


@pytest.mark.parametrize(("variables", "why"), UNSTORABLE)
def test_a_start_with_variables_no_store_can_keep_is_rejected_and_starts_nothing(
        run: RunFn, variables: dict[str, object], why: str) -> None:
    h = run(WAITS, start=False)
    recs = h.send(Command.START_INSTANCE, "i-1", {"processId": "p", "variables": variables})
    [rejection] = recs
    assert rejection.kind == RecordKind.REJECTION
    assert rejection.value["rejectionType"] == "INVALID_ARGUMENT"
    assert why in rejection.value["reason"]
    assert h.status("i-1") == "UNKNOWN"  # no instance was made


def test_a_start_with_variables_nested_deeper_than_the_limit_is_rejected(run: RunFn) -> None:
    h = run(WAITS, start=False)
    deep: list[object] = []
    inner = deep
    for _ in range(100):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    [rejection] = h.send(Command.START_INSTANCE, "i-1",
                         {"processId": "p", "variables": {"deep": deep}})
    assert "nests deeper than 64 levels" in rejection.value["reason"]


@pytest.mark.parametrize(("variables", "why"), UNSTORABLE)
def test_task_job_and_message_answers_no_store_can_keep_are_rejected_and_change_nothing(
        run: RunFn, variables: dict[str, object], why: str) -> None:
    h = run(WAITS)
    [refused] = h.complete_task("task", variables)
    assert refused.kind == RecordKind.REJECTION
    assert why in refused.value["reason"]
    h.complete_task("task", {"ok": 1})
    [refused] = h.complete_job("job", variables)
    assert refused.kind == RecordKind.REJECTION
    assert why in refused.value["reason"]
    h.complete_job("job")
    [refused] = h.publish("poke", variables=variables)
    assert refused.kind == RecordKind.REJECTION
    assert why in refused.value["reason"]
    # the instance still waits where it was, and a storable answer moves it on
    assert h.status(h.iid) == "WAITING"
    h.publish("poke", variables={"fine": True})
    assert h.status(h.iid) == "COMPLETED"


def test_a_triggered_start_keeps_its_trigger_on_the_process_s_first_event(run: RunFn) -> None:
    h = run(WAITS, start=False)
    trigger = {"schedule": "s-1", "type": "feed", "dedupKey": "entry:1",
               "item": {"title": "News"}}
    recs = h.send(Command.START_INSTANCE, "i-1", {"processId": "p", "trigger": trigger})
    first = recs[0]
    assert (first.intent, first.element_type) == ("ELEMENT_ACTIVATED", "process")
    assert first.value["trigger"] == trigger
    # a start without one carries none
    plain = h.send(Command.START_INSTANCE, "i-2", {"processId": "p"})[0]
    assert "trigger" not in plain.value


@pytest.mark.parametrize(("trigger", "why"), [
    ("feed", "to be an object"),
    ({"item": {"text": "x" * 5000}}, "at most 4096 bytes"),
    ({"item": "a\x00b"}, "can be stored"),
])
def test_a_start_with_a_trigger_no_store_can_keep_is_rejected(
        run: RunFn, trigger: object, why: str) -> None:
    h = run(WAITS, start=False)
    [rejection] = h.send(Command.START_INSTANCE, "i-1", {"processId": "p", "trigger": trigger})
    assert rejection.value["rejectionType"] == "INVALID_ARGUMENT"
    assert why in rejection.value["reason"]
    assert h.status("i-1") == "UNKNOWN"
