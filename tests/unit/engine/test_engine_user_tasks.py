"""User tasks and the people on them: personas on lanes, candidates, claims, escalation; and
retired definition versions. Every command here goes through the engine's checks, so a test
that says "completes" names who completes it."""

from __future__ import annotations

from typing import Any

from conftest import Harness, RunFn, document

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.engine.state import UserTask
from laneway.records import Command, Principal, PrincipalKind, Record

START = 1_767_225_600_000


def person(id_: str, *, personas: tuple[str, ...] = (), groups: tuple[str, ...] = (),
           roles: tuple[str, ...] = ()) -> Principal:
    claims: dict[str, Any] = {}
    if personas:
        claims["personas"] = list(personas)
    if groups:
        claims["groups"] = list(groups)
    return Principal(PrincipalKind.HUMAN, id_, roles, claims)


ANA = person("ana", personas=("Case Worker",))
BEN = person("ben", personas=("case-worker",))
CARLA = person("carla", personas=("supervisor",))

LANES = """
<laneSet id="ls">
  <lane id="workers" name="Workers" laneway:persona="Case Worker">
    <flowNodeRef>review</flowNodeRef>
  </lane>
</laneSet>
<startEvent id="s"/>
<userTask id="review" name="Review the case" acme:prio="high"/>
<endEvent id="e"/>
@ s -> review -> e
"""


def task_key(h: Harness, element_id: str = "review") -> int:
    return int(h.last("USER_TASK_CREATED", element_id).value["key"])


def rejection(records: list[Record]) -> Record:
    found = [r for r in records if r.kind.value == "REJECTION"]
    assert len(found) == 1, f"Expected one rejection, but got {[r.intent for r in records]}"
    return found[0]


def open_task(h: Harness, element_id: str = "review") -> UserTask:
    inst = h.runner.engine.state.instances[h.iid]
    tasks = [t for t in inst.user_tasks.values() if t.element_id == element_id]
    assert len(tasks) == 1, f"Expected one open task at {element_id}, but got {tasks}"
    return tasks[0]


# --- what USER_TASK_CREATED carries ---------------------------------------------------------

def test_created_task_carries_lane_persona_and_where_it_comes_from(run: RunFn) -> None:
    h = run(LANES)
    value = h.last("USER_TASK_CREATED", "review").value
    assert value["persona"] == "Case Worker"
    assert (value["lane"], value["laneId"]) == ("Workers", "workers")
    assert (value["processId"], value["version"]) == ("p", 1)
    assert value["elementName"] == "Review the case"
    assert value["attributes"] == {"acme:prio": "high"}
    assert "dueDate" not in value
    assert "assignee" not in value


def test_a_task_in_no_lane_asks_for_no_persona(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/><userTask id="review"/><endEvent id="e"/>
    @ s -> review -> e
    """)
    assert h.last("USER_TASK_CREATED", "review").value["persona"] is None
    h.complete_task("review", principal=person("anyone"))
    assert h.status(h.iid) == "COMPLETED"


# --- the persona check ------------------------------------------------------------------------

def test_a_person_with_the_lane_persona_completes_the_task(run: RunFn) -> None:
    h = run(LANES)
    recs = h.complete_task("review", {"ok": True}, principal=ANA)
    assert recs[0].intent == "USER_TASK_COMPLETED"
    assert recs[0].principal == ANA
    assert h.status(h.iid) == "COMPLETED"


def test_a_person_without_the_persona_is_refused_and_nothing_changes(run: RunFn) -> None:
    h = run(LANES)
    before = h.runner.engine.state.instances[h.iid].to_dict()
    refused = rejection(h.complete_task("review", {"ok": True}, principal=CARLA))
    assert refused.value["rejectionType"] == "FORBIDDEN"
    # the rejection names the element tried, so the audit shows it
    assert (refused.element_id, refused.element_type) == ("review", "userTask")
    reason = refused.value["reason"]
    for part in ("'carla'", "'Case Worker'", "'review'", "supervisor"):
        assert part in reason, reason
    assert refused.principal == CARLA
    assert h.runner.engine.state.instances[h.iid].to_dict() == before
    assert h.events("USER_TASK_COMPLETED") == []


def test_the_engine_itself_is_not_exempt(run: RunFn) -> None:
    h = run(LANES)
    refused = rejection(h.send(Command.COMPLETE_USER_TASK, h.iid,
                               {"taskKey": task_key(h)}, principal=h.records[0].principal))
    assert refused.value["rejectionType"] == "FORBIDDEN"
    assert "system 'engine'" in refused.value["reason"]


def test_an_unknown_task_is_not_found_before_any_persona_check(run: RunFn) -> None:
    h = run(LANES)
    refused = rejection(h.send(Command.COMPLETE_USER_TASK, h.iid, {"taskKey": 999},
                               principal=CARLA))
    assert refused.value["rejectionType"] == "NOT_FOUND"


NESTED = """
<laneSet id="ls">
  <lane id="office" name="Office" laneway:persona="clerk">
    <flowNodeRef>first</flowNodeRef><flowNodeRef>second</flowNodeRef>
    <childLaneSet id="inner">
      <lane id="desk" name="Desk"><flowNodeRef>first</flowNodeRef></lane>
      <lane id="senior" name="Senior" laneway:persona="senior clerk">
        <flowNodeRef>second</flowNodeRef></lane>
    </childLaneSet>
  </lane>
</laneSet>
<startEvent id="s"/><userTask id="first"/><userTask id="second"/><endEvent id="e"/>
@ s -> first -> second -> e
"""


def test_nested_lanes_the_innermost_lane_with_a_persona_decides(run: RunFn) -> None:
    h = run(NESTED)
    first = h.last("USER_TASK_CREATED", "first").value
    assert (first["laneId"], first["persona"]) == ("desk", "clerk")
    assert rejection(h.complete_task("first", principal=person(
        "sam", personas=("senior-clerk",)))).value["rejectionType"] == "FORBIDDEN"
    h.complete_task("first", principal=person("cal", personas=("CLERK",)))
    second = h.last("USER_TASK_CREATED", "second").value
    assert (second["laneId"], second["persona"]) == ("senior", "senior clerk")
    assert rejection(h.complete_task("second", principal=person(
        "cal", personas=("clerk",)))).value["rejectionType"] == "FORBIDDEN"
    h.complete_task("second", principal=person("sam", personas=("Senior_Clerk",)))
    assert h.status(h.iid) == "COMPLETED"


def _loaded(xml: str, personas: dict[str, str] | None = None) -> Any:
    def prepare(repo: DefinitionRepository) -> None:
        repo.load(parse(document(xml).encode(), "test.bpmn"), "p", 1, personas=personas)
    return prepare


def test_the_review_mapping_wins_over_the_lane_attribute(run: RunFn) -> None:
    h = run(NESTED, prepare=_loaded(NESTED, {"desk": "intake", "senior": "judge"}))
    assert h.last("USER_TASK_CREATED", "first").value["persona"] == "intake"
    assert rejection(h.complete_task("first", principal=person(
        "cal", personas=("clerk",)))).value["rejectionType"] == "FORBIDDEN"
    h.complete_task("first", principal=person("ivy", personas=("intake",)))
    assert h.last("USER_TASK_CREATED", "second").value["persona"] == "judge"


def test_a_mapped_outer_lane_covers_a_nested_lane_without_persona(run: RunFn) -> None:
    xml = NESTED.replace(' laneway:persona="clerk"', "")
    h = run(xml, prepare=_loaded(xml, {"office": "registrar"}))
    assert h.last("USER_TASK_CREATED", "first").value["persona"] == "registrar"


# --- candidates ---------------------------------------------------------------------------------

CANDIDATES = """
<startEvent id="s"/>
<userTask id="review" laneway:candidateGroups="Accounting, auditors"
          laneway:candidateUsers="zoe"/>
<endEvent id="e"/>
@ s -> review -> e
"""


def test_candidate_groups_admit_groups_roles_and_personas(run: RunFn) -> None:
    for who in (person("g", groups=("accounting",)), person("r", roles=("auditors",)),
                person("p", personas=("AUDITORS",)), person("zoe")):
        h = run(CANDIDATES)
        value = h.last("USER_TASK_CREATED", "review").value
        assert value["candidateGroups"] == ["Accounting", "auditors"]
        assert value["candidateUsers"] == ["zoe"]
        h.complete_task("review", principal=who)
        assert h.status(h.iid) == "COMPLETED", who


def test_someone_who_is_no_candidate_is_refused_with_the_candidates_named(run: RunFn) -> None:
    h = run(CANDIDATES)
    refused = rejection(h.complete_task("review", principal=person("max", groups=("sales",))))
    assert refused.value["rejectionType"] == "FORBIDDEN"
    for part in ("'max'", "group 'Accounting'", "user 'zoe'", "'review'"):
        assert part in refused.value["reason"], refused.value["reason"]


def test_persona_is_checked_before_candidates(run: RunFn) -> None:
    xml = LANES.replace('<userTask id="review"', '<userTask id="review" '
                        'laneway:candidateGroups="seniors"')
    h = run(xml)
    refused = rejection(h.complete_task("review", principal=person("x", groups=("seniors",))))
    assert "'Case Worker'" in refused.value["reason"]
    refused = rejection(h.complete_task("review", principal=ANA))
    assert "group 'seniors'" in refused.value["reason"]
    h.complete_task("review", principal=person("ana", personas=("case worker",),
                                               groups=("seniors",)))
    assert h.status(h.iid) == "COMPLETED"


# --- assignment and claims --------------------------------------------------------------------

def test_claimed_task_only_the_claimant_completes(run: RunFn) -> None:
    h = run(LANES)
    key = task_key(h)
    claimed = h.send(Command.CLAIM_USER_TASK, h.iid, {"taskKey": key}, principal=ANA)
    assert [(r.intent, r.value) for r in claimed] == [
        ("USER_TASK_CLAIMED", {"key": key, "claimant": "ana"})]
    assert open_task(h).claimant == "ana"
    refused = rejection(h.complete_task("review", principal=BEN))
    assert refused.value["rejectionType"] == "FORBIDDEN"
    assert "'ben'" in refused.value["reason"]
    assert "claimed by 'ana'" in refused.value["reason"]
    again = rejection(h.send(Command.CLAIM_USER_TASK, h.iid, {"taskKey": key}, principal=BEN))
    assert again.value["rejectionType"] == "ALREADY_CLAIMED"
    h.complete_task("review", principal=ANA)
    assert h.status(h.iid) == "COMPLETED"


def test_claiming_ones_own_task_again_is_answered_with_the_same_event(run: RunFn) -> None:
    h = run(LANES)
    key = task_key(h)
    h.send(Command.CLAIM_USER_TASK, h.iid, {"taskKey": key}, principal=ANA)
    again = h.send(Command.CLAIM_USER_TASK, h.iid, {"taskKey": key}, principal=ANA)
    assert [r.intent for r in again] == ["USER_TASK_CLAIMED"]


def test_claiming_needs_the_persona_too(run: RunFn) -> None:
    h = run(LANES)
    refused = rejection(h.send(Command.CLAIM_USER_TASK, h.iid, {"taskKey": task_key(h)},
                               principal=CARLA))
    assert refused.value["rejectionType"] == "FORBIDDEN"
    assert open_task(h).claimant is None


def test_unclaim_frees_the_task_for_someone_else(run: RunFn) -> None:
    h = run(LANES)
    key = task_key(h)
    not_claimed = rejection(h.send(Command.UNCLAIM_USER_TASK, h.iid, {"taskKey": key},
                                   principal=ANA))
    assert not_claimed.value["rejectionType"] == "NOT_CLAIMED"
    h.send(Command.CLAIM_USER_TASK, h.iid, {"taskKey": key}, principal=ANA)
    other = rejection(h.send(Command.UNCLAIM_USER_TASK, h.iid, {"taskKey": key},
                             principal=BEN))
    assert other.value["rejectionType"] == "FORBIDDEN"
    freed = h.send(Command.UNCLAIM_USER_TASK, h.iid, {"taskKey": key}, principal=ANA)
    assert [(r.intent, r.value) for r in freed] == [
        ("USER_TASK_UNCLAIMED", {"key": key, "claimant": "ana"})]
    assert open_task(h).claimant is None
    h.send(Command.CLAIM_USER_TASK, h.iid, {"taskKey": key}, principal=BEN)
    h.complete_task("review", principal=BEN)
    assert h.status(h.iid) == "COMPLETED"


def test_a_static_assignee_expression_is_evaluated_and_binds_the_task(run: RunFn) -> None:
    xml = LANES.replace('<userTask id="review"',
                        '<userTask id="review" camunda:assignee="${approver}" '
                        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"')
    h = run(xml, variables={"approver": "ben"})
    assert h.last("USER_TASK_CREATED", "review").value["assignee"] == "ben"
    refused = rejection(h.complete_task("review", principal=ANA))
    assert "assigned to 'ben'" in refused.value["reason"]
    claim = rejection(h.send(Command.CLAIM_USER_TASK, h.iid, {"taskKey": task_key(h)},
                             principal=ANA))
    assert claim.value["rejectionType"] == "ALREADY_CLAIMED"
    h.complete_task("review", principal=BEN)
    assert h.status(h.iid) == "COMPLETED"


def test_an_assignee_expression_that_fails_assigns_no_one(run: RunFn) -> None:
    xml = LANES.replace('<userTask id="review"', '<userTask id="review" '
                        'laneway:assignee=\'=substring(boss, "x")\'')
    h = run(xml, variables={"boss": "olga"})
    value = h.last("USER_TASK_CREATED", "review").value
    assert "assignee" not in value
    assert value["assignmentErrors"][0].startswith("'=substring(boss, \"x\")': Expected a number")
    h.complete_task("review", principal=BEN)
    assert h.status(h.iid) == "COMPLETED"


def test_an_assignee_expression_giving_null_assigns_no_one(run: RunFn) -> None:
    h = run(LANES.replace('<userTask id="review"', '<userTask id="review" '
                          'laneway:assignee="=upper case(missing)"'))
    value = h.last("USER_TASK_CREATED", "review").value
    assert "assignee" not in value
    assert "assignmentErrors" not in value


def test_the_local_runner_completes_as_a_person_who_fits_the_task(run: RunFn) -> None:
    h = run(LANES.replace('<userTask id="review"', '<userTask id="review" '
                          'laneway:assignee="=boss" laneway:candidateGroups="leads"'),
            variables={"boss": "olga"})
    recs = h.complete_task("review")
    actor = recs[0].principal
    assert (recs[0].intent, actor.id) == ("USER_TASK_COMPLETED", "olga")
    assert actor.personas == ("Case Worker",)
    assert actor.groups == ("leads",)


# --- canceling and escalation -----------------------------------------------------------------

def test_a_terminated_task_is_canceled_and_leaves_the_state(run: RunFn) -> None:
    h = run(LANES.replace('<endEvent id="e"/>', '''<endEvent id="e"/>
    <boundaryEvent id="late" attachedToRef="review">
      <timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition>
    </boundaryEvent>
    <endEvent id="e2"/>
    @ late -> e2'''))
    key = task_key(h)
    h.fire_timer("late")
    assert h.last("USER_TASK_CANCELED", "review").value["key"] == key
    assert h.runner.engine.state.instances[h.iid].user_tasks == {}
    assert rejection(h.complete_task("review", principal=ANA)).value["rejectionType"] in (
        "NOT_FOUND", "INVALID_STATE")


SLA = LANES.replace('<userTask id="review"', '<userTask id="review" laneway:slaMinutes="90" '
                    'laneway:escalationConnector="email"')


def test_due_date_comes_from_sla_minutes(run: RunFn) -> None:
    h = run(SLA)
    value = h.last("USER_TASK_CREATED", "review").value
    assert value["dueDate"] == START + 90 * 60_000
    assert value["escalationConnector"] == "email"
    assert open_task(h).due == START + 90 * 60_000


def test_escalation_before_due_is_refused(run: RunFn) -> None:
    h = run(SLA)
    refused = rejection(h.send(Command.ESCALATE_USER_TASK, h.iid, {"taskKey": task_key(h)},
                               at=START + 90 * 60_000 - 1))
    assert refused.value["rejectionType"] == "NOT_DUE"
    assert open_task(h).escalated is False


def test_escalation_once_with_a_notification_job_nothing_waits_on(run: RunFn) -> None:
    h = run(SLA)
    key = task_key(h)
    recs = h.send(Command.ESCALATE_USER_TASK, h.iid, {"taskKey": key}, at=START + 90 * 60_000)
    assert [r.intent for r in recs] == ["USER_TASK_ESCALATED", "JOB_CREATED"]
    job = recs[1].value
    assert job["type"] == "email"
    assert job["notification"] is True
    assert job["taskKey"] == key
    assert job["persona"] == "Case Worker"
    assert job["key"] > key
    inst = h.runner.engine.state.instances[h.iid]
    assert inst.jobs == {}
    assert inst.next_key == job["key"] + 1
    assert open_task(h).escalated is True
    again = rejection(h.send(Command.ESCALATE_USER_TASK, h.iid, {"taskKey": key}))
    assert again.value["rejectionType"] == "ALREADY_ESCALATED"
    # the notification's answer is not the task's: it is refused, the task waits on
    answer = rejection(h.send(Command.COMPLETE_JOB, h.iid, {"jobKey": job["key"]}))
    assert answer.value["rejectionType"] == "NOT_FOUND"
    h.complete_task("review", principal=ANA)
    assert h.status(h.iid) == "COMPLETED"


def test_escalation_without_a_connector_writes_only_the_escalation(run: RunFn) -> None:
    h = run(SLA.replace(' laneway:escalationConnector="email"', ""))
    recs = h.send(Command.ESCALATE_USER_TASK, h.iid, {"taskKey": task_key(h)},
                  at=START + 100 * 60_000)
    assert [r.intent for r in recs] == ["USER_TASK_ESCALATED"]


def test_a_task_without_sla_is_never_due(run: RunFn) -> None:
    h = run(LANES)
    refused = rejection(h.send(Command.ESCALATE_USER_TASK, h.iid, {"taskKey": task_key(h)}))
    assert refused.value["rejectionType"] == "NOT_DUE"
    assert "laneway:slaMinutes" in refused.value["reason"]


# --- retired versions -------------------------------------------------------------------------

V1 = LANES
V2 = LANES.replace('name="Review the case"', 'name="Review the case, v2"')


def _versions(retire: tuple[int, ...]) -> Any:
    def prepare(repo: DefinitionRepository) -> None:
        for version, xml in ((1, V1), (2, V2)):
            repo.load(parse(document(xml).encode(), "test.bpmn"), "p", version,
                      retired=version in retire)
    return prepare


def test_a_retired_version_is_refused_and_without_version_the_newest_live_one_starts(
    run: RunFn,
) -> None:
    h = run(V1, start=False, also=(V2,), prepare=_versions((2,)))
    refused = rejection(h.send(Command.START_INSTANCE, "i-2", {"processId": "p", "version": 2}))
    assert refused.value["rejectionType"] == "RETIRED"
    assert "retired" in refused.value["reason"]
    h.send(Command.START_INSTANCE, "i-any", {"processId": "p"})
    assert h.last("USER_TASK_CREATED", "review").value["version"] == 1


def test_every_version_retired_is_not_found_with_a_reason(run: RunFn) -> None:
    h = run(V1, start=False, also=(V2,), prepare=_versions((1, 2)))
    refused = rejection(h.send(Command.START_INSTANCE, "i", {"processId": "p"}))
    assert refused.value["rejectionType"] == "NOT_FOUND"
    assert "every version is" in refused.value["reason"]


def test_retiring_a_version_lets_its_instances_run_on() -> None:
    repo = DefinitionRepository()
    defs = parse(document(V1).encode(), "test.bpmn")
    assert repo.load(defs, "p", 1) is True
    from laneway.engine.runner import LocalRunner

    runner = LocalRunner(repo)
    iid = runner.start("p")
    runner.drain()
    assert repo.load(defs, "p", 1, retired=True) is True
    assert repo.load(defs, "p", 1, retired=True) is False
    assert repo.is_retired("p", 1)
    inst = runner.instance(iid)
    assert inst is not None
    runner.submit(Command.COMPLETE_USER_TASK, iid, {"taskKey": next(iter(inst.user_tasks))})
    runner.drain()
    assert runner.outcome(iid).status == "COMPLETED"


MESSAGE_START = """
<message id="m" name="go"/>
<startEvent id="s"><messageEventDefinition messageRef="m"/></startEvent>
<userTask id="t" name="NAME"/>
@ s -> t
"""


def test_message_starts_skip_retired_versions(run: RunFn) -> None:
    v1, v2 = MESSAGE_START.replace("NAME", "one"), MESSAGE_START.replace("NAME", "two")

    def prepare(retire: tuple[int, ...]) -> Any:
        def fill(repo: DefinitionRepository) -> None:
            for version, xml in ((1, v1), (2, v2)):
                repo.load(parse(document(xml).encode(), "test.bpmn"), "p", version,
                          retired=version in retire)
        return fill

    h = run(v1, start=False, also=(v2,), prepare=prepare((2,)))
    h.publish("go")
    assert [r.value["version"] for r in h.events("USER_TASK_CREATED")] == [1]
    h = run(v1, start=False, also=(v2,), prepare=prepare((1, 2)))
    h.publish("go")
    assert h.events("ELEMENT_ACTIVATED") == []


# --- state ----------------------------------------------------------------------------------

def test_a_snapshot_from_before_the_task_fields_still_loads() -> None:
    from laneway.engine.state import InstanceState

    old = {"instance_id": "i", "process_id": "p", "version": 1, "status": "ACTIVE",
           "business_key": None, "next_key": 3,
           "elements": {"1": {"key": 1, "element_id": "p", "kind": "process", "scope_key": 0}},
           "variables": {}, "joins": {}, "jobs": {},
           "user_tasks": {"2": {"key": 2, "element_key": 2}}, "timers": {},
           "message_subs": {}, "signal_subs": {}, "incidents": {}, "parent": None,
           "root_key": 1}
    task = InstanceState.from_dict(old).user_tasks[2]
    assert (task.persona, task.claimant, task.due, task.escalated) == (None, None, None, False)


def test_a_claimed_task_survives_the_state_topic_codec(run: RunFn) -> None:
    from laneway.codec.typed import StateSnapshot, decode_state, encode_state

    h = run(SLA.replace('<userTask id="review"', '<userTask id="review" '
                        'laneway:candidateGroups="a,b"'))
    h.send(Command.CLAIM_USER_TASK, h.iid, {"taskKey": task_key(h)},
           principal=person("ana", personas=("case worker",), groups=("a",)))
    inst = h.runner.engine.state.instances[h.iid]
    back = decode_state(encode_state(StateSnapshot.of(inst, START))).instance()
    assert back.user_tasks == inst.user_tasks
    assert open_task(h).claimant == "ana"


def test_a_call_activity_of_a_process_whose_versions_are_all_retired_raises_an_incident(
    run: RunFn,
) -> None:
    parent = """
    <startEvent id="s"/><callActivity id="call" calledElement="p"/>
    @ s -> call
    """

    def prepare(repo: DefinitionRepository) -> None:
        repo.load(parse(document(V1).encode(), "test.bpmn"), "p", 1, retired=True)
        repo.load(parse(document(parent, "parent").encode(), "test.bpmn"), "parent", 1)

    h = run(parent, process="parent", prepare=prepare)
    incident = h.last("INCIDENT_CREATED", "call").value
    assert incident["errorType"] == "CALLED_ELEMENT_ERROR"
    assert "retired" in incident["message"]


SLA_AGENT = Principal(PrincipalKind.AGENT, "worklist:sla")


def test_the_people_on_a_task_cannot_escalate_it_but_the_sla_agent_and_operators_can(
        run: RunFn) -> None:
    h = run(SLA)
    due = START + 90 * 60_000
    refused = rejection(h.send(Command.ESCALATE_USER_TASK, h.iid, {"taskKey": task_key(h)},
                               at=due, principal=ANA))
    assert refused.value["rejectionType"] == "FORBIDDEN"
    assert "human 'ana'" in refused.value["reason"]
    assert open_task(h).escalated is False
    operator = person("olga", roles=("operator",))
    assert [r.intent for r in h.send(Command.ESCALATE_USER_TASK, h.iid,
                                     {"taskKey": task_key(h)}, principal=operator)
            ] == ["USER_TASK_ESCALATED", "JOB_CREATED"]
    other = run(SLA)
    assert [r.intent for r in other.send(Command.ESCALATE_USER_TASK, other.iid,
                                         {"taskKey": task_key(other)}, at=due,
                                         principal=SLA_AGENT)
            ] == ["USER_TASK_ESCALATED", "JOB_CREATED"]
