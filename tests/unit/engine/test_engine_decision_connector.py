"""A gateway whose `laneway:decision` names a connector type (`llm`): its decision job has that
type (so it goes to `jobs.<type>`), says it is a decision, and is answered with SUBMIT_DECISION,
which may set variables (what the handler classified, what it cost). COMPLETE_JOB on it is
refused; the plain `decision` type works as before."""

from __future__ import annotations

from conftest import RunFn

from laneway.bpmn import parse, validate
from laneway.engine.runner import Answers
from laneway.records import Command, RecordKind

TRIAGE = """
<startEvent id="s"/>
<exclusiveGateway id="route" name="Which desk?" laneway:decision="llm"
    laneway:prompt="Route {{ text }}"/>
<userTask id="permit" name="Check the permit"/><userTask id="noise" name="Call the neighbour"/>
<endEvent id="e1"/><endEvent id="e2"/>
@ s -> route
<sequenceFlow id="to_permit" name="Building permit" sourceRef="route" targetRef="permit"/>
<sequenceFlow id="to_noise" name="Noise complaint" sourceRef="route" targetRef="noise"/>
@ permit -> e1
@ noise -> e2
"""


def test_a_gateway_naming_a_connector_creates_a_decision_job_of_that_type(run: RunFn) -> None:
    h = run(TRIAGE, variables={"text": "a loud party"})
    job = h.job("route")
    assert job.value["type"] == "llm"
    assert job.value["decision"] is True
    assert job.value["gatewayType"] == "exclusiveGateway"
    assert [(f["id"], f["name"], f["target"], f["targetName"]) for f in job.value["flows"]] == [
        ("to_permit", "Building permit", "permit", "Check the permit"),
        ("to_noise", "Noise complaint", "noise", "Call the neighbour")]
    assert job.value["attributes"]["laneway:prompt"] == "Route {{ text }}"


def test_a_typed_decision_takes_the_flow_and_sets_the_variables_it_sends(run: RunFn) -> None:
    h = run(TRIAGE, variables={"text": "a loud party"})
    key = h.job("route").value["key"]
    recs = h.send(Command.SUBMIT_DECISION, h.iid, {
        "jobKey": key, "flows": ["to_noise"],
        "variables": {"triage": {"flow": "to_noise", "usage": {"inputTokens": 9}}}})
    assert [r for r in recs if r.kind == RecordKind.REJECTION] == []
    completed = h.last("JOB_COMPLETED", "route")
    assert completed.value["type"] == "llm"
    assert completed.value["variables"]["triage"]["flow"] == "to_noise"
    assert h.last("GATEWAY_DECIDED", "route").value["flows"] == ["to_noise"]
    assert h.activated()[-1] == "noise"
    assert h.variables(h.iid)["triage"] == {"flow": "to_noise", "usage": {"inputTokens": 9}}


def test_complete_job_on_a_typed_decision_is_refused(run: RunFn) -> None:
    h = run(TRIAGE, variables={"text": "x"})
    [rejection] = h.complete_job("route", {"flows": ["to_noise"]})
    assert rejection.kind == RecordKind.REJECTION
    assert "Expected SUBMIT_DECISION for decision job" in rejection.value["reason"]
    assert h.status(h.iid) == "WAITING"


def test_submit_decision_on_a_service_job_is_refused(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/><serviceTask id="t" laneway:type="llm"/><endEvent id="e"/>
    @ s -> t -> e
    """)
    [rejection] = h.send(Command.SUBMIT_DECISION, h.iid, {
        "jobKey": h.job("t").value["key"], "flows": ["t_e"]})
    assert rejection.kind == RecordKind.REJECTION
    assert "Expected COMPLETE_JOB" in rejection.value["reason"]


def test_decision_variables_that_are_not_an_object_are_refused(run: RunFn) -> None:
    h = run(TRIAGE, variables={"text": "x"})
    [rejection] = h.send(Command.SUBMIT_DECISION, h.iid, {
        "jobKey": h.job("route").value["key"], "flows": ["to_noise"], "variables": [1]})
    assert rejection.kind == RecordKind.REJECTION
    assert h.status(h.iid) == "WAITING"


def test_an_inclusive_gateway_typed_decision_takes_several_flows(run: RunFn) -> None:
    h = run(TRIAGE.replace("exclusiveGateway", "inclusiveGateway"), variables={"text": "x"})
    job = h.job("route")
    assert job.value["gatewayType"] == "inclusiveGateway"
    h.send(Command.SUBMIT_DECISION, h.iid, {"jobKey": job.value["key"],
                                           "flows": ["to_permit", "to_noise"]})
    assert sorted(h.activated()[-2:]) == ["noise", "permit"]


def test_a_failed_decision_job_comes_back_with_its_flows_after_the_incident(
        run: RunFn) -> None:
    h = run(TRIAGE, variables={"text": "x"})
    h.fail_job("route", 0, "the model named no flow")
    incident = h.last("INCIDENT_CREATED", "route")
    assert h.status(h.iid) == "INCIDENT"
    h.send(Command.RESOLVE_INCIDENT, h.iid, {"incidentKey": incident.value["key"]})
    again = h.job("route")
    assert again.value["type"] == "llm"
    assert again.value["decision"] is True
    assert [f["id"] for f in again.value["flows"]] == ["to_permit", "to_noise"]
    h.send(Command.SUBMIT_DECISION, h.iid, {"jobKey": again.value["key"],
                                           "flows": ["to_permit"]})
    assert h.activated()[-1] == "permit"


def test_the_local_runner_answers_a_typed_decision_with_flows(run: RunFn) -> None:
    h = run(TRIAGE, Answers(jobs={"llm": {"flows": ["to_permit"],
                                          "variables": {"why": "a permit"}}}),
            variables={"text": "x"})
    assert h.activated()[-1] == "permit"
    assert h.variables(h.iid)["why"] == "a permit"


def _document(body: str) -> str:
    return ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'xmlns:laneway="https://laneway.dev/bpmn" id="d" targetNamespace="t">'
            f'<process id="p" isExecutable="true">{body}</process></definitions>')


def test_reading_the_mark_names_the_type_and_keeps_the_old_marks() -> None:
    from laneway.bpmn import LANEWAY_NS
    body = ('<exclusiveGateway id="a" laneway:decision=" llm "/>'
            '<exclusiveGateway id="b" laneway:decision="Handler"/>'
            '<exclusiveGateway id="c" laneway:decision="no"/>'
            '<exclusiveGateway id="g4" laneway:decision="false"/>')
    nodes = parse(_document(body).replace("https://laneway.dev/bpmn", LANEWAY_NS)
                  .encode()).process().nodes
    assert (nodes["a"].decision_handler, nodes["a"].decision_type) == (True, "llm")
    assert (nodes["b"].decision_handler, nodes["b"].decision_type) == (True, None)
    assert (nodes["c"].decision_handler, nodes["g4"].decision_handler) == (False, False)


def test_a_decision_connector_on_a_task_is_refused_at_deploy() -> None:
    from laneway.bpmn import LANEWAY_NS
    body = ('<startEvent id="s"/><serviceTask id="t" laneway:decision="llm"/>'
            '<endEvent id="e"/><sequenceFlow id="f1" sourceRef="s" targetRef="t"/>'
            '<sequenceFlow id="f2" sourceRef="t" targetRef="e"/>')
    problems = validate(parse(_document(body).replace("https://laneway.dev/bpmn", LANEWAY_NS)
                              .encode()))
    assert [p.element_id for p in problems] == ["t"]
    assert "only an exclusive or inclusive gateway" in problems[0].message
