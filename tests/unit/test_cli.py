"""`laneway validate` and `laneway run`, called in process through `main([...])`.

Exit codes: 0 fine, 1 diagram problems or an incident, 2 bad usage or unreadable input,
3 the instance waits on something the options did not provide.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from laneway.cli import main

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" id="defs" targetNamespace="t">\n'
)


def write(tmp_path: Path, body: str, name: str = "p.bpmn", executable: str = "true",
          before: str = "") -> str:
    """A diagram with one process `p`; `before` goes ahead of the process (messages, errors)."""
    path = tmp_path / name
    path.write_text(f'{HEAD}{before}<bpmn:process id="p" isExecutable="{executable}">\n'
                    f"{body}\n</bpmn:process>\n</bpmn:definitions>\n")
    return str(path)


def events(out: str) -> list[dict[str, Any]]:
    """Every stdout line, parsed: each must be one JSON object."""
    lines = out.splitlines()
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


def intents(out: str, element_id: str | None = None) -> list[str]:
    return [e["intent"] for e in events(out) if element_id is None or e["elementId"] == element_id]


USER_TASK = """
<bpmn:startEvent id="start"/>
<bpmn:userTask id="review"/>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>"""

SERVICE_TASK = """
<bpmn:startEvent id="start"/>
<bpmn:serviceTask id="charge">
  <bpmn:extensionElements><zeebe:taskDefinition type="payment"/></bpmn:extensionElements>
</bpmn:serviceTask>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>
<bpmn:sequenceFlow id="f2" sourceRef="charge" targetRef="end"/>"""

BROKEN = """
<bpmn:startEvent id="start"/>
<bpmn:exclusiveGateway id="Gw_Decide"/>
<bpmn:endEvent id="a"/>
<bpmn:choreographyTask id="Ct_Talk"/>
<bpmn:sequenceFlow id="f" sourceRef="start" targetRef="Gw_Decide"/>
<bpmn:sequenceFlow id="f1" sourceRef="Gw_Decide" targetRef="a"/>
<bpmn:sequenceFlow id="f2" sourceRef="Gw_Decide" targetRef="Ct_Talk"/>
<bpmn:sequenceFlow id="f3" sourceRef="Ct_Talk" targetRef="a"/>
<bpmn:sequenceFlow id="f4" sourceRef="Gw_Decide" targetRef="a">
  <bpmn:conditionExpression>=rush</bpmn:conditionExpression></bpmn:sequenceFlow>"""


# --- validate -------------------------------------------------------------------------------


def test_validate_valid_file_exits_0_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, USER_TASK)

    assert main(["validate", path]) == 0
    assert capsys.readouterr() == ("", "")


def test_validate_broken_diagram_prints_file_line_element_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, BROKEN)

    code = main(["validate", path])

    out = capsys.readouterr().out
    assert code == 1
    # One line per problem, sorted by line: the validator's finding, then the engine's refusal.
    assert out.splitlines() == [
        f"{path}:6: element 'Gw_Decide': exclusive gateway has two outgoing flows without "
        'condition and no default; add conditions, a default flow, or laneway:decision="handler" '
        "to ask a decision handler",
        f"{path}:8: element 'Ct_Talk': choreographies describe, they do not run",
    ]


def test_validate_sorts_problems_by_file_then_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = write(tmp_path, BROKEN, name="b.bpmn")
    a = write(tmp_path, BROKEN, name="a.bpmn")
    ok = write(tmp_path, USER_TASK, name="ok.bpmn")

    assert main(["validate", b, ok, a]) == 1

    files = [line.split(":", 1)[0] for line in capsys.readouterr().out.splitlines()]
    assert files == [a, a, b, b]


def test_validate_malformed_xml_is_one_line_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.bpmn"
    # libxml2 quotes the source in its message, newline included: still one line out.
    path.write_text('<?xml version="1.0"?>\n<a>\n<!--\nx -- y -->')

    assert main(["validate", str(path)]) == 1

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:")
    assert "Expected well-formed XML" in lines[0]


def test_validate_refuses_a_doctype_of_attribute_defaults_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dtd.bpmn"
    path.write_text('<?xml version="1.0"?>\n'
                    '<!DOCTYPE d [<!ATTLIST bpmn:process isExecutable CDATA "false">]>\n'
                    + HEAD.split("\n", 1)[1] + '<bpmn:process id="p"/></bpmn:definitions>')

    assert main(["validate", str(path)]) == 1

    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}:2: Expected no DOCTYPE, but the document has one")


def test_validate_names_the_element_limit_of_a_diagram_over_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.bpmn"
    path.write_text(HEAD + '<bpmn:process id="p">' + '<bpmn:task id="t"/>' * 50_001
                    + "</bpmn:process></bpmn:definitions>")

    assert main(["validate", str(path)]) == 1

    [line] = capsys.readouterr().out.splitlines()
    assert "Expected at most 50000 XML elements" in line


def test_validate_checks_processes_marked_not_executable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, BROKEN.replace('<bpmn:exclusiveGateway id="Gw_Decide"/>',
                                          '<bpmn:exclusiveGateway id="Gw_Decide" default="f1"/>'),
                 executable="false")

    assert main(["validate", path]) == 1
    assert "element 'Ct_Talk': choreographies describe, they do not run" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_validate_unreadable_input_exits_2_with_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    target = tmp_path / "nope.bpmn" if kind == "missing" else tmp_path

    assert main(["validate", str(target)]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith(f"laneway validate: Cannot read {target}")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root reads files without permission")
def test_validate_file_without_read_permission_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(write(tmp_path, USER_TASK))
    path.chmod(0)
    try:
        assert main(["validate", str(path)]) == 2
    finally:
        path.chmod(0o644)
    assert "Permission denied" in capsys.readouterr().err


def test_validate_reports_the_other_files_when_one_is_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = write(tmp_path, BROKEN)

    assert main(["validate", str(tmp_path / "missing.bpmn"), broken]) == 2

    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert "missing.bpmn" in captured.err


def test_unexpected_error_is_one_line_exit_2_and_debug_reraises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("laneway.diagram_check.validate", explode)
    path = write(tmp_path, USER_TASK)

    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert err == ("laneway validate: internal error: RuntimeError: boom second line "
                   "(run again with --debug for the traceback)\n")

    with pytest.raises(RuntimeError, match="boom"):
        main(["validate", "--debug", path])
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "validate", path])


def test_no_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: laneway" in capsys.readouterr().err


# --- run: outcomes ---------------------------------------------------------------------------


def test_run_prints_one_json_object_per_event_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, USER_TASK)

    code = main(["run", path, "--var", "amount=1500", "--complete", 'review={"ok": true}'])

    out = capsys.readouterr().out
    assert code == 0
    assert intents(out) == [
        "ELEMENT_ACTIVATED", "VARIABLES_UPDATED",
        "ELEMENT_ACTIVATED", "ELEMENT_COMPLETED", "SEQUENCE_FLOW_TAKEN",
        "ELEMENT_ACTIVATED", "USER_TASK_CREATED", "USER_TASK_COMPLETED", "VARIABLES_UPDATED",
        "ELEMENT_COMPLETED", "SEQUENCE_FLOW_TAKEN",
        "ELEMENT_ACTIVATED", "ELEMENT_COMPLETED",
        "ELEMENT_COMPLETED",
    ]
    first, last = events(out)[0], events(out)[-1]
    assert set(first) >= {"instanceId", "intent", "elementId", "elementType", "value"}
    assert (first["elementId"], first["elementType"]) == ("p", "process")
    assert last["value"]["variables"] == {"amount": 1500, "ok": True}
    assert len({e["instanceId"] for e in events(out)}) == 1
    assert all(", " not in line for line in out.splitlines())  # compact JSON


def test_run_waiting_on_a_user_task_exits_3_and_says_which_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, USER_TASK)

    code = main(["run", path])

    captured = capsys.readouterr()
    assert code == 3
    assert captured.err == "waiting: user task 'review' (give --complete review=JSON)\n"
    assert intents(captured.out)[-1] == "USER_TASK_CREATED"


def test_run_waiting_on_a_job_names_its_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, SERVICE_TASK)

    assert main(["run", path]) == 3
    assert capsys.readouterr().err == (
        "waiting: job of type 'payment' at 'charge' (give --jobs payment=JSON or --jobs auto)\n")


def test_run_job_result_becomes_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, SERVICE_TASK)

    assert main(["run", path, "--jobs", 'payment={"paid": true}']) == 0

    completed = [e for e in events(capsys.readouterr().out) if e["intent"] == "JOB_COMPLETED"]
    assert completed[0]["value"]["variables"] == {"paid": True}


def test_run_jobs_auto_completes_every_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", write(tmp_path, SERVICE_TASK), "--jobs", "auto"]) == 0


def test_run_uncaught_bpmn_error_is_an_incident_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, SERVICE_TASK)

    code = main(["run", path, "--jobs", 'payment={"errorCode": "DECLINED"}'])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.startswith("incident: charge: ")
    assert "'DECLINED'" in captured.err
    assert "INCIDENT_CREATED" in intents(captured.out)


def test_run_condition_that_fails_is_an_incident_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, """
<bpmn:startEvent id="start"/>
<bpmn:exclusiveGateway id="gw"/>
<bpmn:endEvent id="big"/>
<bpmn:endEvent id="small"/>
<bpmn:sequenceFlow id="f" sourceRef="start" targetRef="gw"/>
<bpmn:sequenceFlow id="f1" sourceRef="gw" targetRef="big">
  <bpmn:conditionExpression>=amount &gt; 100</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="small">
  <bpmn:conditionExpression>=amount &lt; 10</bpmn:conditionExpression></bpmn:sequenceFlow>""")

    assert main(["run", path, "--var", "amount=50"]) == 1
    assert capsys.readouterr().err.startswith("incident: gw: ")


def test_run_caught_bpmn_error_takes_the_boundary_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, SERVICE_TASK + """
<bpmn:boundaryEvent id="declined" attachedToRef="charge">
  <bpmn:errorEventDefinition errorRef="err"/></bpmn:boundaryEvent>
<bpmn:endEvent id="failed"/>
<bpmn:sequenceFlow id="f3" sourceRef="declined" targetRef="failed"/>""",
                 before='<bpmn:error id="err" errorCode="DECLINED"/>')

    assert main(["run", path, "--jobs", 'payment={"errorCode": "DECLINED"}']) == 0
    assert intents(capsys.readouterr().out, "failed") == ["ELEMENT_ACTIVATED", "ELEMENT_COMPLETED"]


def test_run_terminate_end_event_is_a_completion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, """
<bpmn:startEvent id="start"/>
<bpmn:parallelGateway id="fork"/>
<bpmn:userTask id="never"/>
<bpmn:endEvent id="stop"><bpmn:terminateEventDefinition/></bpmn:endEvent>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f" sourceRef="start" targetRef="fork"/>
<bpmn:sequenceFlow id="f1" sourceRef="fork" targetRef="never"/>
<bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="stop"/>
<bpmn:sequenceFlow id="f3" sourceRef="never" targetRef="end"/>""")

    assert main(["run", path]) == 0
    assert "ELEMENT_TERMINATED" in intents(capsys.readouterr().out, "never")


# --- run: answers ---------------------------------------------------------------------------

LOOP = """
<bpmn:startEvent id="start"/>
<bpmn:userTask id="edit"/>
<bpmn:exclusiveGateway id="gw" default="again"/>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="edit"/>
<bpmn:sequenceFlow id="f2" sourceRef="edit" targetRef="gw"/>
<bpmn:sequenceFlow id="again" sourceRef="gw" targetRef="edit"/>
<bpmn:sequenceFlow id="done" sourceRef="gw" targetRef="end">
  <bpmn:conditionExpression>=ok</bpmn:conditionExpression></bpmn:sequenceFlow>"""


def test_run_complete_repeated_for_a_loop_is_used_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, LOOP)

    code = main(["run", path, "--complete", 'edit={"ok": false, "n": 1}',
                 "--complete", 'edit={"ok": false, "n": 2}', "--complete", 'edit={"ok": true}'])

    out = capsys.readouterr().out
    assert code == 0
    done = [e["value"]["variables"] for e in events(out) if e["intent"] == "USER_TASK_COMPLETED"]
    assert done == [{"ok": False, "n": 1}, {"ok": False, "n": 2}, {"ok": True}]


def test_run_that_never_settles_stops_at_max_commands_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, LOOP)

    code = main(["run", path, "--complete", 'edit={"ok": false}', "--max-commands", "30"])

    assert code == 1
    assert "still moving" in capsys.readouterr().err


def test_run_timers_instant_fires_a_boundary_timer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, USER_TASK + """
<bpmn:boundaryEvent id="too_late" attachedToRef="review">
  <bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>
</bpmn:boundaryEvent>
<bpmn:endEvent id="expired"/>
<bpmn:sequenceFlow id="f3" sourceRef="too_late" targetRef="expired"/>""")

    code = main(["run", path, "--timers", "instant"])

    out = capsys.readouterr().out
    assert code == 0
    assert "TIMER_TRIGGERED" in intents(out)
    assert intents(out, "review")[-1] == "ELEMENT_TERMINATED"
    assert intents(out, "expired") == ["ELEMENT_ACTIVATED", "ELEMENT_COMPLETED"]
    fired = next(e for e in events(out) if e["intent"] == "TIMER_TRIGGERED")
    assert fired["timestamp"] - events(out)[0]["timestamp"] == 3_600_000  # simulated hour


def test_run_timers_real_sleeps_until_the_timer_is_due(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_800_000_000_000]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += int(seconds * 1000)

    monkeypatch.setattr("laneway.cli._run._now_ms", lambda: clock[0])
    monkeypatch.setattr("laneway.cli._run.time.sleep", sleep)
    path = write(tmp_path, """
<bpmn:startEvent id="start"/>
<bpmn:intermediateCatchEvent id="wait">
  <bpmn:timerEventDefinition><bpmn:timeDuration>PT5S</bpmn:timeDuration></bpmn:timerEventDefinition>
</bpmn:intermediateCatchEvent>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
<bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>""")

    code = main(["run", path, "--timers", "real"])

    captured = capsys.readouterr()
    assert code == 0
    assert slept == [5.0]
    assert "sleeping until the next timer is due" in captured.err
    assert events(captured.out)[0]["timestamp"] == 1_800_000_000_000


def test_run_decision_job_answered_with_flows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Conditions in JavaScript are not the engine's to evaluate: the gateway asks a handler.
    path = write(tmp_path, """
<bpmn:startEvent id="start"/>
<bpmn:exclusiveGateway id="gw"/>
<bpmn:endEvent id="a"/>
<bpmn:endEvent id="b"/>
<bpmn:sequenceFlow id="f" sourceRef="start" targetRef="gw"/>
<bpmn:sequenceFlow id="to_a" sourceRef="gw" targetRef="a">
  <bpmn:conditionExpression language="javascript">x &gt; 1</bpmn:conditionExpression>
</bpmn:sequenceFlow>
<bpmn:sequenceFlow id="to_b" sourceRef="gw" targetRef="b">
  <bpmn:conditionExpression language="javascript">x &lt;= 1</bpmn:conditionExpression>
</bpmn:sequenceFlow>""")

    assert main(["run", path]) == 3
    assert capsys.readouterr().err == (
        "waiting: job of type 'decision' at 'gw' (give --jobs decision='{\"flows\": "
        "[\"to_a\", \"to_b\"]}' naming the flows to take)\n")

    assert main(["run", path, "--jobs", 'decision={"flows": ["to_b"]}']) == 0
    assert intents(capsys.readouterr().out, "b") == ["ELEMENT_ACTIVATED", "ELEMENT_COMPLETED"]


MESSAGES = """<bpmn:message id="m_paid" name="paid">
  <bpmn:extensionElements><zeebe:subscription correlationKey="=orderId"/></bpmn:extensionElements>
</bpmn:message>"""

CATCH = """
<bpmn:startEvent id="start"/>
<bpmn:intermediateCatchEvent id="wait_paid">
  <bpmn:messageEventDefinition messageRef="m_paid"/></bpmn:intermediateCatchEvent>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_paid"/>
<bpmn:sequenceFlow id="f2" sourceRef="wait_paid" targetRef="end"/>"""


def test_run_message_with_correlation_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, CATCH, before=MESSAGES)

    assert main(["run", path, "--var", 'orderId="o-1"']) == 3
    assert capsys.readouterr().err == ("waiting: message 'paid' with key 'o-1' at 'wait_paid' "
                                       "(give --message paid:o-1=JSON)\n")

    assert main(["run", path, "--var", 'orderId="o-1"',
                 "--message", 'paid:o-1={"amount": 3}']) == 0
    assert events(capsys.readouterr().out)[-1]["value"]["variables"] == {
        "orderId": "o-1", "amount": 3}


def test_run_only_a_message_start_starts_there_with_the_message_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, """
<bpmn:startEvent id="placed"><bpmn:messageEventDefinition messageRef="m_placed"/></bpmn:startEvent>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f1" sourceRef="placed" targetRef="end"/>""",
                 before='<bpmn:message id="m_placed" name="order-placed"/>')

    code = main(["run", path, "--message", 'order-placed={"orderId": "o-1"}'])

    out = capsys.readouterr().out
    assert code == 0
    # One instance only: the message was the start, not published again.
    assert len({e["instanceId"] for e in events(out)}) == 1
    assert "MESSAGE_PUBLISHED" not in intents(out)
    assert events(out)[-1]["value"]["variables"] == {"orderId": "o-1"}


def test_run_only_a_timer_start_starts_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, """
<bpmn:startEvent id="nightly">
  <bpmn:timerEventDefinition><bpmn:timeCycle>R/P1D</bpmn:timeCycle></bpmn:timerEventDefinition>
</bpmn:startEvent>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f1" sourceRef="nightly" targetRef="end"/>""")

    assert main(["run", path]) == 0
    assert intents(capsys.readouterr().out, "nightly") == ["ELEMENT_ACTIVATED", "ELEMENT_COMPLETED"]


# --- run: usage -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--var", "amount"], "Expected NAME=JSON, but got 'amount'"),
        (["--var", "name=Ada"], "Expected JSON after 'name='"),
        (["--complete", "review=[1]"], "Expected a JSON object after 'review='"),
        (["--jobs", "payment"], "Expected TYPE=JSON, but got 'payment'"),
        (["--message", ':k={}'], "Expected a message name"),
        (["--timers", "fast"], "invalid choice: 'fast'"),
        (["--max-commands", "0"], "Expected a whole number of at least 1"),
    ],
)
def test_run_bad_option_syntax_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = write(tmp_path, USER_TASK)

    assert main(["run", path, *args]) == 2
    assert message in capsys.readouterr().err


def test_run_unknown_process_or_start_event_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, USER_TASK)

    assert main(["run", path, "--process", "q"]) == 2
    assert "Expected --process to name a process of" in capsys.readouterr().err
    assert main(["run", path, "--start-event", "review"]) == 2
    assert "Expected --start-event to name a start event of process 'p' (start)" in (
        capsys.readouterr().err)


def test_run_non_executable_process_needs_process_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, USER_TASK, executable="false")

    assert main(["run", path]) == 2
    assert 'isExecutable="false"' in capsys.readouterr().err
    assert main(["run", path, "--process", "p", "--complete", "review={}"]) == 0


def test_run_refuses_an_invalid_diagram_with_its_problems_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, BROKEN)

    assert main(["run", path]) == 1
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_run_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "none.bpmn")]) == 2
    assert capsys.readouterr().err.startswith("laneway run: Cannot read ")


def test_run_reads_options_from_an_args_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, USER_TASK)
    args = tmp_path / "run.args"
    args.write_text('# a comment\n\n--complete=review={"ok": true, "note": "with spaces"}\n')

    assert main(["run", path, f"@{args}"]) == 0
    assert events(capsys.readouterr().out)[-1]["value"]["variables"] == {
        "ok": True, "note": "with spaces"}


# --- the installed script --------------------------------------------------------------------


def test_installed_laneway_script_runs_validate_and_run(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("laneway")
    exe = str(script) if script.exists() else shutil.which("laneway")
    assert exe, "the laneway console script is not installed (pip install -e .)"
    good = write(tmp_path, USER_TASK, name="good.bpmn")
    broken = write(tmp_path, BROKEN, name="broken.bpmn")

    ok = subprocess.run([exe, "validate", good], capture_output=True, text=True, timeout=60,
                        check=False)
    bad = subprocess.run([exe, "validate", broken], capture_output=True, text=True, timeout=60,
                         check=False)
    waiting = subprocess.run([exe, "run", good], capture_output=True, text=True, timeout=60,
                             check=False)

    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")
    assert bad.returncode == 1
    assert bad.stdout.startswith(f"{broken}:6: element 'Gw_Decide': ")
    assert "Traceback" not in bad.stderr
    assert waiting.returncode == 3
    assert waiting.stderr == "waiting: user task 'review' (give --complete review=JSON)\n"
    assert [json.loads(line)["intent"] for line in waiting.stdout.splitlines()][-1] == (
        "USER_TASK_CREATED")


# An exclusive gateway marked `laneway:decision="handler"` needs no conditions: the engine
# asks a decision handler (docs/engine.md), so validate must accept it.
def test_gateway_marked_for_a_decision_handler_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, """
<bpmn:startEvent id="start"/>
<bpmn:exclusiveGateway id="gw" laneway:decision="handler"/>
<bpmn:endEvent id="a"/>
<bpmn:endEvent id="b"/>
<bpmn:sequenceFlow id="f" sourceRef="start" targetRef="gw"/>
<bpmn:sequenceFlow id="to_a" sourceRef="gw" targetRef="a"/>
<bpmn:sequenceFlow id="to_b" sourceRef="gw" targetRef="b"/>""")

    assert main(["validate", path]) == 0, capsys.readouterr().out
