"""Small diagrams for the console's tests, with their drawing (BPMN DI): the console shows a
diagram by its shapes, so a test that looks at tokens on elements needs them drawn.

    xml = line_diagram("p-1", [Step("start", "startEvent", "Start", "case"),
                               Step("review", "userTask", "Review case", "case"),
                               Step("end", "endEvent", "Done", "case")],
                       lanes=[Lane("case", "Case Worker", "Case Worker")])

The steps run in a line, one after the other, each in its lane's row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

__all__ = ["Lane", "Step", "line_diagram", "review_process"]

_EVENT = {"startEvent", "endEvent"}
_LANE_H = 140
_STEP_W = 170
_LEFT = 160  # room for the pool's and lanes' labels


@dataclass(frozen=True)
class Lane:
    id: str
    name: str
    persona: str | None = None


@dataclass(frozen=True)
class Step:
    id: str
    kind: str
    name: str
    lane: str | None = None
    attrs: Mapping[str, str] = field(default_factory=dict)
    inner: str = ""
    """XML inside the element (`<bpmn:timerEventDefinition>...`), written as given."""


def line_diagram(process_id: str, steps: Sequence[Step], lanes: Sequence[Lane] = ()) -> bytes:
    """A process whose steps follow each other, drawn left to right in their lanes."""
    row = {lane.id: n for n, lane in enumerate(lanes)}
    width = _LEFT + _STEP_W * len(steps) + 40
    height = _LANE_H * max(len(lanes), 1)
    parts: list[str] = []
    shapes: list[str] = []
    if lanes:
        parts.append('<bpmn:laneSet id="lanes">')
        for n, lane in enumerate(lanes):
            persona = f" laneway:persona={quoteattr(lane.persona)}" if lane.persona else ""
            refs = "".join(f"<bpmn:flowNodeRef>{s.id}</bpmn:flowNodeRef>"
                           for s in steps if s.lane == lane.id)
            parts.append(f'<bpmn:lane id="{lane.id}" name={quoteattr(lane.name)}{persona}>'
                         f"{refs}</bpmn:lane>")
            shapes.append(f'<bpmndi:BPMNShape id="{lane.id}_di" bpmnElement="{lane.id}" '
                          f'isHorizontal="true"><dc:Bounds x="{_LEFT - 130}" '
                          f'y="{40 + n * _LANE_H}" width="{width - _LEFT + 130}" '
                          f'height="{_LANE_H}"/></bpmndi:BPMNShape>')
        parts.append("</bpmn:laneSet>")
    centres: list[tuple[int, int, int, int]] = []  # x, y, half width, half height
    for n, step in enumerate(steps):
        attrs = "".join(f" {k}={quoteattr(v)}" for k, v in step.attrs.items())
        parts.append(f'<bpmn:{step.kind} id="{step.id}" name={quoteattr(step.name)}{attrs}>'
                     f"{step.inner}</bpmn:{step.kind}>")
        cx = _LEFT + 40 + n * _STEP_W
        cy = 40 + row.get(step.lane or "", 0) * _LANE_H + _LANE_H // 2
        w, hgt = (36, 36) if step.kind in _EVENT else (110, 80)
        centres.append((cx, cy, w // 2, hgt // 2))
        shapes.append(f'<bpmndi:BPMNShape id="{step.id}_di" bpmnElement="{step.id}">'
                      f'<dc:Bounds x="{cx - w // 2}" y="{cy - hgt // 2}" width="{w}" '
                      f'height="{hgt}"/></bpmndi:BPMNShape>')
    for n in range(len(steps) - 1):
        a, b = steps[n], steps[n + 1]
        (ax, ay, aw, _), (bx, by, bw, _) = centres[n], centres[n + 1]
        fid = f"f_{a.id}_{b.id}"
        parts.append(f'<bpmn:sequenceFlow id="{fid}" sourceRef="{a.id}" targetRef="{b.id}"/>')
        points = [(ax + aw, ay), (bx - bw, by)] if ay == by else [
            (ax + aw, ay), ((ax + bx) // 2, ay), ((ax + bx) // 2, by), (bx - bw, by)]
        waypoints = "".join(f'<di:waypoint x="{x}" y="{y}"/>' for x, y in points)
        shapes.append(f'<bpmndi:BPMNEdge id="{fid}_di" bpmnElement="{fid}">{waypoints}'
                      "</bpmndi:BPMNEdge>")
    if lanes:
        collaboration = (f'<bpmn:collaboration id="collab"><bpmn:participant id="pool" '
                         f'name="{process_id}" processRef="{process_id}"/></bpmn:collaboration>')
        shapes.insert(0, f'<bpmndi:BPMNShape id="pool_di" bpmnElement="pool" isHorizontal="true">'
                         f'<dc:Bounds x="{_LEFT - 160}" y="40" width="{width - _LEFT + 160}" '
                         f'height="{height}"/></bpmndi:BPMNShape>')
        plane = "collab"
    else:
        collaboration = ""
        plane = process_id
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
        'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
        'xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" '
        f'id="defs_{process_id}" targetNamespace="http://laneway.dev/tests/console">'
        f"{collaboration}"
        f'<bpmn:process id="{process_id}" name="{process_id}" isExecutable="true">'
        f"{''.join(parts)}</bpmn:process>"
        f'<bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="plane" bpmnElement="{plane}">'
        f"{''.join(shapes)}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>"
        "</bpmn:definitions>\n"
    ).encode()


def review_process(process_id: str) -> bytes:
    """Two lanes, two user tasks: the case worker reviews, the supervisor decides."""
    return line_diagram(process_id, [
        Step("submitted", "startEvent", "Submitted", "case"),
        Step("review", "userTask", "Review case", "case", {"laneway:slaMinutes": "60"}),
        Step("decide", "userTask", "Decide", "boss"),
        Step("done", "endEvent", "Done", "boss"),
    ], [Lane("case", "Case work", "Case Worker"), Lane("boss", "Supervision", "Supervisor")])
