"""`laneway run` with several files and instances, signals and messages from the command line,
and the line that says which option answers what a run waits on (docs/cli.md)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from laneway.cli import main

ROOT = Path(__file__).resolve().parents[2]
HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'id="d" targetNamespace="http://laneway.test">\n')


def _write(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(HEAD + body + "\n</definitions>\n")
    return str(path)


def _events(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def _completed_processes(out: str) -> list[str]:
    return [str(e["elementId"]) for e in _events(out)
            if e["intent"] == "ELEMENT_COMPLETED" and e["elementType"] == "process"]


# a process that waits for signal 'go', and one that throws it
WAITER = """
  <signal id="sig_go" name="go"/>
  <process id="waiter" isExecutable="true">
    <startEvent id="w_start"/>
    <intermediateCatchEvent id="wait_go"><signalEventDefinition signalRef="sig_go"/>
    </intermediateCatchEvent>
    <endEvent id="w_end"/>
    <sequenceFlow id="w1" sourceRef="w_start" targetRef="wait_go"/>
    <sequenceFlow id="w2" sourceRef="wait_go" targetRef="w_end"/>
  </process>"""
THROWER = """
  <signal id="sig_go" name="go"/>
  <process id="thrower" isExecutable="true">
    <startEvent id="t_start"/>
    <intermediateThrowEvent id="throw_go"><signalEventDefinition signalRef="sig_go"/>
    </intermediateThrowEvent>
    <endEvent id="t_end"/>
    <sequenceFlow id="t1" sourceRef="t_start" targetRef="throw_go"/>
    <sequenceFlow id="t2" sourceRef="throw_go" targetRef="t_end"/>
  </process>"""


def test_start_runs_instances_of_processes_in_several_files_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waiter = _write(tmp_path, "waiter.bpmn", WAITER)
    thrower = _write(tmp_path, "thrower.bpmn", THROWER)

    code = main(["run", waiter, thrower, "--start", "waiter", "--start", "thrower"])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    # the waiter subscribed before the thrower ran, so the signal reached it
    assert _completed_processes(captured.out) == ["thrower", "waiter"]


def test_without_its_partner_the_waiter_says_which_option_answers_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waiter = _write(tmp_path, "waiter.bpmn", WAITER)

    assert main(["run", waiter]) == 3
    assert capsys.readouterr().err == "waiting: signal 'go' at 'wait_go' (give --signal go)\n"

    assert main(["run", waiter, "--signal", "go"]) == 0
    assert _completed_processes(capsys.readouterr().out) == ["waiter"]


def test_a_signal_carries_its_variables(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    waiter = _write(tmp_path, "waiter.bpmn", WAITER)

    assert main(["run", waiter, "--signal", 'go={"level": 3}']) == 0
    last = _events(capsys.readouterr().out)[-1]
    assert last["value"]["variables"] == {"level": 3}  # type: ignore[index]


MESSAGE_THEN_SIGNAL = """
  <message id="m_paid" name="paid"/>
  <signal id="s_ship" name="ship"/>
  <process id="order" isExecutable="true">
    <startEvent id="o_start"/>
    <intermediateCatchEvent id="wait_paid"><messageEventDefinition messageRef="m_paid"/>
    </intermediateCatchEvent>
    <intermediateCatchEvent id="wait_ship"><signalEventDefinition signalRef="s_ship"/>
    </intermediateCatchEvent>
    <endEvent id="o_end"/>
    <sequenceFlow id="o1" sourceRef="o_start" targetRef="wait_paid"/>
    <sequenceFlow id="o2" sourceRef="wait_paid" targetRef="wait_ship"/>
    <sequenceFlow id="o3" sourceRef="wait_ship" targetRef="o_end"/>
  </process>"""


def test_messages_and_signals_are_sent_in_the_order_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "order.bpmn", MESSAGE_THEN_SIGNAL)

    assert main(["run", path, "--message", "paid={}", "--signal", "ship"]) == 0
    capsys.readouterr()
    # the signal first: nobody waits for it yet, so it is gone when the message arrives
    assert main(["run", path, "--signal", "ship", "--message", "paid={}"]) == 3
    assert capsys.readouterr().err == (
        "waiting: signal 'ship' at 'wait_ship' (give --signal ship)\n")


def test_each_start_has_its_own_variables_and_start_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "calc.bpmn", """
  <process id="calc" isExecutable="true">
    <startEvent id="plain"/>
    <startEvent id="doubled"/>
    <scriptTask id="twice" scriptFormat="javascript"><script>n = n * 2</script></scriptTask>
    <endEvent id="c_end"/>
    <sequenceFlow id="c1" sourceRef="plain" targetRef="c_end"/>
    <sequenceFlow id="c2" sourceRef="doubled" targetRef="twice"/>
    <sequenceFlow id="c3" sourceRef="twice" targetRef="c_end"/>
  </process>""")

    code = main(["run", path, "--var", "n=5", "--start", "calc:plain",
                 "--start", 'calc:doubled={"n": 21}'])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    ends = [e["value"]["variables"] for e in _events(captured.out)  # type: ignore[index]
            if e["intent"] == "ELEMENT_COMPLETED" and e["elementType"] == "process"]
    assert ends == [{"n": 5}, {"n": 42}]


def test_waiting_lines_name_the_process_when_the_run_has_several(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waiter = _write(tmp_path, "waiter.bpmn", WAITER)
    order = _write(tmp_path, "order.bpmn", MESSAGE_THEN_SIGNAL)

    assert main(["run", waiter, order, "--start", "waiter", "--start", "order"]) == 3
    assert capsys.readouterr().err.splitlines() == [
        "waiting: signal 'go' at 'wait_go' (give --signal go) in process 'waiter'",
        "waiting: message 'paid' at 'wait_paid' (give --message paid=JSON) in process 'order'",
    ]


def test_an_incident_in_any_instance_of_the_run_is_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waiter = _write(tmp_path, "waiter.bpmn", WAITER)
    broken = _write(tmp_path, "broken.bpmn", """
  <process id="broken" isExecutable="true">
    <startEvent id="b_start"/>
    <scriptTask id="fails" scriptFormat="javascript"><script>throw new Error('no')</script>
    </scriptTask>
    <endEvent id="b_end"/>
    <sequenceFlow id="b1" sourceRef="b_start" targetRef="fails"/>
    <sequenceFlow id="b2" sourceRef="fails" targetRef="b_end"/>
  </process>""")

    assert main(["run", waiter, broken, "--signal", "go", "--start", "waiter",
                 "--start", "broken"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("incident: fails: Expected the script of 'fails' to run, but Error: no")


def test_a_groovy_script_waits_for_a_worker_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "groovy.bpmn", """
  <process id="g" isExecutable="true">
    <startEvent id="g_start"/>
    <scriptTask id="calc" scriptFormat="groovy"><script>total = a + b</script></scriptTask>
    <endEvent id="g_end"/>
    <sequenceFlow id="g1" sourceRef="g_start" targetRef="calc"/>
    <sequenceFlow id="g2" sourceRef="calc" targetRef="g_end"/>
  </process>""")

    assert main(["run", path]) == 3
    assert capsys.readouterr().err == (
        "waiting: job of type 'script' at 'calc' (a groovy script) (a worker runs groovy: give "
        "--jobs script=JSON with the variables the script sets)\n")
    assert main(["run", path, "--jobs", 'script={"total": 3}']) == 0
    last = _events(capsys.readouterr().out)[-1]
    assert last["value"]["variables"] == {"total": 3}  # type: ignore[index]


@pytest.mark.parametrize(("args", "message"), [
    (["--start", "nope"], "Expected --start to name a process of"),
    (["--start", "waiter:no_such_start"], "Expected --start-event to name a start event"),
])
def test_a_start_naming_what_the_files_lack_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    waiter = _write(tmp_path, "waiter.bpmn", WAITER)
    assert main(["run", waiter, *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["--start", ":x"], ["--start", "p=[1]"], ["--signal", ""],
                                 ["--signal", "go=nojson"]])
def test_bad_start_or_signal_syntax_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]
) -> None:
    waiter = _write(tmp_path, "waiter.bpmn", WAITER)
    assert main(["run", waiter, *bad]) == 2
    assert "usage:" in capsys.readouterr().err


def _documented_partner_commands() -> list[tuple[list[str], int]]:
    docs = (ROOT / "docs" / "cli.md").read_text()
    section = docs.split("### Partners", 1)[1].split("```", 2)[1]
    found = []
    for line in section.splitlines():
        if not line.startswith("laneway run "):
            continue
        command, _, comment = line.partition("#")
        code = re.match(r"\s*exit (\d)", comment)
        assert code, line
        found.append((shlex.split(command)[1:], int(code.group(1))))
    return found


@pytest.mark.parametrize(("args", "code"), _documented_partner_commands())
def test_the_documented_partner_commands_exit_as_documented(
    args: list[str], code: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(args) == code, capsys.readouterr().err


def test_the_partners_run_accepts_the_quote_the_seller_priced(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["run", "examples/partners/buyer/buyer.bpmn",
                 "examples/partners/seller/seller.bpmn",
                 "--var", "quantity=3", "--var", "budget=100"]) == 0
    ends = {e["elementId"]: e["value"]["variables"]  # type: ignore[index]
            for e in _events(capsys.readouterr().out)
            if e["intent"] == "ELEMENT_COMPLETED" and e["elementType"] == "process"}
    assert ends["partner_seller"]["price"] == 120
    assert ends["partner_buyer"] == {"quantity": 3, "budget": 100, "price": 120,
                                     "accepted": False}
