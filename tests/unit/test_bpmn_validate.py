"""Validation messages, located as `file:line: element 'id': message`."""

from __future__ import annotations

from laneway.bpmn import parse, validate

NS = 'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'


def _problems(process_body: str, executable: str = "true") -> list[str]:
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions {NS} id="d" '
        f'targetNamespace="t">\n<bpmn:process id="P" isExecutable="{executable}">'
        f"{process_body}</bpmn:process></bpmn:definitions>"
    )
    return [str(p) for p in validate(parse(xml.encode(), "permit.bpmn"))]


def test_clean_diagram_has_no_problems() -> None:
    assert (
        _problems(
            """
<bpmn:startEvent id="s"/>
<bpmn:exclusiveGateway id="g" default="no"/>
<bpmn:task id="a"/>
<bpmn:endEvent id="e"/>
<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="g"/>
<bpmn:sequenceFlow id="yes" sourceRef="g" targetRef="a">
  <bpmn:conditionExpression>${ok}</bpmn:conditionExpression>
</bpmn:sequenceFlow>
<bpmn:sequenceFlow id="no" sourceRef="g" targetRef="e"/>
<bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="e"/>"""
        )
        == []
    )


def test_exclusive_gateway_with_two_bare_flows_next_to_a_condition_and_no_default() -> None:
    bare = """
<bpmn:startEvent id="s"/>
<bpmn:exclusiveGateway id="Gw_Decide"/>
<bpmn:endEvent id="a"/>
<bpmn:endEvent id="b"/>
<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="Gw_Decide"/>
<bpmn:sequenceFlow id="f1" sourceRef="Gw_Decide" targetRef="a"/>
<bpmn:sequenceFlow id="f2" sourceRef="Gw_Decide" targetRef="b"/>"""
    # no condition at all: a decision job decides (docs/engine.md "Gateways")
    assert _problems(bare) == []
    problems = _problems(bare + """
<bpmn:endEvent id="c"/>
<bpmn:sequenceFlow id="f3" sourceRef="Gw_Decide" targetRef="c">
  <bpmn:conditionExpression>=x</bpmn:conditionExpression></bpmn:sequenceFlow>""")

    assert problems == [
        "permit.bpmn:5: element 'Gw_Decide': exclusive gateway has two outgoing flows "
        "without condition and no default; add conditions, a default flow, or "
        'laneway:decision="handler" to ask a decision handler'
    ]


def test_process_without_start_event() -> None:
    assert _problems('<bpmn:task id="t"/>') == [
        "permit.bpmn:3: element 'P': Expected a start event in the process, but it has none"
    ]
    # A non-executable pool may start at its nodes without incoming flows (BPMN 10.5.2).
    assert _problems('<bpmn:task id="t"/>', executable="false") == []


def test_node_without_incoming_flow() -> None:
    problems = _problems(
        """
<bpmn:startEvent id="s"/>
<bpmn:intermediateThrowEvent id="orphan"/>
<bpmn:task id="handler" isForCompensation="true"/>
<bpmn:boundaryEvent id="b" attachedToRef="handler"/>
<bpmn:subProcess id="events" triggeredByEvent="true">
  <bpmn:startEvent id="es"><bpmn:signalEventDefinition/></bpmn:startEvent>
</bpmn:subProcess>
<bpmn:intermediateCatchEvent id="land"><bpmn:linkEventDefinition name="L"/>
</bpmn:intermediateCatchEvent><bpmn:intermediateThrowEvent id="jump">
<bpmn:linkEventDefinition name="L"/></bpmn:intermediateThrowEvent>
<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="jump"/>"""
    )

    # an activity (or gateway) without incoming flows starts with its scope (BPMN 13.4.1);
    # an event in the flow needs one
    assert problems == [
        "permit.bpmn:5: element 'orphan': Expected an incoming sequence flow on this "
        "intermediateThrowEvent, but it has none"
    ]


def test_end_event_with_outgoing_flow_and_start_event_with_incoming() -> None:
    problems = _problems(
        """
<bpmn:startEvent id="s"/>
<bpmn:endEvent id="e"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="e"/>
<bpmn:sequenceFlow id="f2" sourceRef="e" targetRef="s"/>"""
    )

    assert problems == [
        "permit.bpmn:4: element 's': Expected no incoming flows on a startEvent, but it has one",
        "permit.bpmn:5: element 'e': Expected no outgoing flows on an end event, but it has one",
    ]


def test_boundary_events() -> None:
    problems = _problems(
        """
<bpmn:startEvent id="s"/>
<bpmn:userTask id="u"/>
<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="u"/>
<bpmn:boundaryEvent id="loose"/>
<bpmn:boundaryEvent id="cancel" attachedToRef="u"><bpmn:cancelEventDefinition/></bpmn:boundaryEvent>
<bpmn:boundaryEvent id="on_event" attachedToRef="s"/>"""
    )

    assert problems == [
        "permit.bpmn:7: element 'loose': Expected attachedToRef on a boundary event, "
        "but it has none",
        "permit.bpmn:8: element 'cancel': Expected a cancel boundary event to be attached to a "
        "transaction, but 'u' is a userTask",
        "permit.bpmn:9: element 'on_event': Expected the boundary event to be attached to an "
        "activity of this process, but 's' is not one",
    ]


def test_sequence_flow_crossing_a_subprocess_boundary() -> None:
    problems = _problems(
        """
<bpmn:startEvent id="s"/>
<bpmn:subProcess id="sub">
  <bpmn:startEvent id="s1"/>
  <bpmn:task id="inside"/>
  <bpmn:sequenceFlow id="ok" sourceRef="s1" targetRef="inside"/>
</bpmn:subProcess>
<bpmn:sequenceFlow id="into" sourceRef="s" targetRef="inside"/>
<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="sub"/>"""
    )

    assert problems == [
        "permit.bpmn:10: element 'into': Expected a sequence flow to stay within one "
        "(sub)process, but it goes from 's' in the process to 'inside' in subprocess 'sub'"
    ]


def test_default_flow_must_leave_its_gateway() -> None:
    problems = _problems(
        """
<bpmn:startEvent id="s"/>
<bpmn:exclusiveGateway id="g" default="f"/>
<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="g"/>"""
    )

    assert problems == [
        "permit.bpmn:5: element 'g': Expected the default flow 'f' to leave this "
        "exclusiveGateway, but it does not"
    ]


def test_links_loops_and_event_gateways() -> None:
    problems = _problems(
        """
<bpmn:startEvent id="s"/>
<bpmn:eventBasedGateway id="eg"/>
<bpmn:task id="t"><bpmn:standardLoopCharacteristics/></bpmn:task>
<bpmn:intermediateThrowEvent id="jump"><bpmn:linkEventDefinition name="nowhere"/>
</bpmn:intermediateThrowEvent>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="eg"/>
<bpmn:sequenceFlow id="f2" sourceRef="eg" targetRef="t"/>
<bpmn:sequenceFlow id="f3" sourceRef="t" targetRef="jump"/>"""
    )

    assert problems == [
        "permit.bpmn:5: element 'eg': Expected an event-based gateway to lead to catching "
        "events or receive tasks, but 't' is a task",
        "permit.bpmn:6: element 't': Expected a loopCondition or loopMaximum on a standard "
        "loop, but it has neither (it would never end)",
        "permit.bpmn:7: element 'jump': Expected a catching link event named 'nowhere' in the "
        "same scope, but none",
    ]
