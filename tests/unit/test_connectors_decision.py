"""A gateway's decision job through the connectors runtime (services.connectors.execute): the
connector sees `job.decision` and the flows, a `Decision` becomes SUBMIT_DECISION with its
variables, and every answer the engine would refuse (an unknown flow, two at an exclusive
gateway, variables instead of a Decision, a BPMN error a gateway cannot catch) becomes a
failure with no retries, an incident, instead of a silent wait."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from laneway.connectors import BpmnError, Decision, DecisionFlow
from tests.unit.test_connectors_execute import Scripted, _execute, _record

FLOWS = [
    {"id": "to_permit", "name": "Building permit", "target": "permit",
     "targetName": "Check the permit", "condition": None, "default": False,
     "attributes": {"acme:desk": "2"}},
    {"id": "to_other", "name": "Something else", "target": "other", "targetName": None,
     "condition": "=true", "default": True, "attributes": {}},
]


def _decision_record(gateway: str = "exclusiveGateway", **extra: Any) -> Any:
    return replace(_record(), element_id="route", element_type=gateway,
                   extra={"decision": True, "flows": FLOWS, "gatewayType": gateway, **extra})


def test_the_connector_sees_the_decision_and_its_flows() -> None:
    connector = Scripted(Decision(["to_permit"]))
    _execute(connector, _decision_record())
    (job,) = connector.jobs
    assert job.decision
    assert not job.takes_many
    assert job.gateway_type == "exclusiveGateway"
    assert job.flows == (
        DecisionFlow("to_permit", "Building permit", "permit", "Check the permit", None, False,
                     {"acme:desk": "2"}),
        DecisionFlow("to_other", "Something else", "other", None, "=true", True, {}))


def test_a_decision_is_submitted_with_its_variables() -> None:
    connector = Scripted(Decision(["to_permit"], {"triage": {"reason": "a new roof"}}))
    intent, (cmd,) = _execute(connector, _decision_record())
    assert intent == "SUBMIT_DECISION"
    assert (cmd.intent, dict(cmd.value)) == ("SUBMIT_DECISION", {
        "jobKey": 9, "flows": ["to_permit"], "variables": {"triage": {"reason": "a new roof"}}})


def test_an_inclusive_gateway_takes_several_flows() -> None:
    connector = Scripted(Decision(["to_permit", "to_other", "to_permit"]))
    _, (cmd,) = _execute(connector, _decision_record("inclusiveGateway"))
    assert cmd.value["flows"] == ["to_permit", "to_other"]


def test_a_decision_job_written_before_the_mark_is_still_a_decision() -> None:
    record = replace(_decision_record(), type="decision",
                     extra={"flows": FLOWS, "gatewayType": "exclusiveGateway"})
    _, (cmd,) = _execute(Scripted(Decision(["to_other"])), record)
    assert cmd.intent == "SUBMIT_DECISION"


def _failure(result: Any, record: Any = None) -> str:
    intent, (cmd,) = _execute(Scripted(result), record or _decision_record())
    assert (intent, cmd.intent, cmd.value["retries"]) == ("FAIL_JOB", "FAIL_JOB", 0)
    return str(cmd.value["errorMessage"])


def test_an_unknown_flow_fails_the_job_without_retries() -> None:
    message = _failure(Decision(["to_mars"]))
    assert "the decision names to_mars" in message
    assert "to_permit, to_other" in message


def test_two_flows_at_an_exclusive_gateway_fail_the_job() -> None:
    assert "exactly one flow" in _failure(Decision(["to_permit", "to_other"]))


def test_no_flow_fails_the_job() -> None:
    assert "names none" in _failure(Decision([]))


def test_variables_instead_of_a_decision_fail_the_job() -> None:
    assert "cannot decide a gateway" in _failure({"answer": 1})


def test_a_bpmn_error_at_a_gateway_fails_the_job() -> None:
    assert "BPMN error NOPE" in _failure(BpmnError("NOPE", "no idea"))


def test_a_decision_for_a_service_task_fails_the_job() -> None:
    assert "not a gateway's decision" in _failure(Decision(["x"]), _record())
