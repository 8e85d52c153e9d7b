"""An ad-hoc subprocess's decision job through the connectors runtime
(services.connectors.execute): the connector sees `job.adhoc`, the activities it may start and
what runs; a `Decision` naming activities becomes SUBMIT_DECISION {jobKey, activities, done,
variables}; every choice the engine would refuse (an unknown activity, one twice, two when
Sequential, nothing while nothing runs, flows, variables) becomes a failure with no retries,
an incident, instead of a command refused while the instance waits for ever."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from laneway.connectors import AdHocActivity, BpmnError, Decision
from tests.unit.test_connectors_execute import Scripted, _execute, _record

ACTIVITIES = [
    {"id": "gather", "name": "Gather facts", "kind": "userTask",
     "attributes": {"acme:desk": "2"}, "documentation": "Read the file", "runs": 1},
    {"id": "call", "name": None, "kind": "serviceTask", "attributes": {},
     "documentation": None, "runs": 0},
    {"name": "no id: skipped"},
]


def _adhoc_record(ordering: str = "Parallel", running: list[str] | None = None) -> Any:
    return replace(_record(), element_id="work", element_type="adHocSubProcess", extra={
        "decision": True, "adHoc": True, "ordering": ordering, "activities": ACTIVITIES,
        "running": running or [], "decisions": 3, "maxDecisions": 100,
        "completionCondition": "=done"})


def test_the_connector_sees_the_activities_and_what_runs() -> None:
    connector = Scripted(Decision(activities=["call"]))
    _execute(connector, _adhoc_record("Sequential"))
    (job,) = connector.jobs
    assert (job.decision, job.adhoc, job.sequential) == (True, True, True)
    assert job.flows == ()
    assert job.activities == (
        AdHocActivity("gather", "Gather facts", "userTask", {"acme:desk": "2"},
                      "Read the file", 1),
        AdHocActivity("call", None, "serviceTask", {}, None, 0))
    assert (job.running, job.decisions, job.max_decisions, job.completion_condition) == (
        (), 3, 100, "=done")


def test_a_choice_is_submitted_with_its_activities_done_and_variables() -> None:
    connector = Scripted(Decision(activities=["call", "gather"], done=True,
                                  variables={"plan": {"reason": "both, then stop"}}))
    intent, (cmd,) = _execute(connector, _adhoc_record())
    assert intent == "SUBMIT_DECISION"
    assert (cmd.intent, dict(cmd.value)) == ("SUBMIT_DECISION", {
        "jobKey": 9, "activities": ["call", "gather"], "done": True,
        "variables": {"plan": {"reason": "both, then stop"}}})
    assert (cmd.principal.kind, cmd.principal.id) == ("agent", "connector:test")


def test_waiting_for_what_runs_is_a_valid_parallel_choice() -> None:
    _, (cmd,) = _execute(Scripted(Decision(activities=[])), _adhoc_record(running=["call"]))
    assert (cmd.intent, cmd.value["activities"], cmd.value["done"]) == (
        "SUBMIT_DECISION", [], False)


def _failure(result: Any, record: Any = None) -> str:
    intent, (cmd,) = _execute(Scripted(result), record or _adhoc_record())
    assert (intent, cmd.intent, cmd.value["retries"]) == ("FAIL_JOB", "FAIL_JOB", 0)
    return str(cmd.value["errorMessage"])


@pytest.mark.parametrize(("result", "ordering", "said"), [
    (Decision(activities=["gather", "after"]), "Parallel",
     "can be started (gather, call), but the decision names after"),
    (Decision(activities=["call", "call"]), "Parallel", "at most once"),
    (Decision(activities=["call", "gather"]), "Sequential", "is sequential"),
    (Decision(activities=[]), "Parallel", "nothing runs"),
    (Decision(activities=[]), "Sequential", "nothing runs"),
    (Decision(flows=["to_permit"]), "Parallel", "names flows"),
    (Decision(activities="call"), "Parallel", "as a list of ids"),
    ({"answer": 1}, "Parallel", "cannot choose activities"),
    (BpmnError("NOPE", "no idea"), "Parallel", "BPMN error NOPE"),
])
def test_a_choice_the_engine_would_refuse_fails_the_job(result: Any, ordering: str,
                                                        said: str) -> None:
    assert said in _failure(result, _adhoc_record(ordering))


def test_a_gateway_decision_naming_activities_still_needs_flows() -> None:
    record = replace(_record(), element_id="route", element_type="exclusiveGateway", extra={
        "decision": True, "gatewayType": "exclusiveGateway",
        "flows": [{"id": "to_a", "target": "a"}]})
    assert "names none" in _failure(Decision(activities=["to_a"]), record)
