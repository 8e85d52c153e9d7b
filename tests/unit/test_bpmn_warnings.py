"""`laneway validate` warns about diagrams that deploy but may run away (laneway/bpmn/
_warnings.py): loops that never wait, fork loops, self-calling processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from laneway.bpmn import parse
from laneway.bpmn._warnings import diagram_warnings
from laneway.cli import main

HEAD = ('<?xml version="1.0"?>\n<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'id="d" targetNamespace="http://x">\n')


def doc(*processes: str) -> str:
    return HEAD + "\n".join(processes) + "\n</definitions>"


def process(pid: str, body: str, flows: list[tuple[str, str]]) -> str:
    links = "\n".join(f'<sequenceFlow id="{a}_{b}" sourceRef="{a}" targetRef="{b}"/>'
                      for a, b in flows)
    return f'<process id="{pid}" isExecutable="true">\n{body}\n{links}\n</process>'


TASK_LOOP = doc(process("p", '<startEvent id="s"/><task id="a"/><task id="b"/>',
                        [("s", "a"), ("a", "b"), ("b", "a")]))
FORK_LOOP = doc(process(
    "p", '<startEvent id="s"/><exclusiveGateway id="merge"/><parallelGateway id="fork"/>'
         '<task id="a"/><task id="b"/><endEvent id="e"/>',
    [("s", "merge"), ("merge", "fork"), ("fork", "a"), ("fork", "b"), ("a", "merge"),
     ("b", "e")]))
SELF_CALL = doc(process("p", '<startEvent id="s"/><callActivity id="again" calledElement="p"/>',
                        [("s", "again")]))
MUTUAL_CALLS = doc(
    process("p", '<startEvent id="s"/><callActivity id="toq" calledElement="q"/>',
            [("s", "toq")]),
    process("q", '<startEvent id="qs"/><callActivity id="top" calledElement="p"/>',
            [("qs", "top")]))
WAITING_LOOP = doc(process("p", '<startEvent id="s"/><task id="a"/><userTask id="b"/>',
                           [("s", "a"), ("a", "b"), ("b", "a")]))


def warnings(xml: str) -> list[tuple[str | None, str]]:
    return [(w.element_id, w.message) for w in diagram_warnings(parse(xml.encode(), "t.bpmn"))]


def test_a_loop_of_plain_tasks_is_a_warning() -> None:
    [(element, message)] = warnings(TASK_LOOP)
    assert element == "a"
    assert "loop of elements that never wait (a, b)" in message


def test_a_fork_looping_into_its_merge_is_a_warning_on_the_fork() -> None:
    [(element, message)] = warnings(FORK_LOOP)
    assert element == "fork"
    assert "loops back" in message


@pytest.mark.parametrize(("xml", "elements"), [(SELF_CALL, ["again"]),
                                               (MUTUAL_CALLS, ["top", "toq"])])
def test_call_activities_that_call_their_own_process_are_warnings(
        xml: str, elements: list[str]) -> None:
    found = warnings(xml)
    assert sorted(e for e, _ in found) == elements
    assert all("call depth" in m for _, m in found)


def test_a_loop_through_a_wait_state_is_fine() -> None:
    assert warnings(WAITING_LOOP) == []


def test_the_checks_are_linear() -> None:
    # one loop of 20,000 tasks: found once, without recursion and quickly
    n = 20_000
    body = '<startEvent id="s"/>' + "".join(f'<task id="t{i}"/>' for i in range(n))
    flows = [("s", "t0")] + [(f"t{i}", f"t{i + 1}") for i in range(n - 1)] + [(f"t{n - 1}", "t0")]
    definitions = parse(doc(process("p", body, flows)).encode(), "big.bpmn")
    started = time.perf_counter()
    found = diagram_warnings(definitions)
    assert time.perf_counter() - started < 2.0
    assert len(found) == 1


def test_validate_prints_warnings_and_still_exits_0(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loop.bpmn"
    path.write_text(TASK_LOOP)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "loop.bpmn:" in out
    assert "element 'a': warning: a loop of elements that never wait" in out
