"""Camunda Modeler element templates made from the connectors' and triggers' declared
attributes (laneway/attributes.py, laneway/element_templates.py): the committed files are
exactly what the declarations give, each template keeps the element template rules that can be
checked here, and the deploy check refuses what the template's form would refuse."""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path
from typing import Any

import pytest

from laneway.attributes import Attribute, problems
from laneway.bpmn import LANEWAY_NS
from laneway.cli import main
from laneway.connectors._registry import discover
from laneway.diagram_check import check_diagram
from laneway.element_templates import templates
from laneway.triggers._registry import discover_triggers

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "element-templates"
CONNECTORS = discover(eps=()).connectors          # the built-ins only
TRIGGERS = discover_triggers(eps=()).triggers
_NAMESPACED = re.compile(r"^[A-Za-z][\w-]*:[A-Za-z][\w-]*$")
_TYPES = {"String", "Text", "Boolean", "Dropdown", "Hidden"}  # what Camunda 7 templates know


def _built() -> dict[str, str]:
    return templates(CONNECTORS.values(), TRIGGERS.values())


def _committed() -> dict[str, Any]:
    return {p.name: json.loads(p.read_text(encoding="utf-8"))[0]
            for p in sorted(FOLDER.glob("*.json"))}


def _declared(template_id: str) -> tuple[str, str, tuple[Attribute, ...]]:
    kind, _, type_ = template_id.removeprefix("dev.laneway.").partition(".")
    owner = CONNECTORS[type_] if kind == "connector" else TRIGGERS[type_]
    return kind, type_, owner.attributes


def test_the_committed_templates_are_exactly_what_the_declarations_give() -> None:
    built = _built()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in FOLDER.glob("*.json")}
    assert sorted(on_disk) == sorted(built), "run: laneway templates --out element-templates"
    for name, text in built.items():
        assert on_disk[name] == text, f"{name} is out of date: laneway templates --out " \
                                      f"element-templates"


def test_every_builtin_connector_and_trigger_has_a_template() -> None:
    ids = {t["id"] for t in _committed().values()}
    assert ids == {f"dev.laneway.connector.{c}" for c in CONNECTORS} | \
        {f"dev.laneway.trigger.{t}" for t in TRIGGERS}


def test_each_template_keeps_the_element_template_rules() -> None:
    seen_ids: set[str] = set()
    for name, template in _committed().items():
        assert "$schema" not in template
        assert template["id"] not in seen_ids
        seen_ids.add(template["id"])
        assert isinstance(template["version"], int)
        assert template["name"]
        assert template["description"]
        assert all(_NAMESPACED.match(a) for a in template["appliesTo"]), name
        groups = [g["id"] for g in template["groups"]]
        assert len(groups) == len(set(groups))
        assert all(g["label"] for g in template["groups"])
        prop_ids = [p["id"] for p in template["properties"] if "id" in p]
        assert len(prop_ids) == len(set(prop_ids)), name
        bindings = [p["binding"]["name"] for p in template["properties"]]
        assert len(bindings) == len(set(bindings)), name
        for prop in template["properties"]:
            assert prop["type"] in _TYPES, (name, prop)
            assert prop["binding"]["type"] == "property"
            assert _NAMESPACED.match(prop["binding"]["name"])
            if prop["type"] != "Hidden":
                assert prop["label"], (name, prop)
                assert prop["group"] in groups, (name, prop)
            if prop["type"] == "Dropdown":
                assert prop["value"] in [c["value"] for c in prop["choices"]]
                assert all(set(c) == {"name", "value"} for c in prop["choices"])
            pattern = prop.get("constraints", {}).get("pattern")
            if pattern:
                re.compile(pattern["value"])
                assert pattern["message"]


def test_bindings_are_the_declared_attributes_and_the_type_is_fixed_hidden() -> None:
    for name, template in _committed().items():
        kind, type_, declared = _declared(template["id"])
        hidden = [p for p in template["properties"] if p["type"] == "Hidden"]
        shown = [p for p in template["properties"] if p["type"] != "Hidden"]
        assert [p["binding"]["name"] for p in shown] == [a.qualified for a in declared], name
        if kind == "connector":
            assert template["elementType"] == {"value": "bpmn:ServiceTask"}
            assert [(p["binding"]["name"], p["value"]) for p in hidden] == \
                [("laneway:type", type_)]
        elif type_ == "timer":
            assert hidden == []  # the timer start event is the type
        else:
            assert template["appliesTo"] == ["bpmn:StartEvent"]
            assert [(p["binding"]["name"], p["value"]) for p in hidden] == \
                [("laneway:trigger", type_)]


def test_the_forms_constraints_say_what_the_deploy_check_says() -> None:
    samples = {"number": (["1"], ["five", "1e3", "-"]),
               "duration": (["PT30S", "P1D", "PT1M30S"], ["30s", "P", "PT"]),
               "boolean": (["true", "false"], ["yes"])}
    for template in _committed().values():
        _, _, declared = _declared(template["id"])
        by_name = {a.qualified: a for a in declared}
        for prop in template["properties"]:
            attribute = by_name.get(prop["binding"]["name"])
            if attribute is None:
                continue
            if prop["type"] == "Dropdown":
                assert tuple(c["value"] for c in prop["choices"]) == attribute.choices
                assert prop["value"] == attribute.default
                continue
            if prop["type"] == "Boolean":  # a checkbox: writes true or false, nothing else
                assert attribute.problem("true") is None
                assert attribute.problem("false") is None
                continue
            assert bool(prop.get("constraints", {}).get("notEmpty")) == attribute.required
            pattern = prop.get("constraints", {}).get("pattern")
            if attribute.kind == "choice":
                assert pattern is not None
                for choice in attribute.choices:
                    assert re.fullmatch(pattern["value"], choice)
                assert not re.fullmatch(pattern["value"], "not-a-choice")
                assert attribute.problem("not-a-choice") is not None
            good, bad = samples.get(attribute.kind, ([], []))
            for value in good:
                assert re.fullmatch(pattern["value"], value), (attribute, value)
                if (attribute.low or 0) <= 1 <= (attribute.high or 1):  # "1", "5" within bounds
                    assert attribute.problem(value) is None, (attribute, value)
            for value in bad:
                assert not re.fullmatch(pattern["value"], value), (attribute, value)
                assert attribute.problem(value) is not None, (attribute, value)


def test_templates_cli_writes_the_files_and_check_finds_drift(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(_built())
    assert main(["templates", "--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "laneway-connector-http.json").write_text("[]\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["templates", "--out", str(tmp_path), "--check"]) == 1
    assert "laneway-connector-http.json" in capsys.readouterr().err


# --- the deploy check: the same declarations refuse the same values ---------------------

_TASK = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:laneway="{ns}"
  id="d" targetNamespace="t">
  <process id="p" isExecutable="true">
    <startEvent id="s"/>
    <serviceTask id="call" laneway:type="{type}" {attrs}/>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="call"/>
    <sequenceFlow id="f2" sourceRef="call" targetRef="e"/>
  </process>
</definitions>"""


def _task(type_: str, attrs: dict[str, str]) -> list[tuple[int, str | None, str]]:
    text = " ".join(f'laneway:{k}="{escape(v)}"' for k, v in attrs.items())
    checked = check_diagram(_TASK.format(ns=LANEWAY_NS, type=type_, attrs=text).encode(),
                            "t.bpmn")
    return [(p.line, p.element_id, p.message) for p in checked.problems]


def test_a_connector_missing_a_required_attribute_is_refused_with_its_element_and_line() -> None:
    assert _task("http", {"method": "POST"}) == [
        (5, "call", "Expected laneway:url, but there is none (the http connector)")]
    assert _task("slack", {"channel": " "}) == [
        (5, "call", "Expected laneway:channel not to be blank (the slack connector)")]


def test_a_connector_value_its_declaration_refuses_is_refused_at_deploy() -> None:
    found = [m for _, _, m in _task("llm", {"prompt": "Hi {{ name }}", "maxTokens": "many",
                                            "temperature": "2", "retryBackoff": "soon"})]
    assert found == [
        "Expected laneway:maxTokens to be a whole number, but got 'many' (the llm connector)",
        "Expected laneway:temperature to be from 0 to 1, but got '2' (the llm connector)",
        "Expected laneway:retryBackoff to be an ISO 8601 duration such as 'PT30S', but got "
        "'soon' (the llm connector)"]
    assert [m for _, _, m in _task("http", {"url": "https://x.example", "method": "FETCH"})] \
        == ["Expected laneway:method to be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, "
            "but got 'FETCH' (the http connector)"]
    assert _task("http", {"url": "{{ base }}/x", "headers": '{"A": "{{ a }}"}'}) == []


def test_a_job_type_no_installed_connector_serves_is_not_checked() -> None:
    # a worker outside Laneway may take it: what it reads is not ours to say
    assert _task("acme-billing", {"url": ""}) == []


def test_each_connector_template_filled_in_deploys() -> None:
    for type_, connector in CONNECTORS.items():
        attrs = {a.name: "x" for a in connector.attributes if a.required}
        assert _task(type_, attrs) == [], type_


_START = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:laneway="{ns}"
  id="d" targetNamespace="t">
  <message id="m" name="news"/>
  <process id="p" isExecutable="true">
    <startEvent id="s" {attrs}><messageEventDefinition messageRef="m"/></startEvent>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="e"/>
  </process>
</definitions>"""


def test_a_trigger_set_on_the_start_event_as_its_template_writes_it_is_declared_and_checked(
        ) -> None:
    def check(attrs: str) -> list[str]:
        data = _START.format(ns=LANEWAY_NS, attrs=attrs).encode()
        return [p.message for p in check_diagram(data, "t.bpmn").problems]
    assert check('laneway:trigger="feed" laneway:url="https://example.org/feed.xml"') == []
    # the declared check and the feed's own check both object to the missing URL: said once
    assert sorted(check('laneway:trigger="feed" laneway:maxItems="lots"')) == [
        "Expected laneway:maxItems to be a whole number, but got 'lots'",
        "Expected laneway:url, but there is none"]


def test_problems_reads_values_by_local_name() -> None:
    declared = (Attribute("mode", "Mode", kind="choice", choices=("a", "b")),
                Attribute("n", "N", kind="number", low=1, high=3, required=True))
    assert list(problems(declared, {"mode": "a", "n": "2"})) == []
    assert list(problems(declared, {"mode": "c"})) == [
        "Expected laneway:mode to be one of a, b, but got 'c'",
        "Expected laneway:n, but there is none"]
