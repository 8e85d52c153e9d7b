"""Every example under examples/ validates, runs to completion with its documented options,
and opens in a modeler (BPMNDI for every element)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from laneway.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("**/*.bpmn"))
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"



def test_the_three_documented_examples_are_there() -> None:
    names = {p.relative_to(ROOT / "examples").as_posix() for p in EXAMPLES}
    assert {"order/order.bpmn", "timeouts/reminder.bpmn", "permit/permit.bpmn"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_example_validates(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(example)]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_example_runs_to_completion_with_its_run_args(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `make up` runs `laneway run FILE @DIR/run.args` when the file is there.
    args = example.parent / "run.args"
    extra = [f"@{args}"] if args.exists() else []

    code = main(["run", str(example), *extra])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    last = json.loads(captured.out.splitlines()[-1])
    assert (last["intent"], last["elementType"]) == ("ELEMENT_COMPLETED", "process")


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_example_is_documented_with_its_command(example: Path) -> None:
    docs = (ROOT / "docs" / "cli.md").read_text()
    rel = example.relative_to(ROOT).as_posix()
    assert f"laneway run {rel}" in docs


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_example_has_a_shape_or_edge_for_every_element(example: Path) -> None:
    root = etree.parse(str(example)).getroot()
    drawn = {el.get("bpmnElement") for el in root.iter(f"{{{BPMNDI}}}BPMNShape",
                                                       f"{{{BPMNDI}}}BPMNEdge")}
    skip = {"laneSet", "extensionElements", "conditionExpression", "flowNodeRef",
            "timerEventDefinition", "messageEventDefinition", "errorEventDefinition",
            "terminateEventDefinition", "timeCycle", "timeDuration", "timeDate", "documentation",
            "script"}
    elements = {
        el.get("id")
        for process in root.iter(f"{{{BPMN}}}process", f"{{{BPMN}}}collaboration")
        for el in process.iter()
        if isinstance(el.tag, str) and el is not process
        and el.tag.startswith(f"{{{BPMN}}}") and etree.QName(el).localname not in skip
    }
    assert elements - drawn == set()


ALTERNATIVES = [
    # (example, options, exit code, an element the run must reach), as in docs/cli.md
    ("order/order.bpmn", ["--var", "amount=200", "--jobs", "auto"], 0, "order_done"),
    ("order/order.bpmn", ["--var", "amount=5000", "--complete", 'approve_order={"approved": false}',
                          "--jobs", "auto"], 0, "order_rejected"),
    ("order/order.bpmn", ["--var", "amount=5000", "--jobs", "auto"], 3, "approve_order"),
    ("timeouts/reminder.bpmn", ["--complete", 'review={"ok": true}'], 0, "reviewed"),
    ("timeouts/reminder.bpmn", [], 3, "send_reminder"),
    ("permit/permit.bpmn", ["--complete", 'review_application={"recommendation": "refuse"}',
                            "--complete", 'decide_permit={"approved": false, "reason": "r"}',
                            "--jobs", "email={}"], 0, "permit_refused"),
]


@pytest.mark.parametrize(("example", "options", "code", "reached"), ALTERNATIVES)
def test_example_documented_variants(
    example: str, options: list[str], code: int, reached: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", str(ROOT / "examples" / example), *options]) == code
    out = capsys.readouterr().out
    assert any(json.loads(line)["elementId"] == reached for line in out.splitlines())


def test_no_two_examples_share_a_process_id() -> None:
    # `make up` deploys every example: a shared id would make one a second version of the other
    seen: dict[str, str] = {}
    for example in EXAMPLES:
        root = etree.parse(str(example)).getroot()
        for process in root.iter(f"{{{BPMN}}}process"):
            pid = process.get("id") or ""
            assert pid not in seen, f"{example.name} and {seen[pid]} both define '{pid}'"
            seen[pid] = example.name
