"""An operator's operations on running instances: cancel (with the called children), set
variables, modify (activate, terminate, move) and migrate to another version. Each refusal is
a rejection with a reason and changes nothing; every event carries the operator."""

from __future__ import annotations

from conftest import Harness, RunFn

from laneway.records import Command, Principal, PrincipalKind, Record, RecordKind

OPERATOR = Principal(PrincipalKind.HUMAN, "olga", roles=("operator",))
CLERK = Principal(PrincipalKind.HUMAN, "carl", roles=("clerk",))

LINE = """
<startEvent id="s"/>
<serviceTask id="a" laneway:type="w"/>
<serviceTask id="b" laneway:type="w"/>
<serviceTask id="c" laneway:type="w"/>
<endEvent id="e"/>
@ s -> a -> b -> c -> e
"""

NESTED = """
<startEvent id="s"/>
<serviceTask id="a" laneway:type="w"/>
<subProcess id="sub">
  <startEvent id="ss"/>
  <serviceTask id="inner" laneway:type="w"/>
  <serviceTask id="inner2" laneway:type="w"/>
  <endEvent id="se"/>
  @ ss -> inner -> inner2 -> se
</subProcess>
<endEvent id="e"/>
@ s -> a -> sub -> e
"""


def _one(records: list[Record]) -> Record:
    [rejection] = [r for r in records if r.kind == RecordKind.REJECTION]
    return rejection


def _key(h: Harness, element_id: str) -> int:
    inst = h.runner.engine.state.instances[h.iid]
    [key] = [e.key for e in inst.elements.values() if e.element_id == element_id]
    return key


def _live(h: Harness, iid: str | None = None) -> list[str]:
    inst = h.runner.engine.state.instances[iid or h.iid]
    return sorted(e.element_id for e in inst.elements.values() if e.kind != "process")


# -- cancel --------------------------------------------------------------------------------

def test_cancelling_a_parent_cancels_the_instance_its_call_activity_started(run: RunFn) -> None:
    child = """
    <process id="child" isExecutable="true">
      <startEvent id="cs"/><userTask id="work"/><endEvent id="ce"/>
      @ cs -> work -> ce
    </process>"""
    h = run("""
    <startEvent id="s"/><callActivity id="call" calledElement="child"/><endEvent id="e"/>
    @ s -> call -> e
    """, also=(child,))
    [parent, kid] = h.instance_ids()
    assert h.status(kid) == "WAITING"
    out = h.send(Command.CANCEL_INSTANCE, parent, {}, principal=OPERATOR)
    assert h.status(parent) == "TERMINATED"
    assert h.status(kid) == "TERMINATED"
    assert ("USER_TASK_CANCELED", "work") in h.trail("USER_TASK_CANCELED", iid=kid)
    # the child's events carry the operator who cancelled the parent
    assert {r.principal.id for r in out if r.instance_id == kid and r.kind == "EVENT"} \
        == {"olga"}


# -- set variables -------------------------------------------------------------------------

def test_set_variables_in_the_instance_and_locally_in_a_scope(run: RunFn) -> None:
    h = run(NESTED, variables={"x": 1})
    h.complete_job("a")
    sub = _key(h, "sub")
    h.send(Command.SET_VARIABLES, h.iid, {"variables": {"x": 2, "y": "new"}},
           principal=OPERATOR)
    h.send(Command.SET_VARIABLES, h.iid, {"scopeKey": sub, "variables": {"z": 3},
                                          "local": True}, principal=OPERATOR)
    # not local: x exists at the process level, so it goes there from the subprocess too
    h.send(Command.SET_VARIABLES, h.iid, {"scopeKey": sub, "variables": {"x": 5}},
           principal=OPERATOR)
    inst = h.runner.engine.state.instances[h.iid]
    assert inst.variables[inst.root_key] == {"x": 5, "y": "new"}
    assert inst.variables[sub] == {"z": 3}
    updates = h.events("VARIABLES_UPDATED")[-3:]
    assert [u.principal.id for u in updates] == ["olga"] * 3
    h.complete_job("inner")
    h.complete_job("inner2")
    assert h.variables(h.iid)["x"] == 5
    assert "z" not in h.variables(h.iid)  # it lived and ended with the subprocess


def test_set_variables_is_refused_for_an_unknown_scope_an_ended_instance_or_a_clerk(
    run: RunFn,
) -> None:
    h = run(LINE)
    assert _one(h.send(Command.SET_VARIABLES, h.iid, {"scopeKey": 999, "variables": {"x": 1}},
                       principal=OPERATOR)).value["rejectionType"] == "NOT_FOUND"
    assert _one(h.send(Command.SET_VARIABLES, h.iid, {"variables": "x"}, principal=OPERATOR)
                ).value["rejectionType"] == "INVALID_ARGUMENT"
    assert _one(h.send(Command.SET_VARIABLES, h.iid, {"variables": {}}, principal=OPERATOR)
                ).value["rejectionType"] == "INVALID_ARGUMENT"
    assert _one(h.send(Command.SET_VARIABLES, h.iid, {"variables": {"x": float("nan")}},
                       principal=OPERATOR)).value["rejectionType"] == "INVALID_ARGUMENT"
    refused = _one(h.send(Command.SET_VARIABLES, h.iid, {"variables": {"x": 1}},
                          principal=CLERK))
    assert refused.value["rejectionType"] == "FORBIDDEN"
    assert "operator" in refused.value["reason"]
    assert h.events("VARIABLES_UPDATED") == []
    h.cancel(h.iid)
    assert _one(h.send(Command.SET_VARIABLES, h.iid, {"variables": {"x": 1}},
                       principal=OPERATOR)).value["rejectionType"] == "INVALID_STATE"


# -- modify ----------------------------------------------------------------------------------

def test_move_a_token_skips_a_step(run: RunFn) -> None:
    h = run(LINE)
    out = h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "MOVE", "fromElementId": "a", "elementId": "c", "variables": {"why": "skip"}}]},
        principal=OPERATOR)
    assert out[0].intent == "INSTANCE_MODIFIED"
    assert out[0].principal.id == "olga"
    assert ("JOB_CANCELED", "a") in h.trail("JOB_CANCELED")
    assert _live(h) == ["c"]
    h.complete_job("c")
    assert h.activated() == ["p", "s", "a", "c", "e"]
    assert h.status(h.iid) == "COMPLETED"
    assert h.variables(h.iid) == {"why": "skip"}


def test_activate_and_terminate_in_one_modification(run: RunFn) -> None:
    h = run(LINE)
    a = _key(h, "a")
    h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "ACTIVATE", "elementId": "b"},
        {"type": "ACTIVATE", "elementId": "c"},
        {"type": "TERMINATE", "elementInstanceKey": a}]}, principal=OPERATOR)
    # terminations first, then the activations in the order given
    assert h.trail("ELEMENT_TERMINATED", "ELEMENT_ACTIVATED")[-3:] == [
        ("ELEMENT_TERMINATED", "a"), ("ELEMENT_ACTIVATED", "b"), ("ELEMENT_ACTIVATED", "c")]
    assert _live(h) == ["b", "c"]


def test_terminate_by_element_id_ends_every_live_instance_of_it(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/><parallelGateway id="fork"/>
    <serviceTask id="a" laneway:type="w"/><serviceTask id="b" laneway:type="w"/>
    <endEvent id="e1"/><endEvent id="e2"/>
    @ s -> fork -> a -> e1
    @ fork -> b -> e2
    """)
    h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "ACTIVATE", "elementId": "a"}]}, principal=OPERATOR)
    assert _live(h) == ["a", "a", "b"]
    h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "TERMINATE", "elementId": "a"}]}, principal=OPERATOR)
    assert _live(h) == ["b"]
    assert h.terminated() == ["a", "a"]
    refused = _one(h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "TERMINATE", "elementId": "a"}]}, principal=OPERATOR))
    assert "a live instance of 'a' to terminate" in refused.value["reason"]


def test_terminating_the_last_element_completes_the_instance(run: RunFn) -> None:
    h = run(LINE)
    h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "TERMINATE", "elementInstanceKey": _key(h, "a")}]}, principal=OPERATOR)
    assert h.status(h.iid) == "COMPLETED"
    assert h.completed() == ["s", "p"]


def test_activating_inside_a_subprocess_creates_its_scope_once(run: RunFn) -> None:
    h = run(NESTED)
    h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "ACTIVATE", "elementId": "inner2", "variables": {"v": 1}},
        {"type": "TERMINATE", "elementInstanceKey": _key(h, "a")}]}, principal=OPERATOR)
    assert _live(h) == ["inner2", "sub"]
    # no start event ran inside: the element named started there
    assert "ss" not in h.activated()
    assert "inner" not in h.activated()
    sub = _key(h, "sub")
    assert h.runner.engine.state.instances[h.iid].variables[sub] == {"v": 1}
    h.complete_job("inner2")
    assert h.status(h.iid) == "COMPLETED"
    assert h.activated()[-3:] == ["inner2", "se", "e"]


def test_modification_is_refused_whole_with_every_reason(run: RunFn) -> None:
    h = run(NESTED)
    h.complete_job("a")
    before = len(h.events())
    refused = _one(h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "ACTIVATE", "elementId": "e"},  # fine on its own
        {"type": "ACTIVATE", "elementId": "nope"},
        {"type": "TERMINATE", "elementInstanceKey": 999},
        {"type": "TERMINATE", "elementInstanceKey": 1},
        {"type": "JUMP"}]}, principal=OPERATOR))
    reason = refused.value["reason"]
    assert refused.value["rejectionType"] == "INVALID_ARGUMENT"
    assert "4 do not" in reason
    assert "'nope'" in reason
    assert "999" in reason
    assert "cancel it" in reason
    assert "JUMP" in reason
    assert len(h.events()) == before
    # an activation into the subprocess this modification terminates would be lost
    refused = _one(h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "TERMINATE", "elementInstanceKey": _key(h, "sub")},
        {"type": "ACTIVATE", "elementId": "inner2"}]}, principal=OPERATOR))
    assert "terminates" in refused.value["reason"]
    assert _one(h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "ACTIVATE", "elementId": "e"}]}, principal=CLERK)
                ).value["rejectionType"] == "FORBIDDEN"
    assert len(h.events()) == before


def test_activating_in_a_subprocess_with_two_live_instances_needs_a_scope_key(
    run: RunFn,
) -> None:
    h = run(NESTED)
    h.complete_job("a")
    h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "ACTIVATE", "elementId": "sub"}]}, principal=OPERATOR)
    subs = sorted(k for k, e in h.runner.engine.state.instances[h.iid].elements.items()
                  if e.element_id == "sub")
    assert len(subs) == 2
    refused = _one(h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "ACTIVATE", "elementId": "inner2"}]}, principal=OPERATOR))
    assert "scopeKey" in refused.value["reason"]
    h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "ACTIVATE", "elementId": "inner2", "scopeKey": subs[1]}]}, principal=OPERATOR)
    inst = h.runner.engine.state.instances[h.iid]
    [added] = [e for e in inst.elements.values() if e.element_id == "inner2"]
    assert added.scope_key == subs[1]


def test_an_element_in_a_multi_instance_activity_or_a_boundary_event_is_refused(
    run: RunFn,
) -> None:
    h = run("""
    <startEvent id="s"/>
    <subProcess id="each">
      <multiInstanceLoopCharacteristics>
        <loopCardinality>2</loopCardinality>
      </multiInstanceLoopCharacteristics>
      <startEvent id="es"/><serviceTask id="t" laneway:type="w"/><endEvent id="ee"/>
      @ es -> t -> ee
    </subProcess>
    <boundaryEvent id="late" attachedToRef="each">
      <timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition>
    </boundaryEvent>
    <endEvent id="e"/><endEvent id="e2"/>
    @ s -> each -> e
    @ late -> e2
    """)
    refused = _one(h.send(Command.MODIFY_INSTANCE, h.iid, {"instructions": [
        {"type": "ACTIVATE", "elementId": "t"},
        {"type": "ACTIVATE", "elementId": "late"},
        {"type": "TERMINATE", "elementInstanceKey": min(
            k for k, e in h.runner.engine.state.instances[h.iid].elements.items()
            if e.element_id == "each" and e.kind == "subProcess")}]}, principal=OPERATOR))
    reason = refused.value["reason"]
    assert "2 live instances" in reason or "ambiguous" in reason
    assert "boundary event" in reason
    assert "terminate its body" in reason


# -- migrate ----------------------------------------------------------------------------------

V1 = """
<message id="m" name="go"><extensionElements>
  <zeebe:subscription correlationKey="=orderId"/></extensionElements></message>
<startEvent id="s"/>
<userTask id="review"/>
<boundaryEvent id="late" attachedToRef="review" cancelActivity="false">
  <timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition>
</boundaryEvent>
<intermediateCatchEvent id="wait"><messageEventDefinition messageRef="m"/>
</intermediateCatchEvent>
<parallelGateway id="fork"/>
<serviceTask id="remind" laneway:type="w"/>
<endEvent id="e"/><endEvent id="e2"/><endEvent id="e3"/>
@ s -> fork -> review -> e
@ fork -> wait -> e3
@ late -> remind -> e2
"""

# version 2: the task renamed (check), a new step after it, the message renamed
V2 = """
<message id="m" name="go2"><extensionElements>
  <zeebe:subscription correlationKey="=orderId"/></extensionElements></message>
<startEvent id="s"/>
<userTask id="check"/>
<boundaryEvent id="late" attachedToRef="check" cancelActivity="false">
  <timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition>
</boundaryEvent>
<intermediateCatchEvent id="wait"><messageEventDefinition messageRef="m"/>
</intermediateCatchEvent>
<parallelGateway id="fork"/>
<serviceTask id="remind" laneway:type="w"/>
<serviceTask id="archive" laneway:type="w"/>
<endEvent id="e"/><endEvent id="e2"/><endEvent id="e3"/>
@ s -> fork -> check -> archive -> e
@ fork -> wait -> e3
@ late -> remind -> e2
"""


def _start_v1(run: RunFn, v2: str = V2) -> Harness:
    h = run(V1, start=False, also=(v2,))
    h.send(Command.START_INSTANCE, "i1", {"processId": "p", "version": 1,
                                          "variables": {"orderId": "o-1"}})
    h.iid = "i1"
    return h


def test_migrate_keeps_tasks_and_timers_and_resubscribes_a_changed_message(
    run: RunFn,
) -> None:
    h = _start_v1(run)
    task_key = h.last("USER_TASK_CREATED", "review").value["key"]
    timer = h.timer("late")
    out = h.send(Command.MIGRATE_INSTANCE, "i1", {"targetVersion": 2,
                                                  "mappings": {"review": "check"}},
                 principal=OPERATOR)
    migrated = [r for r in out if r.intent == "INSTANCE_MIGRATED"]
    assert migrated
    assert migrated[0].principal.id == "olga"
    inst = h.runner.engine.state.instances["i1"]
    assert inst.version == 2
    assert inst.user_tasks[task_key].element_id == "check"
    # the timer runs on, due when it was; the message subscription waits for the new name
    assert [t.due for t in inst.timers.values()] == [timer.value["due"]]
    assert "TIMER_CANCELED" not in {r.intent for r in out}
    assert [s.name for s in inst.message_subs.values()] == ["go2"]
    assert [r.intent for r in out if r.intent.startswith("PROCESS_MESSAGE")] == [
        "PROCESS_MESSAGE_SUBSCRIPTION_CLOSED", "PROCESS_MESSAGE_SUBSCRIPTION_OPENED"]
    # the old message no longer reaches it, the new one does
    h.publish("go", "o-1")
    assert "wait" in _live(h, "i1")
    h.publish("go2", "o-1")
    assert "wait" not in _live(h, "i1")
    # the kept timer fires from the renamed task; the task completes and the token
    # follows version 2
    h.fire_timer("late", iid="i1")
    h.complete_job("remind", iid="i1")
    h.send(Command.COMPLETE_USER_TASK, "i1", {"taskKey": task_key})
    assert h.activated("i1")[-1] == "archive"
    h.complete_job("archive", iid="i1")
    assert h.status("i1") == "COMPLETED"


def test_migration_is_refused_with_every_reason_and_changes_nothing(run: RunFn) -> None:
    h = _start_v1(run)
    before = len(h.events())
    refused = _one(h.send(Command.MIGRATE_INSTANCE, "i1", {"targetVersion": 2},
                          principal=OPERATOR))
    assert refused.value["rejectionType"] == "INVALID_STATE"
    assert "'review'" in refused.value["reason"]
    assert "map it" in refused.value["reason"]
    refused = _one(h.send(Command.MIGRATE_INSTANCE, "i1", {
        "targetVersion": 2, "mappings": {"review": "remind"}}, principal=OPERATOR))
    assert "serviceTask, not a userTask" in refused.value["reason"]
    assert _one(h.send(Command.MIGRATE_INSTANCE, "i1", {"targetVersion": 7},
                       principal=OPERATOR)).value["rejectionType"] == "NOT_FOUND"
    assert _one(h.send(Command.MIGRATE_INSTANCE, "i1", {"targetVersion": 1},
                       principal=OPERATOR)).value["rejectionType"] == "INVALID_ARGUMENT"
    assert _one(h.send(Command.MIGRATE_INSTANCE, "i1", {
        "targetVersion": 2, "mappings": {"review": "check"}}, principal=CLERK)
                ).value["rejectionType"] == "FORBIDDEN"
    assert len(h.events()) == before
    assert h.runner.engine.state.instances["i1"].version == 1


def test_migration_refuses_an_element_that_would_change_its_scope(run: RunFn) -> None:
    v2 = """
    <startEvent id="s"/>
    <subProcess id="sub"><startEvent id="ss"/><serviceTask id="a" laneway:type="w"/>
      @ ss -> a
    </subProcess>
    @ s -> sub
    """
    h = run("""
    <startEvent id="s"/><serviceTask id="a" laneway:type="w"/>
    @ s -> a
    """, start=False, also=(v2,))
    h.send(Command.START_INSTANCE, "i1", {"processId": "p", "version": 1})
    refused = _one(h.send(Command.MIGRATE_INSTANCE, "i1", {"targetVersion": 2},
                          principal=OPERATOR))
    assert "its scope maps to" in refused.value["reason"]


def test_a_boundary_timer_the_target_adds_begins_to_wait(run: RunFn) -> None:
    v2 = LINE.replace('<endEvent id="e"/>', """<endEvent id="e"/>
    <boundaryEvent id="slow" attachedToRef="a">
      <timerEventDefinition><timeDuration>PT5M</timeDuration></timerEventDefinition>
    </boundaryEvent><endEvent id="gaveup"/>
    @ slow -> gaveup""")
    h = run(LINE, start=False, also=(v2,))
    h.send(Command.START_INSTANCE, "i1", {"processId": "p", "version": 1})
    h.iid = "i1"
    h.send(Command.MIGRATE_INSTANCE, "i1", {"targetVersion": 2}, principal=OPERATOR)
    h.fire_timer("slow", iid="i1")
    assert h.status("i1") == "COMPLETED"
    assert h.activated("i1")[-2:] == ["slow", "gaveup"]
