"""Third-party corpus diagrams run to the outcome their source projects' own tests expect.

COUNT

Each case below names the corpus file, the source test it follows, what that test feeds the
diagram (variables, task completions, job answers, messages, signals, timers) and what the test
asserts (status, which elements complete and in which order, final variables). Conditions and
scripts written for the other engines (Python for SpiffWorkflow, JavaScript for bpmn-engine and
bpmn-elements, JUEL or Groovy for Camunda 7 and Flowable) are translated by hand in each case.
Plain `task`s, which SpiffWorkflow and the JS engines treat as manual steps, pass straight
through in Laneway, so a test's "complete task X" becomes "X completes".

Attribution: the corpus files are byte-exact copies of files in public repositories, read in
place from `../shared/corpus` (or `$LANEWAY_CORPUS`), never copied into this project:
bpmn-miwg/bpmn-miwg-test-suite @ bc9f858c (CC-BY-3.0, OMG BPMN Model Interchange Working Group);
paed01/bpmn-engine @ 134e8d2e (MIT); paed01/bpmn-elements @ e41639d0 (MIT);
sartography/SpiffWorkflow @ 8c6e00f6 (LGPL-3.0); bpmn-io/bpmn-moddle @ 7e78c8c6 (MIT);
camunda/camunda-bpm-platform @ 3dd653fe (Apache-2.0); flowable/flowable-engine @ 53e93b66
(Apache-2.0). MANIFEST.tsv in the corpus names each file's repository, commit, path and license.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.unit.corpus_cases import (
    Case,
    Ran,
    Script,
    corpus_dir,
    flow_named,
    is_subsequence,
    run_case,
    scripts,
)

CORPUS = corpus_dir()
pytestmark = pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").is_file(),
                                reason=f"no corpus at {CORPUS}")

SPIFF = "spiffworkflow/tests/SpiffWorkflow/bpmn/data/"
SPIFF_WF = SPIFF + "Test-Workflows/"
SPIFF_TESTS = "SpiffWorkflow tests/SpiffWorkflow/"


def _choice(value: str) -> dict[str, Any]:
    return {"choice": value}


def _incident_at(ran: Ran, element_id: str) -> None:
    assert any(i.startswith(f"{element_id}:") for i in ran.outcome.incidents), ran.outcome


def _not_completed(ran: Ran, *element_ids: str) -> None:
    for element_id in element_ids:
        assert element_id not in ran.completed, f"{element_id} completed: {ran.completed}"


def _task_lanes(ran: Ran, lanes: dict[str, str]) -> None:
    created = {r.element_id: r.value.get("lane") for r in ran.records
               if r.intent == "USER_TASK_CREATED"}
    for element_id, lane in lanes.items():
        assert created.get(element_id) == lane, created


def engine_bug(reason: str) -> pytest.MarkDecorator:
    """Temporary: a case that fails because of an engine bug, listed for its fix."""
    return pytest.mark.xfail(reason=f"engine bug: {reason}", strict=True)


# Engine bugs the xfailed cases below run into (temporary marks; see each case).
BUG_INCLUSIVE_JOIN_IN_TRANSIT = (
    "an inclusive join fires while a token that can still reach it is on a sequence flow "
    "(taken, its target not yet activated)")
BUG_INCLUSIVE_SINGLE_FLOW = (
    "an inclusive gateway with one outgoing flow takes it without evaluating its condition")
BUG_QUOTED_TIMER = (
    "a timer expression that is a quoted string ('\"PT1S\"', Spiff's Python literal) is "
    "refused as not ISO 8601 instead of read as the string it denotes")
BUG_SIGNAL_AFTER_END = (
    "a signal thrown inside an instance is broadcast only after the instance has ended, so "
    "the instance's own signal event subprocess never starts")


SPIFF_INCREMENTS: dict[str, Script] = {
    "v += 1": lambda v: {"v": v["v"] + 1},
    "u += v": lambda v: {"u": v["u"] + v["v"]},
    "w += v": lambda v: {"w": v["w"] + v["v"]},
}
# CallActivity-Escalation-Test: every script is `a = 1`; the sub process's gateway condition
# "'should_escalate' in vars() or 'should_escalate' in globals()" is Python the engine hands
# over as a decision, translated to "the variable is set".
ESCALATION_INPUTS: dict[str, Any] = {
    "jobs": {"script": scripts({"a = 1": lambda v: {"a": 1}})},
    "conditions": {
        "'should_escalate' in vars() or 'should_escalate' in globals()":
            lambda v: "should_escalate" in v,
        "should_escalate": lambda v: bool(v["should_escalate"]),
    },
}

CASES: list[Any] = [
    # ---------------------------------------------------------------- SpiffWorkflow: gateways
    # Spiff's plain tasks are manual steps its tests complete one by one (`do_next_named_step`),
    # passing `choice=...` as task data; here `choice` is a start variable and the tasks pass
    # through. The Python conditions (`choice == 'Yes'`) are read by the engine's dialect bridge.
    pytest.param(Case(
        SPIFF_WF + "Parallel-Many-Threads-At-Same-Point.bpmn20.xml",
        SPIFF_TESTS + "bpmn/parallel_gateway_tests/ParallelManyThreadsAtSamePointTest.py::test1",
        by_name=True,
        # four threads each reach 'Done' (no join): 'Done' four times
        counts={"1": 1, "2": 1, "3": 1, "4": 1, "Done": 4},
    ), id="spiff-parallel-many-threads-same-point"),
    pytest.param(Case(
        SPIFF_WF + "Parallel-Multiple-Splits-And-Joins.bpmn20.xml",
        SPIFF_TESTS + "bpmn/parallel_gateway_tests/ParallelMultipleSplitsAndJoinsTest.py::test2",
        by_name=True,
        # '!Done' before '1 Done' and '2 Done': the final join waits for both branches
        in_order=("1", "1A", "1 Done", "Done"),
        completed=("2", "2A", "2B", "1B", "2 Done"),
        counts={"Done": 1, "1 Done": 1, "2 Done": 1},
    ), id="spiff-parallel-multiple-splits-and-joins"),
    pytest.param(Case(
        SPIFF_WF + "Parallel-Multiple-Splits.bpmn20.xml",
        SPIFF_TESTS + "bpmn/parallel_gateway_tests/ParallelMultipleSplitsTest.py"
        "::testRunThroughAlternating",
        # The choice gateways have no conditions, only flows named 'Yes' and 'No': the decision
        # job is answered with the flow named like the test's choice.
        by_name=True, jobs={"decision": flow_named("Yes")},
        completed=("Do First", "SP 1 - Yes Task", "SP 2 - Yes Task", "SP 3 - Yes Task"),
        in_order=("SP 3 - Yes Task", "Done"),
        counts={"Done": 1},
        not_activated=("SP 1 - No Task", "SP 2 - No Task", "SP 3 - No Task"),
    ), id="spiff-parallel-multiple-splits"),
    pytest.param(Case(
        SPIFF_WF + "Parallel-One-Path-Ends.bpmn20.xml",
        SPIFF_TESTS + "bpmn/parallel_gateway_tests/ParallelOnePathEndsTest.py"
        "::testRunThroughParallelTaskFirst",
        by_name=True, variables=_choice("No"),
        # 'No' ends its thread; the inclusive join then lets 'Parallel Task' through to 'Done'
        completed=("Parallel Task", "Choice 1"), counts={"Done": 1},
        not_activated=("Yes Task",),
    ), id="spiff-parallel-one-path-ends-no"),
    pytest.param(Case(
        SPIFF_WF + "Parallel-Then-Exclusive.bpmn20.xml",
        SPIFF_TESTS + "bpmn/parallel_gateway_tests/ParallelThenExclusiveTest.py"
        "::testRunThroughChoiceThreadCompleteFirst",
        by_name=True, variables=_choice("Yes"),
        # 'Done' is not ready until both 'Yes Task' and 'Parallel Task' are done
        in_order=("Yes Task", "Done"), completed=("Parallel Task",),
        counts={"Done": 1}, not_activated=("No Task",),
    ), id="spiff-parallel-then-exclusive", marks=engine_bug(BUG_INCLUSIVE_JOIN_IN_TRANSIT)),
    pytest.param(Case(
        SPIFF_WF + "Parallel-Through-Same-Task.bpmn20.xml",
        SPIFF_TESTS + "bpmn/parallel_gateway_tests/ParallelThroughSameTaskTest.py"
        "::testRunThroughFirstRepeatTaskFirst",
        by_name=True, variables=_choice("Yes"),
        # 'Repeated Task' runs twice and 'Done' twice: once for the first thread (the inclusive
        # join lets it pass, the other thread's route runs through the same flow) and once after
        # 'Yes Task' loops back through 'Repeated Task'
        in_order=("Choice 1", "Yes Task", "Repeated Task", "Done"),
        counts={"Repeated Task": 2, "Done": 2}, not_activated=("No Task",),
    ), id="spiff-parallel-through-same-task"),
    # ---------------------------------------------------------------- SpiffWorkflow: more
    pytest.param(Case(
        SPIFF + "inclusive_gateway.bpmn",
        SPIFF_TESTS + "bpmn/InclusiveGatewayTest.py::testDefaultConditionOnly",
        # user task 'set_data' gets {v, u, w}; the Python scripts `v += 1`, `u += v`, `w += v`
        # become 'script' jobs answered by their translation
        tasks={"set_data": [{"v": -1, "u": -1, "w": -1}]},
        jobs={"script": scripts(SPIFF_INCREMENTS)},
        completed=("increment_v", "second"), not_activated=("u_plus_v", "w_plus_v"),
        final={"v": 0, "u": -1, "w": -1},
    ), id="spiff-inclusive-default-only"),
    pytest.param(Case(
        SPIFF + "inclusive_gateway.bpmn",
        SPIFF_TESTS + "bpmn/InclusiveGatewayTest.py::testParallelCondition",
        tasks={"set_data": [{"v": 0, "u": 1, "w": 1}]},
        jobs={"script": scripts(SPIFF_INCREMENTS)},
        completed=("u_plus_v", "w_plus_v"), counts={"second": 1},
        not_activated=("increment_v",), final={"v": 0, "u": 1, "w": 1},
    ), id="spiff-inclusive-parallel"),
    pytest.param(Case(
        SPIFF + "inclusive_gateway.bpmn",
        SPIFF_TESTS + "bpmn/InclusiveGatewayTest.py::testNoPathFromSecondGateway",
        # v becomes 1, so 'second' has no true condition and no default: Spiff raises and
        # puts 'second' in ERROR; here the instance stops with an incident at 'second'
        tasks={"set_data": [{"v": 0, "u": -1, "w": -1}]},
        jobs={"script": scripts(SPIFF_INCREMENTS)},
        status="INCIDENT", completed=("increment_v",),
        check=lambda ran: _incident_at(ran, "second"),
    ), id="spiff-inclusive-no-path", marks=engine_bug(BUG_INCLUSIVE_SINGLE_FLOW)),
    pytest.param(Case(
        SPIFF + "event-gateway.bpmn",
        SPIFF_TESTS + "bpmn/events/EventBasedGatewayTest.py::testEventBasedGateway",
        instant_timers=False, steps=(("message", "message_1", "", {}),),
        completed=("message_1_event", "message_1_end"),
        not_activated=("message_2_end", "timer"),
        check=lambda ran: _not_completed(ran, "message_2_event", "timer_event"),
    ), id="spiff-event-gateway-message"),
    pytest.param(Case(
        SPIFF + "event-gateway.bpmn",
        SPIFF_TESTS + "bpmn/events/EventBasedGatewayTest.py::testTimeout",
        instant_timers=False, steps=(("timer",),),
        completed=("timer_event", "timer"), not_activated=("message_1_end", "message_2_end"),
        check=lambda ran: _not_completed(ran, "message_1_event", "message_2_event"),
    ), id="spiff-event-gateway-timeout", marks=engine_bug(BUG_QUOTED_TIMER)),
    pytest.param(Case(
        SPIFF + "event-subprocess.bpmn",
        SPIFF_TESTS + "bpmn/events/EventSubprocessTest.py::testEventSubprocess",
        # 'set data' gets v1/v2 (start variables here); the thrown signal 'start_sub' starts
        # the signal event subprocess whose 'task' sees {v1: True, v2: False}
        variables={"v1": True, "v2": False},
        in_order=("set_data", "task"), final={"v1": True, "v2": False},
    ), id="spiff-event-subprocess-signal", marks=engine_bug(BUG_SIGNAL_AFTER_END)),
    pytest.param(Case(
        SPIFF + "lanes.bpmn",
        SPIFF_TESTS + "bpmn/SwimLaneTest.py::testRunThroughHappy",
        # after 'Activity_A1' (lane A) completes, the one ready task is in lane B
        tasks={"Activity_A1": [{}]},
        status="WAITING", completed=("Activity_A1",),
        waiting=("user task 'Activity_B1'",),
        check=lambda ran: _task_lanes(ran, {"Activity_A1": "A", "Activity_B1": "B"}),
    ), id="spiff-lanes"),
    pytest.param(Case(
        SPIFF + "timer-non-interrupt-boundary.bpmn",
        SPIFF_TESTS + "bpmn/events/NITimerDurationBoundaryTest.py::testRunThroughHappy",
        # the non-interrupting PT0.2S timer fires while 'Work Done?' waits: both user tasks
        # are then ready; both are completed with the test's data
        instant_timers=False,
        steps=(("timer",), ("task", "GetReason", {"delay_reason": "Just Because"}),
               ("task", "Activity_Work", {"work_done": "Yes"})),
        counts={"Activity_Work": 1, "GetReason": 1, "Event_0jyy8ao": 1},
        final={"work_done": "Yes", "delay_reason": "Just Because"},
    ), id="spiff-non-interrupting-timer-boundary", marks=engine_bug(BUG_QUOTED_TIMER)),
    pytest.param(Case(
        SPIFF + "service_task.bpmn",
        SPIFF_TESTS + "bpmn/ServiceTaskTest.py::testRunThroughHappy",
        # the Python operator becomes a 'service' job
        jobs={"service": {}}, in_order=("Activity_1inxqgx", "Event_0j8psiq"),
    ), id="spiff-service-task"),
    pytest.param(Case(
        SPIFF + "return_to_event.bpmn",
        SPIFF_TESTS + "bpmn/events/ReturnToEvent.py::testEventWaitsAfterLoopback",
        # after the message and 'manual' with repeat=True, the catch event waits again
        variables={"repeat": True}, steps=(("message", "basic_message", "", {}),),
        status="WAITING", counts={"Event_10ncvxn": 1, "manual": 1},
        waiting=("message 'basic_message' at 'Event_10ncvxn'",),
    ), id="spiff-return-to-event"),
    pytest.param(Case(
        SPIFF_WF + "Nested-Subprocesses.bpmn20.xml",
        SPIFF_TESTS + "bpmn/NestedProcessesTest.py::testRunThroughHappy",
        also_deploy=(SPIFF_WF + "Nested-Sub-level1.bpmn20.xml",
                     SPIFF_WF + "Nested-Sub-level2.bpmn20.xml"),
        # user tasks 'Action1', 'Action2', 'Action3', one per level, completed in turn
        by_name=True, tasks={"sid-FECD237F-6ABD-4A51-BB9C-B0C7D991202B": [{}],
                             "sid-1B59DCD2-83A0-4687-B7BE-83625395572E": [{}],
                             "sid-17C53A94-546D-4099-8A52-AAEE6AC3F6E7": [{}]},
        in_order=("Action1", "Action2", "Action3", "Nested level 2", "Nested level 1"),
    ), id="spiff-nested-call-activities"),
    pytest.param(Case(
        SPIFF_WF + "CallActivity-Escalation-Test.bpmn20.xml",
        SPIFF_TESTS + "bpmn/events/CallActivityEscalationTest.py::testShouldEscalate",
        also_deploy=(SPIFF_WF + "CallActivity-Escalation-Test-Sub.bpmn20.xml",),
        variables={"should_escalate": True}, **ESCALATION_INPUTS,
        completed=tuple(f"EndEvent_{e}" for e in (
            "specific1_noninterrupting_normal", "specific1_noninterrupting_escalated",
            "specific1_interrupting_escalated", "specific2_noninterrupting_normal",
            "specific2_noninterrupting_escalated", "specific2_interrupting_escalated",
            "general_noninterrupting_normal", "general_noninterrupting_escalated",
            "general_interrupting_escalated")),
        not_activated=tuple(f"EndEvent_{e}" for e in (
            "specific1_interrupting_normal", "specific2_noninterrupting_missingvariable",
            "specific2_interrupting_normal", "specific2_interrupting_missingvariable",
            "general_interrupting_normal")),
    ), id="spiff-call-activity-escalation"),
    pytest.param(Case(
        SPIFF_WF + "CallActivity-Escalation-Test.bpmn20.xml",
        SPIFF_TESTS + "bpmn/events/CallActivityEscalationTest.py::testShouldNotEscalate",
        also_deploy=(SPIFF_WF + "CallActivity-Escalation-Test-Sub.bpmn20.xml",),
        variables={"should_escalate": False}, **ESCALATION_INPUTS,
        completed=tuple(f"EndEvent_{e}" for e in (
            "specific1_noninterrupting_normal", "specific1_interrupting_normal",
            "specific2_noninterrupting_normal", "specific2_interrupting_normal",
            "general_noninterrupting_normal", "general_interrupting_normal")),
        not_activated=tuple(f"EndEvent_{e}" for e in (
            "specific1_noninterrupting_escalated", "specific1_interrupting_escalated",
            "specific2_noninterrupting_escalated", "specific2_noninterrupting_missingvariable",
            "specific2_interrupting_escalated", "specific2_interrupting_missingvariable",
            "general_noninterrupting_escalated", "general_interrupting_escalated")),
    ), id="spiff-call-activity-no-escalation"),
    pytest.param(Case(
        SPIFF_WF + "CallActivity-Escalation-Test.bpmn20.xml",
        SPIFF_TESTS + "bpmn/events/CallActivityEscalationTest.py::testMissingVariable",
        also_deploy=(SPIFF_WF + "CallActivity-Escalation-Test-Sub.bpmn20.xml",),
        **ESCALATION_INPUTS,
        completed=tuple(f"EndEvent_{e}" for e in (
            "specific1_noninterrupting_normal", "specific1_interrupting_normal",
            "specific2_noninterrupting_normal", "specific2_noninterrupting_missingvariable",
            "specific2_interrupting_missingvariable", "general_noninterrupting_normal",
            "general_noninterrupting_escalated", "general_interrupting_escalated")),
        not_activated=tuple(f"EndEvent_{e}" for e in (
            "specific1_noninterrupting_escalated", "specific1_interrupting_escalated",
            "specific2_noninterrupting_escalated", "specific2_interrupting_normal",
            "specific2_interrupting_escalated", "general_interrupting_normal")),
    ), id="spiff-call-activity-escalation-missing-variable"),
]


def _check(case: Case) -> None:
    ran = run_case(case, CORPUS)
    out = ran.outcome
    detail = f"{out}\ncompleted: {ran.completed}"
    assert out.status == case.status, detail
    if case.in_order:
        assert is_subsequence(case.in_order, ran.completed), detail
    for element in case.completed:
        assert element in ran.completed, f"{element} never completed\n{detail}"
    for element in case.not_activated:
        assert element not in ran.activated, f"{element} should not have run\n{detail}"
    counts = Counter(ran.completed)
    for element, n in case.counts.items():
        assert counts[element] == n, f"{element} completed {counts[element]} times\n{detail}"
    for name, value in case.final.items():
        assert out.variables.get(name) == value, f"variable {name}\n{detail}"
    for phrase in case.waiting:
        assert any(phrase in w for w in out.waiting_on), detail
    if case.check is not None:
        case.check(ran)


@pytest.mark.parametrize("case", CASES)
def test_corpus_file_runs_as_its_source_test_expects(case: Case) -> None:
    _check(case)


def test_cases_are_distinct_files_with_their_source_tests() -> None:
    cases = [p.values[0] for p in CASES]
    assert all(c.follows for c in cases)
    assert all((CORPUS / c.path).is_file() for c in cases)
