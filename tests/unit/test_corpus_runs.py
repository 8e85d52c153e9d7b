"""Third-party corpus diagrams run to the outcome their source projects' own tests expect.

Count: 60 cases on 53 corpus files, all passing; 7 more files are deployed alongside them as
called or signal-throwing processes. One more file (Flowable's message boundary event on an
event subprocess) is refused at deploy, as the corpus README allows, in its own test. The
engine bugs these cases found (a single-flow gateway's condition, timers written as
expressions, a signal reaching its own instance, an escalation rethrown from an event
subprocess, BPMN's own task assignment) are fixed.

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

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from laneway.bpmn import parse_file
from laneway.engine import DefinitionRepository
from laneway.problems import DiagramError
from laneway.records import Record
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
# as in test_bpmn_corpus: on CI a missing corpus fails instead of skipping
if not (CORPUS / "MANIFEST.tsv").is_file() and os.environ.get("CI"):
    raise RuntimeError(f"Expected the BPMN corpus at {CORPUS}, but it is not there")
pytestmark = pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").is_file(),
                                reason=f"no corpus at {CORPUS}")

SPIFF = "spiffworkflow/tests/SpiffWorkflow/bpmn/data/"
SPIFF_WF = SPIFF + "Test-Workflows/"
SPIFF_TESTS = "SpiffWorkflow tests/SpiffWorkflow/"
CAMUNDA = "camunda-bpm-platform/engine/src/test/resources/org/camunda/bpm/engine/test/bpmn/"
CAMUNDA_TESTS = "camunda-bpm-platform engine/src/test/java/org/camunda/bpm/engine/test/bpmn/"
FLOWABLE = ("flowable-engine/modules/flowable-engine/src/test/resources/org/flowable/engine/test/"
            "bpmn/")
FLOWABLE_TESTS = ("flowable-engine modules/flowable-engine/src/test/java/org/flowable/engine/test/"
                  "bpmn/")


def _choice(value: str) -> dict[str, Any]:
    return {"choice": value}


def _incident_at(ran: Ran, element_id: str) -> None:
    assert any(i.startswith(f"{element_id}:") for i in ran.outcome.incidents), ran.outcome


def _not_completed(ran: Ran, *element_ids: str) -> None:
    for element_id in element_ids:
        assert element_id not in ran.completed, f"{element_id} completed: {ran.completed}"


def _open_tasks(ran: Ran) -> list[str]:
    created = {r.value["key"]: r.element_id for r in ran.records
               if r.intent == "USER_TASK_CREATED"}
    for r in ran.records:
        if r.intent in ("USER_TASK_COMPLETED", "USER_TASK_CANCELED"):
            created.pop(r.value["key"], None)
    return sorted(created.values())


def _only_tasks(ran: Ran, *element_ids: str) -> None:
    assert _open_tasks(ran) == sorted(element_ids), ran.outcome


def _timer_due_after(ran: Ran, element_id: str, ms: int) -> None:
    made = [r for r in ran.records if r.intent == "TIMER_CREATED" and
            r.value.get("elementId", r.element_id) == element_id]
    assert made, f"no timer at {element_id}"
    assert made[0].value["due"] - made[0].timestamp == ms, made


def _tasks_created(ran: Ran, element_id: str, n: int) -> None:
    made = [r for r in ran.records if r.intent == "USER_TASK_CREATED"
            and r.element_id == element_id]
    assert len(made) == n, f"{len(made)} tasks at {element_id}"


def _task_field(ran: Ran, element_id: str, name: str, value: Any) -> None:
    made = [r.value for r in ran.records if r.intent == "USER_TASK_CREATED"
            and r.element_id == element_id]
    assert made, f"no task at {element_id}"
    assert made[0].get(name) == value, made[0]


def _expect_job_name(name: str) -> Callable[[Record], dict[str, Any]]:
    def answer(job: Record) -> dict[str, Any]:
        assert job.value.get("elementName") == name, job.value
        return {"variables": {}}

    return answer


def _task_lanes(ran: Ran, lanes: dict[str, str]) -> None:
    created = {r.element_id: r.value.get("lane") for r in ran.records
               if r.intent == "USER_TASK_CREATED"}
    for element_id, lane in lanes.items():
        assert created.get(element_id) == lane, created


SPIFF_INCREMENTS: dict[str, Script] = {
    "v += 1": lambda v: {"v": v["v"] + 1},
    "u += v": lambda v: {"u": v["u"] + v["v"]},
    "w += v": lambda v: {"w": v["w"] + v["v"]},
}
# transaction.bpmn: the boundary paths set `reason`; 'Print Data' prints
SPIFF_TX: dict[str, Script] = {
    'reason = "Cancel"': lambda v: {"reason": "Cancel"},
    'reason = "Error 1"': lambda v: {"reason": "Error 1"},
    'reason = "Error None"': lambda v: {"reason": "Error None"},
    'print(f"Value: {value} / Quantity {quantity}")': lambda v: {},
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
    ), id="spiff-parallel-then-exclusive"),
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
    ), id="spiff-inclusive-no-path"),
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
    ), id="spiff-event-gateway-timeout"),
    pytest.param(Case(
        SPIFF + "event-subprocess.bpmn",
        SPIFF_TESTS + "bpmn/events/EventSubprocessTest.py::testEventSubprocess",
        # 'set data' gets v1/v2 (start variables here); the thrown signal 'start_sub' starts
        # the signal event subprocess whose 'task' sees {v1: True, v2: False}
        variables={"v1": True, "v2": False},
        in_order=("set_data", "task"), final={"v1": True, "v2": False},
    ), id="spiff-event-subprocess-signal"),
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
    ), id="spiff-non-interrupting-timer-boundary"),
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
    # ---------------------------------------------------------------- Camunda 7
    # Camunda's tests complete tasks with taskService, correlate messages with runtimeService,
    # start throwing processes to send signals, and execute timer jobs; each becomes a step.
    pytest.param(Case(
        CAMUNDA + "callactivity/CallActivity.testCallSimpleSubProcess.bpmn20.xml",
        CAMUNDA_TESTS + "callactivity/CallActivityTest.java::testCallSimpleSubProcess",
        also_deploy=(CAMUNDA + "callactivity/simpleSubProcess.bpmn20.xml",),
        tasks={"taskBeforeSubProcess": [{}], "task": [{}], "taskAfterSubProcess": [{}]},
        in_order=("taskBeforeSubProcess", "task", "callSubProcess", "taskAfterSubProcess",
                  "theEnd"),
    ), id="camunda-call-simple-subprocess"),
    pytest.param(Case(
        CAMUNDA + "event/end/MessageEndEventTest.testMessageEndEvent.bpmn20.xml",
        CAMUNDA_TESTS + "event/end/MessageEndEventTest.java::testMessageEndEvent",
        # the end event's Java delegate becomes a job of the message end event
        auto_jobs=True, in_order=("theStart", "theEnd"),
    ), id="camunda-message-end-event"),
    pytest.param(Case(
        CAMUNDA + "event/error/BoundaryErrorEventTest.testCatchErrorOnEmbeddedSubprocess"
        ".bpmn20.xml",
        CAMUNDA_TESTS + "event/error/BoundaryErrorEventTest.java"
        "::testCatchErrorOnEmbeddedSubprocess",
        # completing 'subprocessTask' reaches the error end event; the boundary catches it
        tasks={"subprocessTask": [{}]}, status="WAITING",
        in_order=("subprocessTask", "catchError"), not_activated=("theEnd",),
        waiting=("user task 'taskAfterErrorCatch'",),
    ), id="camunda-boundary-error-on-subprocess"),
    pytest.param(Case(
        CAMUNDA + "event/error/ErrorEventSubProcessTest."
        "testCatchErrorThrownByScriptTaskInEmbeddedSubProcessWithErrorCode.bpmn20.xml",
        CAMUNDA_TESTS + "event/error/ErrorEventSubProcessTest.java"
        "::testCatchErrorThrownByScriptTaskInEmbeddedSubProcessWithErrorCode",
        # the Groovy script `throw new BpmnError("123")` becomes a script job throwing "123";
        # the error event subprocess catches it, its 'Escalated Task' is completed, and the
        # process ends (assertThatErrorHasBeenCaught)
        jobs={"script": lambda job: {"errorCode": "123"}}, tasks={"taskAfterErrorCatch": [{}]},
        in_order=("catchError", "taskAfterErrorCatch", "subprocess", "theEnd"),
    ), id="camunda-error-esp-script-error"),
    pytest.param(Case(
        CAMUNDA + "event/error/ErrorEventSubProcessTest."
        "testThrownAnErrorInEventSubprocessInSubprocess.bpmn20.xml",
        CAMUNDA_TESTS + "event/error/ErrorEventSubProcessTest.java"
        "::testThrownAnErrorInEventSubprocessInSubprocess",
        # the timer of the event subprocess fires; its error end event is caught by the
        # boundary event of the enclosing subprocess: one task 'after catch'
        instant_timers=False, steps=(("timer",),), status="WAITING",
        in_order=("StartEvent_eventsub", "BoundaryEvent_error"),
        not_activated=("EndEvent_1", "EndEvent_sub"),
        waiting=("user task 'UserTask_afterCatch'",),
        check=lambda ran: _only_tasks(ran, "UserTask_afterCatch"),
    ), id="camunda-error-in-esp-in-subprocess"),
    pytest.param(Case(
        CAMUNDA + "event/error/reviewSalesLead.bpmn20.xml",
        CAMUNDA_TESTS + "event/error/BoundaryErrorEventTest.java::testReviewSalesLeadProcess",
        # `${notEnoughInformation == 'true'}` compares a Boolean with a String in JUEL, which
        # coerces; the test's Boolean true / false are given as 'true' / 'false' here.
        # First review: not enough information -> error end -> boundary -> 'Provide additional
        # details' -> the review subprocess again -> enough -> CRM -> end.
        variables={"details": "very interesting", "customerName": "Alfresco"},
        # The first time only 'Review profitability' is completed, which cancels 'Review
        # customer rating'; the second time both are completed.
        instant_timers=False,
        steps=(("task", "provideNewSalesLead", {}),
               ("task", "reviewProfitability", {"notEnoughInformation": "true"}),
               ("task", "provideAdditionalDetails", {}),
               ("task", "reviewCustomerRating", {}),
               ("task", "reviewProfitability", {"notEnoughInformation": "false"})),
        in_order=("provideNewSalesLead", "catchNotEnoughInformationError",
                  "provideAdditionalDetails",
                  "subProcessEnd2", "reviewSalesLeadSubProcess", "storeLeadInCrmSystem",
                  "processEnd"),
        counts={"reviewProfitability": 2, "reviewCustomerRating": 1,
                "provideAdditionalDetails": 1, "storeLeadInCrmSystem": 1},
    ), id="camunda-review-sales-lead"),
    pytest.param(Case(
        CAMUNDA + "event/escalation/EscalationEventSubprocessTest."
        "testReThrowEscalationEventToBoundaryEvent.bpmn20.xml",
        CAMUNDA_TESTS + "event/escalation/EscalationEventSubprocessTest.java"
        "::testReThrowEscalationEventToBoundaryEvent",
        # the escalation inside the subprocess starts the non-interrupting event subprocess;
        # completing its task re-throws; the non-interrupting boundary catches: two tasks left
        tasks={"taskAfterCatchedEscalationInsideSubprocess": [{}]}, status="WAITING",
        in_order=("taskAfterCatchedEscalationInsideSubprocess", "rethrowEscalationEvent"),
        completed=("escalationBoundaryEvent",),
        check=lambda ran: _only_tasks(ran, "taskInSubprocess", "taskAfterCatchedEscalation"),
    ), id="camunda-rethrow-escalation-to-boundary"),
    pytest.param(Case(
        CAMUNDA + "event/escalation/EscalationEventSubprocessTest."
        "testReThrowEscalationEventToBoundaryEventWithoutEscalationCode.bpmn20.xml",
        CAMUNDA_TESTS + "event/escalation/EscalationEventSubprocessTest.java"
        "::testReThrowEscalationEventToBoundaryEventWithoutEscalationCode",
        tasks={"taskAfterCatchedEscalationInsideSubprocess": [{}]}, status="WAITING",
        in_order=("taskAfterCatchedEscalationInsideSubprocess", "rethrowEscalationEvent"),
        check=lambda ran: _only_tasks(ran, "taskInSubprocess", "taskAfterCatchedEscalation"),
    ), id="camunda-rethrow-escalation-without-code"),
    pytest.param(Case(
        CAMUNDA + "event/message/MessageEventSubprocessTest."
        "testNonInterruptingWithTerminatingEndEvent.bpmn20.xml",
        CAMUNDA_TESTS + "event/message/MessageEventSubprocessTest.java"
        "::testNonInterruptingWithTerminatingEndEvent",
        # the terminate end event of the non-interrupting event subprocess ends only that
        # subprocess: 'Inner User Task' (UserTask_1) is still there afterwards
        instant_timers=False,
        steps=(("message", "message", "", {}), ("task", "UserTask_2", {})),
        status="WAITING", in_order=("StartEvent_3", "UserTask_2", "EndEvent_3"),
        not_activated=("UserTask_3", "EndEvent_2"),
        check=lambda ran: _only_tasks(ran, "UserTask_1"),
    ), id="camunda-message-esp-terminate"),
    pytest.param(Case(
        CAMUNDA + "event/message/MessageStartEventTest.testSingleMessageStartEvent.bpmn20.xml",
        CAMUNDA_TESTS + "event/message/MessageStartEventTest.java::testSingleMessageStartEvent",
        start_message="newInvoiceMessage", tasks={"task": [{}]},
        in_order=("theStart", "task", "theEnd"),
    ), id="camunda-message-start-event"),
    pytest.param(Case(
        CAMUNDA + "event/signal/SignalEventTests.catchAlertSignal.bpmn20.xml",
        CAMUNDA_TESTS + "event/signal/SignalEventTest.java::testSignalCatchIntermediate",
        also_deploy=(CAMUNDA + "event/signal/SignalEventTests.throwAlertSignal.bpmn20.xml",),
        steps=(("start", "throwSignal", {}),), in_order=("signalEvent", "end"),
    ), id="camunda-signal-catch-intermediate"),
    pytest.param(Case(
        CAMUNDA + "event/signal/SignalEventTests.catchAlertSignalBoundary.bpmn20.xml",
        CAMUNDA_TESTS + "event/signal/SignalEventTest.java::testSignalCatchBoundary",
        also_deploy=(CAMUNDA + "event/signal/SignalEventTests.throwAlertSignal.bpmn20.xml",),
        steps=(("start", "throwSignal", {}),), in_order=("boundary", "end"),
        check=lambda ran: _not_completed(ran, "task"),
    ), id="camunda-signal-catch-boundary"),
    pytest.param(Case(
        CAMUNDA + "event/signal/SignalEventTests.catchMultipleSignals.bpmn20.xml",
        CAMUNDA_TESTS + "event/signal/SignalEventTest.java::testSignalCatchDifferentSignals",
        also_deploy=(CAMUNDA + "event/signal/SignalEventTests.throwAlertSignal.bpmn20.xml",
                     CAMUNDA + "event/signal/SignalEventTests.throwAbortSignal.bpmn20.xml"),
        # 'abort' leads to 'taskAfterAbort', completed; then 'alert' interrupts 'task'
        steps=(("start", "throwAbort", {}), ("task", "taskAfterAbort", {}),
               ("start", "throwSignal", {})),
        in_order=("abort", "taskAfterAbort", "boundary"),
        check=lambda ran: _not_completed(ran, "task"),
    ), id="camunda-signal-catch-different-signals"),
    pytest.param(Case(
        CAMUNDA + "event/signal/SignalEventTest.testThrownSignalInEventSubprocessInSubprocess"
        ".bpmn20.xml",
        CAMUNDA_TESTS + "event/signal/SignalEventTest.java"
        "::testThrownSignalInEventSubprocessInSubprocess",
        # the timer starts the event subprocess, whose signal end event is caught by the
        # interrupting boundary event of the subprocess: only 'after catch' is left
        instant_timers=False, steps=(("timer",),), status="WAITING",
        completed=("EndEvent_13lbrgj", "EscalationCatchBoundaryEvent"),
        check=lambda ran: _only_tasks(ran, "Task_1f50q9l"),
    ), id="camunda-signal-in-esp-in-subprocess"),
    pytest.param(Case(
        CAMUNDA + "event/timer/IntermediateTimerEventTest.testCatchingTimerEvent.bpmn20.xml",
        CAMUNDA_TESTS + "event/timer/IntermediateTimerEventTest.java::testCatchingTimerEvent",
        # one timer job, due in 5 minutes; executing it ends the process
        in_order=("timer", "theEnd"),
        check=lambda ran: _timer_due_after(ran, "timer", 5 * 60_000),
    ), id="camunda-intermediate-timer"),
    pytest.param(Case(
        CAMUNDA + "gateway/EventBasedGatewayTest.testCatchAlertAndTimer.bpmn20.xml",
        CAMUNDA_TESTS + "gateway/EventBasedGatewayTest.java::testCatchSignalCancelsTimer",
        also_deploy=(CAMUNDA + "gateway/EventBasedGatewayTest.throwAlertSignal.bpmn20.xml",),
        instant_timers=False, tasks={"task2": [{}]},
        steps=(("start", "throwSignal", {}),),
        in_order=("signalEvent", "task2", "end"), not_activated=("task1",),
        check=lambda ran: _not_completed(ran, "timerEvent"),
    ), id="camunda-event-gateway-signal"),
    pytest.param(Case(
        CAMUNDA + "gateway/InclusiveGatewayTest.testDivergingInclusiveGateway.bpmn20.xml",
        CAMUNDA_TESTS + "gateway/InclusiveGatewayTest.java::testDivergingInclusiveGateway",
        # input 2: `${input <= 2}` and `${input <= 3}` hold -> 'Task 2' and 'Task 3'
        variables={"input": 2}, status="WAITING", not_activated=("theTask1",),
        check=lambda ran: _only_tasks(ran, "theTask2", "theTask3"),
    ), id="camunda-diverging-inclusive"),
    pytest.param(Case(
        CAMUNDA + "gateway/InclusiveGatewayTest.testNoIdOnSequenceFlow.bpmn20.xml",
        CAMUNDA_TESTS + "gateway/InclusiveGatewayTest.java::testNoIdOnSequenceFlow",
        # input 3: only the unconditional flow -> 'Input is more than one'
        variables={"input": 3}, status="WAITING", not_activated=("theTask1",),
        check=lambda ran: _only_tasks(ran, "theTask2"),
    ), id="camunda-inclusive-no-id-on-flow"),
    pytest.param(Case(
        CAMUNDA + "callactivity/CallActivity.testNestedCallActivity.bpmn20.xml",
        CAMUNDA_TESTS + "callactivity/CallActivityTest.java::testNestedCallActivity",
        also_deploy=(CAMUNDA + "callactivity/CallActivity.testCallSimpleSubProcess.bpmn20.xml",
                     CAMUNDA + "callactivity/simpleSubProcess.bpmn20.xml"),
        # nested -> callSimpleSubProcess -> simpleSubProcess; the two outer processes both
        # have 'taskBeforeSubProcess' and 'taskAfterSubProcess'
        tasks={"taskBeforeSubProcess": [{}], "task": [{}], "taskAfterSubProcess": [{}]},
        in_order=("taskBeforeSubProcess", "taskBeforeSubProcess", "task", "callSubProcess",
                  "taskAfterSubProcess", "callCallSimpleSubProcess", "taskAfterSubProcess",
                  "theEnd"),
        counts={"task": 1, "taskBeforeSubProcess": 2, "taskAfterSubProcess": 2},
    ), id="camunda-nested-call-activity"),
    pytest.param(Case(
        CAMUNDA + "multiinstance/MultiInstanceTest.testParallelUserTasksBasedOnCollection"
        ".bpmn20.xml",
        CAMUNDA_TESTS + "multiinstance/MultiInstanceTest.java"
        "::testParallelUserTasksBasedOnCollection",
        # five parallel user tasks, one per assignee in the list; all completed -> end
        variables={"assigneeList": ["kermit", "gonzo", "mispiggy", "fozzie", "bubba"]},
        tasks={"miTasks": [{}]}, in_order=("theStart", "miTasks", "theEnd"),
        check=lambda ran: _tasks_created(ran, "miTasks", 5),
    ), id="camunda-mi-parallel-user-tasks"),
    pytest.param(Case(
        CAMUNDA + "receivetask/ReceiveTaskTest.multiParallelReceiveTaskBoundary.bpmn20.xml",
        CAMUNDA_TESTS + "receivetask/ReceiveTaskTest.java"
        "::testSupportsCorrelateMessageOnMultiParallelReceiveTaskWithBoundary",
        # two parallel receive tasks wait; 'cancelInvoiceMessage' hits the boundary event,
        # which cancels both: the process ends through 'invoiceCanceled'
        steps=(("message", "cancelInvoiceMessage", "", {}),),
        in_order=("cancel", "invoiceCanceled"), not_activated=("theEnd",),
        check=lambda ran: _not_completed(ran, "waitState"),
    ), id="camunda-mi-receive-task-boundary"),
    pytest.param(Case(
        CAMUNDA + "subprocess/SubProcessTest.testSimpleSubProcess.bpmn20.xml",
        CAMUNDA_TESTS + "subprocess/SubProcessTest.java::testSimpleSubProcess",
        tasks={"subProcessTask": [{}]},
        in_order=("subProcessStart", "subProcessTask", "subProcessEnd", "subProcess", "theEnd"),
    ), id="camunda-simple-subprocess"),
    pytest.param(Case(
        CAMUNDA + "usertask/TaskAssigneeTest.testTaskAssignee.bpmn20.xml",
        CAMUNDA_TESTS + "usertask/TaskAssigneeTest.java::testTaskAssignee",
        # the humanPerformer 'kermit' is the task's assignee
        status="WAITING", waiting=("user task 'theTask'",),
        check=lambda ran: _task_field(ran, "theTask", "assignee", "kermit"),
    ), id="camunda-task-assignee"),
    pytest.param(Case(
        CAMUNDA + "usertask/TaskCandidateTest.testSingleCandidateGroup.bpmn20.xml",
        CAMUNDA_TESTS + "usertask/TaskCandidateTest.java::testSingleCandidateGroup",
        # the potentialOwner group 'accountancy' is the task's candidate group; claimed and
        # completed, the process ends
        tasks={"theTask": [{}]}, in_order=("theTask", "theEnd"),
        check=lambda ran: _task_field(ran, "theTask", "candidateGroups", ["accountancy"]),
    ), id="camunda-task-candidate-group"),
    pytest.param(Case(
        CAMUNDA + "sendtask/SendTaskTest.testActivityName.bpmn20.xml",
        CAMUNDA_TESTS + "sendtask/SendTaskTest.java::testActivityName",
        # the Java delegate becomes a 'send' job; the test checks the activity name it sees
        jobs={"send": _expect_job_name("Task")}, in_order=("task", "end"),
    ), id="camunda-send-task"),
    pytest.param(Case(
        CAMUNDA + "ruletask/RuleTaskTest.testJavaDelegate.bpmn20.xml",
        CAMUNDA_TESTS + "ruletask/RuleTaskTest.java::testJavaDelegate",
        # the delegate sets a variable; here the 'business-rule' job does
        jobs={"business-rule": {"ok": True}}, in_order=("theTask", "theEnd"),
        final={"ok": True},
    ), id="camunda-business-rule-task"),
    pytest.param(Case(
        CAMUNDA + "gateway/ParallelGatewayTest.testReceyclingExecutionWithCallActivity"
        ".bpmn20.xml",
        CAMUNDA_TESTS + "gateway/ParallelGatewayTest.java::testReceyclingExecutionWithCallActivity",
        # 'Some Task' (parent) first, then 'Another task' (child): the parent then ends
        process="parent-process", instant_timers=False,
        steps=(("task", "sid-1F49ED80-AAF9-404B-81D7-C861BD4B720F", {}),
               ("task", "sid-AC64BD66-A295-4B1D-93F7-AB8F0AE05966", {})),
        by_name=True, in_order=("Some Task", "Another task", "Call child process"),
    ), id="camunda-recycling-execution-call-activity"),
    # ---------------------------------------------------------------- Flowable
    pytest.param(Case(
        FLOWABLE + "gateway/ExclusiveGatewayTest.testDivergingExclusiveGateway.bpmn20.xml",
        FLOWABLE_TESTS + "gateway/ExclusiveGatewayTest.java::testDivergingExclusiveGateway",
        # input 2 -> 'Task 2' only (the test runs 1, 2 and 3)
        variables={"input": 2}, status="WAITING", not_activated=("theTask1", "theTask3"),
        check=lambda ran: _only_tasks(ran, "theTask2"),
    ), id="flowable-diverging-exclusive"),
    pytest.param(Case(
        FLOWABLE + "event/error/ErrorEventSubProcessTest.testEventSubprocessTakesPrecedence"
        ".bpmn20.xml",
        FLOWABLE_TESTS + "event/error/ErrorEventSubProcessTest.java"
        "::testEventSubprocessTakesPrecedence",
        # the error is caught by the event subprocess, not the boundary event; its task
        # completed, the process ends (assertThatErrorHasBeenCaught)
        tasks={"taskAfterErrorCatch": [{}]},
        in_order=("catchError", "taskAfterErrorCatch", "subprocess", "theEnd"),
        not_activated=("catchErrorBoundary",),
    ), id="flowable-error-esp-precedence"),
    pytest.param(Case(
        FLOWABLE + "event/escalation/EscalationEventSubProcessTest."
        "testEventSubprocessTakesPrecedence.bpmn20.xml",
        FLOWABLE_TESTS + "event/escalation/EscalationEventSubProcessTest.java"
        "::testEventSubprocessTakesPrecedence",
        tasks={"taskAfterEscalationCatch": [{}]},
        in_order=("catchEscalation", "taskAfterEscalationCatch", "subprocess", "theEnd"),
        not_activated=("catchEscalationBoundary",),
    ), id="flowable-escalation-esp-precedence"),
    pytest.param(Case(
        FLOWABLE + "gateway/ParallelGatewayTest.testRecyclingExecutionWithCallActivity"
        ".bpmn20.xml",
        FLOWABLE_TESTS + "gateway/ParallelGatewayTest.java::testRecyclingExecutionWithCallActivity",
        # Flowable's copy of the Camunda test above: after the start both 'Some Task' and the
        # child's 'Another task' wait; 'Some Task' first, then 'Another task'; no task is left
        process="parent-process", instant_timers=False,
        steps=(("task", "sid-1F49ED80-AAF9-404B-81D7-C861BD4B720F", {}),
               ("task", "sid-AC64BD66-A295-4B1D-93F7-AB8F0AE05966", {})),
        by_name=True, in_order=("Some Task", "Another task", "Call child process"),
        check=lambda ran: _only_tasks(ran),
    ), id="flowable-recycling-execution-call-activity"),
    # ---------------------------------------------------------------- bpmn-elements (paed01)
    pytest.param(Case(
        "paed01-bpmn-elements/test/resources/link-event.bpmn",
        "bpmn-elements test/feature/linking-feature.js",
        # task1 -> link throw 'LINKA' -> link catch 'LINKA' -> task2 -> end; the JavaScript
        # scripts only log their names through bpmn-elements' own `environment.services`,
        # which the engine's sandbox does not have: they go to 'script' jobs, which complete
        # with nothing
        jobs={"script": {}}, js_as_jobs=True, in_order=("task1", "throw", "catch", "task2", "end"),
        counts={"task1": 1, "task2": 1},
    ), id="paed01-elements-link-event"),
    # ---------------------------------------------------------------- compensation, transactions
    pytest.param(Case(
        CAMUNDA + "event/compensate/CompensateEventTest.testCompensateSubprocess.bpmn20.xml",
        CAMUNDA_TESTS + "event/compensate/CompensateEventTest.java::testCompensateSubprocess",
        # five iterations of 'bookHotel' in the subprocess; compensating the subprocess runs
        # the handler once per iteration (the test's counter is 5), then 'beforeEnd' waits
        auto_jobs=True, status="WAITING", counts={"undoBookHotel": 5},
        in_order=("scope", "undoBookHotel", "throwCompensate"),
        waiting=("at 'beforeEnd'",),
    ), id="camunda-compensate-subprocess"),
    pytest.param(Case(
        CAMUNDA + "event/compensate/CompensateEventTest.testCompensationEventSubProcess"
        ".bpmn20.xml",
        CAMUNDA_TESTS + "event/compensate/CompensateEventTest.java"
        "::testCompensationEventSubProcess",
        # the booking is not valid: the compensation end event starts the subprocess's
        # compensation event subprocess, which compensates the flight, then the hotel, then
        # 'updateCustomerRecord' is completed and the process ends
        tasks={"bookFlight": [{}], "bookHotel": [{}], "validateBooking": [{"valid": False}],
               "cancelFlight": [{}], "cancelHotel": [{}], "updateCustomerRecord": [{}]},
        in_order=("validateBooking", "cancelFlight", "compensateFlight", "cancelHotel",
                  "compensateHotel", "updateCustomerRecord", "compensationSubProcess",
                  "throwCompensation"),
    ), id="camunda-compensation-event-subprocess"),
    pytest.param(Case(
        CAMUNDA + "event/compensate/CompensateEventTest."
        "testCompensateMiSubprocessWithCompensationEventSubProcess.bpmn20.xml",
        CAMUNDA_TESTS + "event/compensate/CompensateEventTest.java"
        "::testCompensateMiSubprocessWithCompensationEventSubProcess",
        # two iterations of the booking subprocess; the compensation event subprocess runs
        # once per iteration, last first, each seeing its iteration's `flight`
        variables={"flights": ["flight1", "flight2"]},
        tasks={"bookFlight": [{}], "bookHotel": [{}], "validateBooking": [{"valid": False}],
               "cancelFlight": [{}], "cancelHotel": [{}], "updateCustomerRecord": [{}]},
        counts={"compensationSubProcess": 2, "cancelFlight": 2, "cancelHotel": 2},
        check=lambda ran: _compensated_flights(ran, ["flight2", "flight1"]),
    ), id="camunda-compensate-mi-subprocess-event-subprocess"),
    pytest.param(Case(
        CAMUNDA + "subprocess/transaction/TransactionSubProcessTest.testCancelEndConcurrent"
        ".bpmn20.xml",
        CAMUNDA_TESTS + "subprocess/transaction/TransactionSubProcessTest.java"
        "::testCancelEndConcurrent",
        # the five hotel bookings and the flight complete; the customer does not confirm: the
        # cancel end event compensates every booking (5 hotels, 1 flight), then the cancel
        # boundary event leads to 'afterCancellation'
        auto_jobs=True, instant_timers=False,
        steps=(("task", "askCustomer", {"confirmed": False}),), status="WAITING",
        counts={"undoBookHotel": 5, "undoBookFlight": 1},
        in_order=("undoBookFlight", "catchCancelTx"), not_activated=("afterSuccess",),
        waiting=("at 'afterCancellation'",),
    ), id="camunda-transaction-cancel-end-concurrent"),
    pytest.param(Case(
        FLOWABLE + "subprocess/transaction/TransactionSubProcessTest.testNestedCancelInner"
        ".bpmn20.xml",
        FLOWABLE_TESTS + "subprocess/transaction/TransactionSubProcessTest.java"
        "::testNestedCancelInner",
        # the inner transaction is cancelled: its bookings are compensated (5 hotels, 1
        # flight), the outer one's flight is not; the outer transaction goes on
        auto_jobs=True, instant_timers=False,
        steps=(("task", "innerTxaskCustomer", {"confirmed": False}),), status="WAITING",
        counts={"innerTxundoBookHotel": 5, "innerTxundoBookFlight": 1},
        not_activated=("undoBookFlight", "afterInnerSuccess"),
        waiting=("at 'afterInnerCancellation'", "user task 'bookFlight'"),
    ), id="flowable-transaction-nested-cancel-inner"),
    pytest.param(Case(
        SPIFF + "transaction.bpmn",
        SPIFF_TESTS + "bpmn/events/TransactionSubprocssTest.py::testSubworkflowCancelEvent",
        # an empty value reaches the cancel end event: the cancel boundary's 'Cancel Action'
        # runs; neither error boundary nor 'Print Data' does
        tasks={"Activity_Get_Data": [{"value": ""}]}, jobs={"script": scripts(SPIFF_TX)},
        completed=("Catch_Cancel_Event", "Cancel_Action"), final={"reason": "Cancel"},
        not_activated=("Catch_Error_1", "Catch_Error_None", "Activity_Print_Data"),
    ), id="spiff-transaction-cancel"),
    pytest.param(Case(
        SPIFF + "transaction.bpmn",
        SPIFF_TESTS + "bpmn/events/TransactionSubprocssTest.py::testSubworkflowErrorCodeNone",
        # quantity 0 reaches the error end event without a code: the catch-all boundary
        # catches it, not 'Catch Error 1' nor the cancel boundary (the test's other assertion,
        # that data set inside the transaction is gone, is SpiffWorkflow's data model)
        tasks={"Activity_Get_Data": [{"value": "asdf"}],
               "Activity_Get_Quantity": [{"quantity": 0}]},
        jobs={"script": scripts(SPIFF_TX)},
        completed=("Catch_Error_None", "Error_None_Action"), final={"reason": "Error None"},
        not_activated=("Catch_Error_1", "Catch_Cancel_Event", "Activity_Print_Data"),
    ), id="spiff-transaction-error-none"),
    pytest.param(Case(
        SPIFF + "transaction.bpmn",
        SPIFF_TESTS + "bpmn/events/TransactionSubprocssTest.py::testNormalCompletion",
        tasks={"Activity_Get_Data": [{"value": "asdf"}],
               "Activity_Get_Quantity": [{"quantity": 2}]},
        jobs={"script": scripts(SPIFF_TX)},
        in_order=("Subprocess", "Activity_Print_Data", "End_Event"), final={"value": "asdf"},
        not_activated=("Catch_Error_1", "Catch_Error_None", "Catch_Cancel_Event"),
    ), id="spiff-transaction-normal"),
]


def _compensated_flights(ran: Ran, flights: list[str]) -> None:
    """The `flight` each run of the compensation event subprocess was started with."""
    seen = [r.value["variables"]["flight"] for r in ran.records
            if r.intent == "VARIABLES_UPDATED" and r.element_id == "compensationSubProcess"
            and "flight" in r.value["variables"]]
    assert seen == flights, seen


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


def test_cases_name_their_source_tests_and_cover_forty_files() -> None:
    cases = [p.values[0] for p in CASES]
    assert all(c.follows for c in cases)
    assert all((CORPUS / c.path).is_file() for c in cases)
    assert all((CORPUS / extra).is_file() for c in cases for extra in c.also_deploy)
    assert len({p.values[0].path for p in CASES if not p.marks}) >= 40


def test_a_boundary_event_on_an_event_subprocess_is_refused_at_deploy() -> None:
    """Flowable's EventSubProcessWithBoundaryEventsTest.testMessageBoundaryEvent attaches a
    message boundary event to an event subprocess, a Flowable extension BPMN does not have.
    Laneway refuses it at deploy, naming the element, rather than ignore it silently."""
    path = CORPUS / (
        FLOWABLE + "event/EventSubProcessWithBoundaryEventsTest.testMessageBoundaryEvent.bpmn20.xml"
    )
    with pytest.raises(DiagramError) as refused:
        DefinitionRepository().deploy(parse_file(path))
    assert [p.element_id for p in refused.value.problems] == ["messageBoundary"]
    assert "event subprocess" in refused.value.problems[0].message
