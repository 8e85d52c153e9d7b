"""Export writes the source back with only the requested changes."""

from __future__ import annotations

import io

import pytest
from lxml import etree

from laneway.bpmn import LANEWAY_NS, SetAttribute, SetText, export, parse
from laneway.problems import DiagramError

SOURCE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!-- kept: a comment before the root -->
<bpmn2:definitions xmlns:bpmn2="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:acme="urn:acme" id="d" targetNamespace="t">
  <bpmn2:process id="p" isExecutable="true">
    <bpmn2:laneSet id="ls"><bpmn2:lane id="clerks" name="Clerks"/></bpmn2:laneSet>
    <!-- kept: a comment in the process -->
    <bpmn2:startEvent id="s" acme:x='1'/>
    <bpmn2:task id="t" name="Old"/>
    <bpmn2:sequenceFlow id="f" sourceRef="s" targetRef="t"/>
  </bpmn2:process>
  <bpmndi:BPMNDiagram id="dia"><bpmndi:BPMNPlane id="pl" bpmnElement="p">
    <bpmndi:BPMNShape id="t_di" bpmnElement="t"><dc:Bounds x="1" y="2" width="3" height="4"/>
    </bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn2:definitions>
"""


def _c14n(data: bytes) -> str:
    return str(etree.canonicalize(from_file=io.BytesIO(data)))


def test_export_without_changes_is_byte_identical() -> None:
    assert export(parse(SOURCE)) == SOURCE


def test_set_laneway_attribute_declares_the_namespace_and_changes_nothing_else() -> None:
    out = export(parse(SOURCE), [SetAttribute("clerks", "laneway:persona", "clerk")])

    again = parse(out)
    assert again.process().lanes[0].persona == "clerk"
    assert again.namespaces["laneway"] == LANEWAY_NS
    assert out.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- kept: a comment')
    assert b"<!-- kept: a comment in the process -->" in out
    assert b'<dc:Bounds x="1" y="2" width="3" height="4"/>' in out
    assert b"<bpmn2:task" in out
    removed = export(again, [SetAttribute("clerks", "laneway:persona", None)])
    assert _c14n(removed).replace(f' xmlns:laneway="{LANEWAY_NS}"', "") == _c14n(SOURCE)


def test_set_and_remove_plain_and_existing_prefixed_attributes() -> None:
    out = export(
        parse(SOURCE),
        [
            SetAttribute("t", "name", "New"),
            SetAttribute("s", "acme:x", None),
            SetAttribute("s", "{urn:acme}y", "2"),
        ],
    )

    again = parse(out).process()
    assert again.nodes["t"].name == "New"
    assert dict(again.nodes["s"].attrs) == {"acme:y": "2"}


def test_set_text_creates_and_replaces_documentation_and_conditions() -> None:
    defs = parse(SOURCE)

    out = export(
        defs,
        [
            SetText("t", "Do the thing"),
            SetText("f", "${approved}", child="conditionExpression"),
        ],
    )
    again = parse(out)
    replaced = parse(export(again, [SetText("t", "Do it now")]))
    cleared = parse(export(replaced, [SetText("t", None)]))

    process = again.process()
    assert process.nodes["t"].documentation == "Do the thing"
    condition = process.flows["f"].condition
    assert condition is not None
    assert (condition.text, condition.language) == ("approved", "juel")
    assert b'xsi:type="bpmn2:tFormalExpression"' in out
    assert replaced.process().nodes["t"].documentation == "Do it now"
    assert cleared.process().nodes["t"].documentation is None


def test_change_to_an_unknown_element_is_refused() -> None:
    with pytest.raises(DiagramError) as info:
        export(parse(SOURCE), [SetAttribute("ghost", "name", "x")])

    assert info.value.problems[0].element_id == "ghost"


def test_undeclared_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="Expected prefix 'nope'"):
        export(parse(SOURCE), [SetAttribute("t", "nope:x", "1")])


def test_elements_without_id_can_be_changed_by_their_made_up_id() -> None:
    source = SOURCE.replace(b'<bpmn2:sequenceFlow id="f" ', b"<bpmn2:sequenceFlow ")
    defs = parse(source)
    assert "s->t" in defs.process().flows

    out = export(defs, [SetAttribute("s->t", "name", "go")])

    assert parse(out).process().flows["s->t"].name == "go"
