"""A multi-instance activity over a collection that is missing or null is an incident (as
Zeebe's EXTRACT_VALUE_ERROR), resolved once the variable is set; an empty list runs zero
times. A negative loop cardinality is an incident at run time and refused at deploy when
written as a literal (BPMN 2.0.2, 10.3.8: loopCardinality is the number of instances)."""

from __future__ import annotations

import pytest
from conftest import RunFn, document

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.problems import DiagramError
from laneway.records import Command

OVER_ITEMS = """
<startEvent id="s"/>
<serviceTask id="each" laneway:type="w">
  <multiInstanceLoopCharacteristics isSequential="true">
    <extensionElements><zeebe:loopCharacteristics inputCollection="=items" inputElement="item"/>
    </extensionElements>
  </multiInstanceLoopCharacteristics>
</serviceTask>
<task id="after"/>
<endEvent id="e"/>
<serviceTask id="setter" laneway:type="setter"/>
<endEvent id="e2"/>
<parallelGateway id="fork"/>
@ s -> fork -> each -> after -> e
@ fork -> setter -> e2
"""


def cardinality(value: str) -> str:
    return f"""
    <startEvent id="s"/>
    <task id="each">
      <multiInstanceLoopCharacteristics>
        <loopCardinality>{value}</loopCardinality>
      </multiInstanceLoopCharacteristics>
    </task>
    <task id="after"/>
    <endEvent id="e"/>
    <serviceTask id="setter" laneway:type="setter"/>
    <endEvent id="e2"/>
    <parallelGateway id="fork"/>
    @ s -> fork -> each -> after -> e
    @ fork -> setter -> e2
    """


@pytest.mark.parametrize("variables", [{}, {"items": None}])
def test_a_missing_or_null_collection_is_an_incident_resolved_once_it_is_set(
        run: RunFn, variables: dict[str, object]) -> None:
    h = run(OVER_ITEMS, variables=variables)
    incident = h.last("INCIDENT_CREATED", "each")
    assert incident.value["errorType"] == "EXTRACT_VALUE_ERROR"
    assert "items" in incident.value["message"]
    assert h.status(h.iid) == "INCIDENT"
    assert "after" not in h.activated()
    # the collection is set (here by a job on a parallel branch) and the incident
    # resolved: the activity runs over it
    h.complete_job("setter", {"items": ["a", "b"]})
    h.send(Command.RESOLVE_INCIDENT, h.iid, {"incidentKey": incident.value["key"]})
    assert h.rejections() == []
    for _ in range(2):
        h.complete_job("each")
    items = [r.value["variables"]["item"] for r in h.events("JOB_CREATED", "each")]
    assert items == ["a", "b"]
    assert h.activated()[-2:] == ["after", "e"]
    assert h.status(h.iid) == "COMPLETED"


def test_an_empty_collection_runs_zero_times(run: RunFn) -> None:
    h = run(OVER_ITEMS, variables={"items": []})
    assert h.events("JOB_CREATED", "each") == []
    assert h.events("INCIDENT_CREATED") == []
    assert "after" in h.activated()
    h.complete_job("setter")
    assert h.status(h.iid) == "COMPLETED"


def test_a_negative_cardinality_at_run_time_is_an_incident(run: RunFn) -> None:
    h = run(cardinality("=n"), variables={"n": -2})
    assert h.last("INCIDENT_CREATED", "each").value["errorType"] == "EXTRACT_VALUE_ERROR"
    assert "after" not in h.activated()
    h.complete_job("setter", {"n": 2})
    h.send(Command.RESOLVE_INCIDENT, h.iid,
           {"incidentKey": h.last("INCIDENT_CREATED", "each").value["key"]})
    assert h.activated().count("each") == 4  # the first body, the second and its two inner
    assert h.status(h.iid) == "COMPLETED"


@pytest.mark.parametrize("literal", ["-1", "=-3", " -2 "])
def test_a_negative_literal_cardinality_is_refused_at_deploy(literal: str) -> None:
    doc = parse(document(cardinality(literal)).encode(), "card.bpmn")
    with pytest.raises(DiagramError, match=r"card\.bpmn:\d+.*each.*negative"):
        DefinitionRepository().deploy(doc)
