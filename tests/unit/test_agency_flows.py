"""Message flows to another agency's pool (laneway.agency_flows): what the diagram declares,
what the engine sends, and the problems a bad declaration gets at deploy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from laneway.agency_flows import crossing, crossings, message_id
from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.engine.runner import Answers, LocalRunner
from laneway.model import Definitions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_A = ROOT / "examples" / "agencies" / "agency-a" / "agency-a.bpmn"
EXAMPLE_B = ROOT / "examples" / "agencies" / "agency-b" / "agency-b.bpmn"

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:lw="http://laneway.dev/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:message id="m" name="hello" {message_attrs}/>
  <bpmn:collaboration id="c">
    <bpmn:participant id="pa" processRef="p" {source_agency}/>
    <bpmn:participant id="pb" {target_agency}/>
    <bpmn:messageFlow id="mf" sourceRef="{source}" targetRef="pb" {flow_attrs}/>
  </bpmn:collaboration>
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"/>
    {sender}
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="send"/>
    <bpmn:sequenceFlow id="f2" sourceRef="send" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""

THROW = """<bpmn:intermediateThrowEvent id="send" lw:correlationKey="caseId">
      <bpmn:messageEventDefinition messageRef="m"/></bpmn:intermediateThrowEvent>"""


def diagram(*, sender: str = THROW, source: str = "send", flow_attrs: str = 'lw:variables="a,b"',
            target_agency: str = 'lw:agency="b"', source_agency: str = "",
            message_attrs: str = "") -> Definitions:
    return parse(HEAD.format(sender=sender, source=source, flow_attrs=flow_attrs,
                             target_agency=target_agency, source_agency=source_agency,
                             message_attrs=message_attrs).encode())


def test_a_throw_to_another_agencys_pool_crosses_with_the_declared_variables() -> None:
    found = crossing(diagram(), "send")
    assert found is not None
    assert (found.flow_id, found.agency, found.variables) == ("mf", "b", ("a", "b"))


def test_the_messages_declaration_applies_when_the_flow_declares_none() -> None:
    found = crossing(diagram(flow_attrs="", message_attrs='lw:variables="x"'), "send")
    assert found is not None
    assert found.variables == ("x",)


def test_no_declaration_means_no_variable_crosses() -> None:
    found = crossing(diagram(flow_attrs=""), "send")
    assert found is not None
    assert found.variables == ()


@pytest.mark.parametrize(("target_agency", "source_agency"), [
    ("", ""), ('lw:agency="a"', 'lw:agency="a"')])
def test_a_pool_of_no_agency_or_the_same_agency_is_not_crossed_to(
        target_agency: str, source_agency: str) -> None:
    defs = diagram(target_agency=target_agency, source_agency=source_agency)
    assert crossing(defs, "send") is None
    assert crossings(defs).problems == ()


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"target_agency": 'lw:agency="B C"'}, "Expected laneway:agency to be an agency name"),
    ({"flow_attrs": 'lw:variables="a,b c"'}, "'b c' is none"),
    ({"sender": '<bpmn:task id="send"/>'}, "'send' is a task"),
    ({"sender": '<bpmn:sendTask id="send" lw:type="email"/>'}, "Expected no job type"),
    ({"sender": '<bpmn:sendTask id="send"/>'}, "to name a bpmn:message"),
])
def test_a_bad_declaration_is_a_problem_naming_the_element_and_its_line(
        kwargs: dict[str, str], expected: str) -> None:
    defs = diagram(**kwargs)
    problems = crossings(defs).problems
    assert len(problems) == 1, problems
    assert expected in problems[0].message
    assert problems[0].line > 0
    assert problems[0].element_id
    with pytest.raises(Exception, match=re.escape(expected)):
        DefinitionRepository().deploy(defs)


def test_the_engine_sends_only_the_declared_variables_under_a_replayable_id() -> None:
    repository = DefinitionRepository()
    repository.deploy(parse(EXAMPLE_A.read_bytes()))
    runner = LocalRunner(repository)
    iid = runner.start("agency_a_ask", {"caseId": "C-7", "question": "q?", "secret": "s3"})
    runner.run(iid, Answers())
    [sent] = runner.sent_across
    v = sent.value
    assert (v["agency"], v["name"], v["correlationKey"]) == ("b", "caseRequest", "C-7")
    assert v["variables"] == {"caseId": "C-7", "question": "q?"}  # never `secret`
    key = next(r for r in runner.records if r.intent == "ELEMENT_ACTIVATED"
               and r.element_id == "ask_b").value["key"]
    assert v["messageId"] == message_id(iid, key)
    # the send task completed without a job; the instance waits for the answer
    assert not [r for r in runner.records if r.intent == "JOB_CREATED"]
    assert any(r.intent == "ELEMENT_COMPLETED" and r.element_id == "ask_b"
               for r in runner.records)


def test_a_message_end_event_sends_across_and_the_instance_ends() -> None:
    repository = DefinitionRepository()
    repository.deploy(parse(EXAMPLE_B.read_bytes()))
    runner = LocalRunner(repository)
    iid = runner.start("agency_b_answer", {"caseId": "C-7", "question": "q?"},
                       start_event_id="request_received")
    runner.run(iid, Answers(tasks={"answer_request": [{"answer": "yes"}]}))
    [sent] = runner.sent_across
    assert sent.value["agency"] == "a"
    assert sent.value["variables"] == {"caseId": "C-7", "answer": "yes"}
    assert any(r.intent == "ELEMENT_COMPLETED" and r.element_type == "process"
               for r in runner.records)


@pytest.mark.parametrize("written", ["caseId", "=caseId", " = caseId ", "${caseId}"])
def test_the_correlation_key_is_written_with_or_without_the_feel_mark(written: str) -> None:
    repository = DefinitionRepository()
    repository.deploy(diagram(sender=THROW.replace('lw:correlationKey="caseId"',
                                                   f'lw:correlationKey="{written}"')))
    runner = LocalRunner(repository)
    iid = runner.start("p", {"caseId": "C-7", "a": 1})
    runner.run(iid, Answers())
    [sent] = runner.sent_across
    assert sent.value["correlationKey"] == "C-7"
    assert sent.value["variables"] == {"a": 1}
