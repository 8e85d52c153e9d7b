"""Activities and gateways without incoming flows (BPMN 2.0.2, 13.4.1 and 10.5.2): they are
instantiated when their process or subprocess starts, together with its start event. Events
in the flow (intermediate and end events) still need an incoming flow, and compensation
handlers, boundary events and event subprocesses keep waiting for their triggers."""

from __future__ import annotations

from conftest import RunFn, document

from laneway.bpmn import parse, validate


def _problems(xml: str) -> list[str]:
    return [p.message for p in validate(parse(document(xml).encode(), "implicit.bpmn"))]


TOP = """
<startEvent id="s"/>
<task id="a"/>
<endEvent id="e1"/>
<serviceTask id="lone" laneway:type="w"/>
<endEvent id="e2"/>
<parallelGateway id="gw"/>
<task id="g1"/><task id="g2"/>
<endEvent id="e3"/><endEvent id="e4"/>
@ s -> a -> e1
@ lone -> e2
@ gw -> g1 -> e3
@ gw -> g2 -> e4
"""


def test_an_activity_and_a_gateway_without_incoming_flows_start_with_the_process(
        run: RunFn) -> None:
    h = run(TOP)
    # the start event first, then every activity and gateway without incoming flows
    assert h.activated()[:4] == ["p", "s", "lone", "gw"]
    assert {"a", "g1", "g2"} <= set(h.activated())
    assert h.status(h.iid) == "WAITING"  # on the lone service task's job
    h.complete_job("lone")
    assert h.activated()[-1] == "e2"
    assert h.status(h.iid) == "COMPLETED"
    assert _problems(TOP) == []


def test_inside_a_subprocess_they_start_with_the_subprocess(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <task id="inner"/>
      <endEvent id="se"/>
      <serviceTask id="alone" laneway:type="w"/>
      @ ss -> inner -> se
    </subProcess>
    <task id="after"/>
    <endEvent id="e"/>
    @ s -> sub -> after -> e
    """)
    assert h.activated()[:5] == ["p", "s", "sub", "ss", "alone"]
    # the subprocess waits for the lone task before it completes
    assert "after" not in h.activated()
    h.complete_job("alone")
    assert h.activated()[-2:] == ["after", "e"]
    assert h.status(h.iid) == "COMPLETED"


def test_event_subprocesses_do_not_start(run: RunFn) -> None:
    h = run("""
    <signal id="sig" name="go"/>
    <startEvent id="s"/>
    <endEvent id="e"/>
    <subProcess id="onsig" triggeredByEvent="true">
      <startEvent id="es"><signalEventDefinition signalRef="sig"/></startEvent>
      <endEvent id="ee"/>
      @ es -> ee
    </subProcess>
    @ s -> e
    """)
    assert h.activated() == ["p", "s", "e"]


def test_an_intermediate_event_without_incoming_flow_is_still_refused() -> None:
    problems = _problems("""
    <startEvent id="s"/><endEvent id="e"/>
    <intermediateThrowEvent id="lost"/><endEvent id="e2"/>
    @ s -> e
    @ lost -> e2
    """)
    assert problems == [
        "Expected an incoming sequence flow on this intermediateThrowEvent, but it has none"]
