"""Ad-hoc subprocesses (BPMN 2.0.2 10.3.5), the agent workspace: the inner activities without
flows run as chosen while the subprocess runs, by a decision handler (`laneway:decision`) or,
without one, by the engine (each once, in document order; one at a time when Sequential, all
at once when Parallel). The completion condition is evaluated after each inner activity;
`cancelRemainingInstances` says whether what still runs is terminated then. Every choice is
an AD_HOC_DECIDED event carrying who decided."""

from __future__ import annotations

from conftest import Harness, RunFn, document

from laneway.bpmn import parse, validate
from laneway.engine.limits import Limits
from laneway.records import Command, Principal, PrincipalKind, RecordKind


def adhoc(attrs: str = "", inner: str = "", condition: str = "") -> str:
    cond = (f'<completionCondition xsi:type="tFormalExpression">{condition}'
            "</completionCondition>" if condition else "")
    return f"""
    <startEvent id="s"/>
    <adHocSubProcess id="work" {attrs}>
      <userTask id="a" name="Gather facts"><documentation>Read the file</documentation></userTask>
      <userTask id="b" name="Call the client"/>
      <userTask id="c" name="Write it up"/>
      {inner}
      {cond}
    </adHocSubProcess>
    <userTask id="after"/>
    <endEvent id="e"/>
    @ s -> work -> after -> e
    """


def _inner(h: Harness) -> list[str]:
    return [e for e in h.activated() if e in {"a", "b", "c", "d"}]


def test_sequential_without_a_handler_runs_each_activity_once_in_document_order(
        run: RunFn) -> None:
    h = run(adhoc('ordering="Sequential"'))
    assert _inner(h) == ["a"]
    h.complete_task("a")
    assert _inner(h) == ["a", "b"]
    h.complete_task("b")
    h.complete_task("c")
    assert _inner(h) == ["a", "b", "c"]
    assert h.activated()[-1] == "after"
    assert [r.value["activities"] for r in h.events("AD_HOC_DECIDED")] == [["a"], ["b"], ["c"]]
    assert {r.value["decidedBy"] for r in h.events("AD_HOC_DECIDED")} == {"engine"}
    h.complete_task("after")
    assert h.status(h.iid) == "COMPLETED"


def test_parallel_without_a_handler_starts_every_activity_at_once(run: RunFn) -> None:
    h = run(adhoc('ordering="Parallel"'))
    assert _inner(h) == ["a", "b", "c"]
    h.complete_task("c")
    h.complete_task("a")
    assert "after" not in h.activated()
    h.complete_task("b")
    assert h.completed()[-1] == "work"
    assert h.activated()[-1] == "after"


def test_the_completion_condition_cancels_what_still_runs_by_default(run: RunFn) -> None:
    h = run(adhoc('ordering="Parallel"', condition="=enough"), variables={"enough": False})
    h.complete_task("b", {"enough": True})
    assert sorted(h.terminated()) == ["a", "c"]
    assert h.completed()[-1] == "work"
    assert h.activated()[-1] == "after"
    assert h.last("AD_HOC_DECIDED", "work").value == {
        "activities": [], "done": True, "decidedBy": "completionCondition"}


def test_without_cancel_remaining_the_subprocess_waits_for_what_runs(run: RunFn) -> None:
    h = run(adhoc('ordering="Parallel" cancelRemainingInstances="false"', condition="=enough"),
            variables={"enough": False})
    h.complete_task("b", {"enough": True})
    assert h.terminated() == []
    assert "after" not in h.activated()
    h.complete_task("a")
    assert "after" not in h.activated()
    h.complete_task("c")
    assert h.activated()[-1] == "after"


def test_the_completion_condition_ends_a_sequential_run_early(run: RunFn) -> None:
    h = run(adhoc('ordering="Sequential"', condition="=done"), variables={"done": False})
    h.complete_task("a", {"done": True})
    assert _inner(h) == ["a"]
    assert h.activated()[-1] == "after"


def test_inner_flows_are_followed_as_usual(run: RunFn) -> None:
    h = run(adhoc('ordering="Sequential"', inner="""
      <userTask id="d"/>
      <sequenceFlow id="a_d" sourceRef="a" targetRef="d"/>"""))
    h.complete_task("a")
    # d follows a by its flow before the engine chooses b
    assert _inner(h) == ["a", "d"]
    h.complete_task("d")
    assert _inner(h) == ["a", "d", "b"]


HANDLED = adhoc('ordering="Sequential" laneway:decision="handler"', condition="=false")
AGENT = Principal(kind=PrincipalKind.AGENT, id="planner-token")


def _decide(h: Harness, activities: list[str], done: bool = False,
            variables: dict[str, object] | None = None,
            principal: Principal | None = AGENT) -> list:  # type: ignore[type-arg]
    job = h.job("work")
    return h.send(Command.SUBMIT_DECISION, h.iid, {
        "jobKey": job.value["key"], "activities": activities, "done": done,
        "variables": variables or {}}, principal=principal)


def test_a_handler_is_asked_with_the_activities_that_can_start(run: RunFn) -> None:
    h = run(HANDLED)
    job = h.job("work")
    assert job.value["type"] == "decision"
    assert job.value["decision"] is True
    assert job.value["adHoc"] is True
    assert job.value["ordering"] == "Sequential"
    assert [(a["id"], a["name"], a["kind"], a["runs"]) for a in job.value["activities"]] == [
        ("a", "Gather facts", "userTask", 0), ("b", "Call the client", "userTask", 0),
        ("c", "Write it up", "userTask", 0)]
    assert job.value["activities"][0]["documentation"] == "Read the file"
    assert _inner(h) == []


def test_the_handler_chooses_the_order_and_how_often(run: RunFn) -> None:
    h = run(HANDLED)
    assert [r for r in _decide(h, ["c"]) if r.kind == RecordKind.REJECTION] == []
    assert _inner(h) == ["c"]
    h.complete_task("c")
    job = h.job("work")
    assert {a["id"]: a["runs"] for a in job.value["activities"]} == {"a": 0, "b": 0, "c": 1}
    _decide(h, ["c"])
    h.complete_task("c")
    _decide(h, ["a"], variables={"plan": "facts last"})
    h.complete_task("a")
    assert _inner(h) == ["c", "c", "a"]
    assert "after" not in h.activated()
    _decide(h, [], done=True)
    assert h.activated()[-1] == "after"
    assert h.variables(h.iid)["plan"] == "facts last"
    decided = h.events("AD_HOC_DECIDED")
    assert [(r.value["activities"], r.value["done"], r.value["decidedBy"]) for r in decided] == [
        (["c"], False, "handler"), (["c"], False, "handler"), (["a"], False, "handler"),
        ([], True, "handler")]
    # each choice carries the principal whose answer it was
    assert {(r.principal.kind, r.principal.id) for r in decided if r.principal} == {
        ("agent", "planner-token")}


def test_a_person_may_answer_and_the_audit_names_them(run: RunFn) -> None:
    h = run(HANDLED)
    carla = Principal(kind=PrincipalKind.HUMAN, id="carla")
    _decide(h, ["b"], principal=carla)
    decided = h.last("AD_HOC_DECIDED", "work")
    assert decided.principal is not None
    assert decided.principal.id == "carla"


def test_sequential_answers_naming_several_activities_are_refused(run: RunFn) -> None:
    h = run(HANDLED)
    [rejection] = _decide(h, ["a", "b"])
    assert rejection.kind == RecordKind.REJECTION
    assert "sequential" in rejection.value["reason"]
    assert _inner(h) == []


def test_unknown_activities_and_empty_answers_are_refused(run: RunFn) -> None:
    h = run(HANDLED)
    [unknown] = _decide(h, ["after"])
    assert unknown.kind == RecordKind.REJECTION
    assert "after" in unknown.value["reason"]
    [empty] = _decide(h, [])
    assert empty.kind == RecordKind.REJECTION
    assert "nothing runs" in empty.value["reason"]
    assert h.status(h.iid) == "WAITING"


def test_parallel_handler_is_asked_again_after_each_completion(run: RunFn) -> None:
    h = run(adhoc('laneway:decision="handler"', condition="=count(facts) >= 2"),
            variables={"facts": []})
    _decide(h, ["a", "b"])
    assert _inner(h) == ["a", "b"]
    h.complete_task("a", {"facts": [1]})
    # b still runs; the handler is asked again and may start c beside it
    assert h.job("work").value["running"] == ["b"]
    _decide(h, ["c"])
    assert _inner(h) == ["a", "b", "c"]
    h.complete_task("c", {"facts": [1, 2]})
    # the completion condition holds: b is terminated, and the handler is not asked again
    assert h.terminated() == ["b"]
    assert h.activated()[-1] == "after"
    assert len(h.events("JOB_CREATED", "work")) == 2


def test_a_handler_that_never_finishes_gets_an_incident_at_the_limit() -> None:
    # a harness of its own: the determinism check replays with the default limits
    h = Harness(document(HANDLED))
    h.runner.engine.limits = Limits(max_adhoc_decisions=2)
    h.start()
    _decide(h, ["a"])
    h.complete_task("a")
    _decide(h, ["b"])
    h.complete_task("b")
    assert h.status(h.iid) == "INCIDENT"
    incident = h.last("INCIDENT_CREATED", "work")
    assert "at most 2 choices" in incident.value["message"]
    assert h.events("JOB_CREATED", "work")[2:] == []


def test_a_connector_decides_when_laneway_decision_names_it(run: RunFn) -> None:
    h = run(adhoc('ordering="Sequential" laneway:decision="llm"'))
    assert h.job("work").value["type"] == "llm"


def test_the_mark_is_accepted_on_an_ad_hoc_subprocess_at_validation() -> None:
    result = validate(parse(document(adhoc('laneway:decision="llm"')).encode(), "a.bpmn"))
    assert [p for p in result if "laneway:decision" in p.message] == []


PARALLEL = adhoc('laneway:decision="handler"', condition="=false")


def test_a_stale_wait_answer_in_parallel_asks_again(run: RunFn) -> None:
    """The handler was asked while b ran and answered "wait for what runs"; b finished
    meanwhile. The answer is accepted and, since nothing runs, a new decision job asks
    again (no instance left waiting on nothing)."""
    h = run(PARALLEL)
    _decide(h, ["a", "b"])
    h.complete_task("a")
    asked = h.job("work")
    assert asked.value["running"] == ["b"]
    h.complete_task("b")  # finishes while the handler thinks
    assert len(h.events("JOB_CREATED", "work")) == 2
    answer = h.send(Command.SUBMIT_DECISION, h.iid, {
        "jobKey": asked.value["key"], "activities": [], "done": False}, principal=AGENT)
    assert [r for r in answer if r.kind == RecordKind.REJECTION] == []
    assert [r.intent for r in answer if r.intent in ("JOB_COMPLETED", "AD_HOC_DECIDED",
                                                     "JOB_CREATED")] == [
        "JOB_COMPLETED", "AD_HOC_DECIDED", "JOB_CREATED"]
    again = h.job("work")
    assert len(h.events("JOB_CREATED", "work")) == 3
    assert again.value["running"] == []
    assert again.value["decisions"] == 2
    _decide(h, ["c"])
    h.complete_task("c")
    _decide(h, [], done=True)
    assert h.activated()[-1] == "after"
    assert _inner(h) == ["a", "b", "c"]


def test_a_loop_of_wait_answers_in_parallel_ends_in_the_limits_incident() -> None:
    h = Harness(document(PARALLEL))
    h.runner.engine.limits = Limits(max_adhoc_decisions=3)
    h.start()
    for _ in range(3):
        assert [r for r in _decide(h, []) if r.kind == RecordKind.REJECTION] == []
    assert h.status(h.iid) == "INCIDENT"
    incident = h.last("INCIDENT_CREATED", "work")
    assert "at most 3 choices" in incident.value["message"]
    assert len(h.events("JOB_CREATED", "work")) == 3
