"""`laneway run` of a process that starts at a conditional start event: it is started as the
engine starts one (EVALUATE_CONDITIONS with the --var variables), so the condition decides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from laneway.cli import main

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
<process id="p" isExecutable="true">
<startEvent id="when"><conditionalEventDefinition><condition xsi:type="tFormalExpression"
>=amount &gt; 100</condition></conditionalEventDefinition></startEvent>
<task id="big"/><endEvent id="e"/>
<sequenceFlow id="f1" sourceRef="when" targetRef="big"/>
<sequenceFlow id="f2" sourceRef="big" targetRef="e"/>
</process></definitions>
"""


@pytest.fixture
def path(tmp_path: Path) -> str:
    file = tmp_path / "cond.bpmn"
    file.write_text(DIAGRAM)
    return str(file)


def test_a_run_whose_condition_holds_starts_and_completes(
        path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", path, "--var", "amount=500"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["elementId"] for r in records if r["intent"] == "ELEMENT_ACTIVATED"] == [
        "p", "when", "big", "e"]


def test_a_run_whose_condition_does_not_hold_starts_nothing_and_says_why(
        path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", path, "--var", "amount=5"]) == 1
    captured = capsys.readouterr()
    assert "ELEMENT_ACTIVATED" not in captured.out
    assert "whose condition holds" in captured.err


WAITING = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
<process id="p" isExecutable="true">
<startEvent id="s"/>
<intermediateCatchEvent id="ready"><conditionalEventDefinition><condition
 xsi:type="tFormalExpression">=stock &gt; 0</condition></conditionalEventDefinition>
</intermediateCatchEvent>
<endEvent id="e"/>
<sequenceFlow id="f1" sourceRef="s" targetRef="ready"/>
<sequenceFlow id="f2" sourceRef="ready" targetRef="e"/>
</process></definitions>
"""


def test_a_run_waiting_on_a_condition_says_which_and_how_to_answer_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "wait.bpmn"
    file.write_text(WAITING)
    assert main(["run", str(file), "--var", "stock=0"]) == 3
    err = capsys.readouterr().err
    assert "waiting: condition '=stock > 0' at 'ready'" in err
    assert "--var" in err
    assert main(["run", str(file), "--var", "stock=2"]) == 0
