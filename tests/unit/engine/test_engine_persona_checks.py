"""Deploy-time checks about people: lanes whose user tasks would get no persona (what the
definitions service asks before AUTHORIZED), and malformed SLAs."""

from __future__ import annotations

import pytest
from conftest import document

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.engine.check import missing_personas
from laneway.model import Process
from laneway.problems import DiagramError


def process(xml: str) -> Process:
    return parse(document(xml).encode(), "test.bpmn").process("p")


def line_of(xml: str, text: str) -> int:
    """The 1-based line of the document on which `text` appears."""
    lines = document(xml).splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


NESTED = """
<laneSet id="ls">
  <lane id="office" name="Office">
    <flowNodeRef>first</flowNodeRef><flowNodeRef>second</flowNodeRef>
    <flowNodeRef>auto</flowNodeRef>
    <childLaneSet id="inner">
      <lane id="desk" name="Desk"><flowNodeRef>first</flowNodeRef></lane>
      <lane id="senior" laneway:persona="senior"><flowNodeRef>second</flowNodeRef></lane>
    </childLaneSet>
  </lane>
  <lane id="robots" name="Robots"><flowNodeRef>auto</flowNodeRef></lane>
</laneSet>
<startEvent id="s"/><userTask id="first"/><userTask id="second"/>
<serviceTask id="auto" laneway:type="x"/><userTask id="stray"/><endEvent id="e"/>
@ s -> first -> second -> auto -> stray -> e
"""


def test_lanes_holding_tasks_without_persona_are_named_with_line_and_tasks() -> None:
    problems = missing_personas(process(NESTED), {}, file="test.bpmn")
    by_id = {p.element_id: p for p in problems}
    assert set(by_id) == {"office", "desk", "stray"}
    assert "(first)" in by_id["office"].message
    assert "(first)" in by_id["desk"].message
    assert by_id["office"].line == line_of(NESTED, 'id="office"')
    desk = line_of(NESTED, 'id="desk"')
    assert by_id["desk"].line == desk
    assert "in no lane" in by_id["stray"].message
    assert str(by_id["desk"]).startswith(f"test.bpmn:{desk}: element 'desk':")


def test_the_review_mapping_fills_the_gaps() -> None:
    assert [p.element_id for p in missing_personas(process(NESTED), {"desk": "clerk"})] == [
        "stray"]
    # a persona on the outer lane covers the nested lane without one
    assert [p.element_id for p in missing_personas(process(NESTED), {"office": "clerk"})] == [
        "stray"]


def test_a_lane_with_only_service_tasks_needs_no_persona() -> None:
    problems = missing_personas(process(NESTED), {"office": "clerk"})
    assert "robots" not in {p.element_id for p in problems}


def test_a_process_without_lanes_has_nothing_to_enforce() -> None:
    assert missing_personas(process("""
    <startEvent id="s"/><userTask id="t"/>
    @ s -> t
    """), {}) == []


@pytest.mark.parametrize("sla", ["0", "-5", "soon", "nan", "inf"])
def test_a_malformed_sla_is_refused_at_deploy_with_element_and_line(sla: str) -> None:
    xml = f"""
    <startEvent id="s"/>
    <userTask id="t" laneway:slaMinutes="{sla}"/>
    @ s -> t
    """
    with pytest.raises(DiagramError) as caught:
        DefinitionRepository().deploy(parse(document(xml).encode(), "test.bpmn"))
    [problem] = caught.value.problems
    assert (problem.element_id, problem.line) == ("t", line_of(xml, 'id="t"'))
    assert "positive number of minutes" in problem.message
    assert sla in problem.message


def test_a_fractional_sla_is_fine() -> None:
    xml = """
    <startEvent id="s"/>
    <userTask id="t" laneway:slaMinutes=" 0.5 "/>
    @ s -> t
    """
    assert DefinitionRepository().deploy(parse(document(xml).encode(), "test.bpmn"))
