"""Reading, checking and deploying a diagram is work linear in the file's size.

Measured in steps, not seconds: the Python lines run (`sys.settrace`) for parse, validate,
the engine's deploy check and index, and the persona check at review, divided by the file's
bytes. Every diagram here stays under 10 lines per byte; the quadratic spots these tests were
written against took 16 to 44 (reachability sets of every node for every node, a namespace
lookup per attribute walking every declaration, a scan of every node per link throw, a list
scan per data store). The diagrams are those of `benchmarks/bpmn_parse.py`, small enough to
trace; the benchmark shows the growth at larger sizes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.bpmn_parse import attrs, chain, fan, lanes, links, stores
from laneway.bpmn import parse, validate
from laneway.bpmn._xml import load
from laneway.engine import DefinitionRepository
from laneway.engine.check import missing_personas
from laneway.engine.executable import build

STEPS_PER_BYTE = 10


def _steps(work: Callable[[], object]) -> int:
    """The Python lines `work` runs (in any module)."""
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def call(frame: FrameType, event: str, arg: Any) -> Any:
        return local

    sys.settrace(call)
    try:
        work()
    finally:
        sys.settrace(None)
    return count


def _read_and_deploy(data: bytes) -> None:
    definitions = parse(data, "big.bpmn")
    assert validate(definitions) == []
    DefinitionRepository().deploy(definitions)
    for process in definitions.processes:
        missing_personas(process, {})


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("2,000-task chain", chain(2000)),
        ("1,000-way inclusive fan", fan(1000)),
        ("300 tasks with attributes in 1,000 namespaces", attrs(300, namespaces=1000)),
        ("1,000 link pairs", links(1000)),
        ("1,000 data stores", stores(1000)),
        ("1,000 lanes", lanes(1000)),
    ],
)
def test_reading_and_deploying_takes_steps_linear_in_the_size(name: str, data: bytes) -> None:
    steps = _steps(lambda: _read_and_deploy(data))

    assert steps <= STEPS_PER_BYTE * len(data), (
        f"{name}: {steps} steps for {len(data)} bytes ({steps / len(data):.1f} per byte)")


def test_an_inclusive_join_asks_reachability_of_one_target_not_of_every_node() -> None:
    # a chain into an inclusive join: asking whether the first task can still reach the join
    # searches backwards from the join once; nothing is computed per node at deploy
    definitions = parse(fan(3), "fan.bpmn")
    proc = build(definitions, definitions.process(), 1)

    assert proc.reaches("s", "join")
    assert proc.reaches("t0", "join")
    assert not proc.reaches("join", "t0")
    assert not proc.reaches("e", "join")
    assert not proc.reaches("join", "join")
    assert not proc.reaches("unknown", "join")


def test_reachability_follows_loops_and_boundary_events() -> None:
    data = b"""<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
<process id="p" isExecutable="true">
  <startEvent id="s"/><inclusiveGateway id="j"/><userTask id="a"/><endEvent id="e"/>
  <boundaryEvent id="b" attachedToRef="a"><timerEventDefinition><timeDuration>PT1M
  </timeDuration></timerEventDefinition></boundaryEvent><userTask id="c"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="j"/>
  <sequenceFlow id="f2" sourceRef="j" targetRef="a"/>
  <sequenceFlow id="f3" sourceRef="a" targetRef="e"/>
  <sequenceFlow id="f4" sourceRef="b" targetRef="c"/>
  <sequenceFlow id="f5" sourceRef="c" targetRef="j"/>
</process></definitions>"""
    definitions = parse(data)
    proc = build(definitions, definitions.process(), 1)

    # j -> a -> (boundary b) -> c -> j: the join is upstream of itself through the boundary
    assert proc.reaches("j", "j")
    assert proc.reaches("a", "j")
    assert proc.reaches("b", "j")
    assert not proc.reaches("e", "j")
    assert proc.reaches("a", "c")
    assert not proc.reaches("c", "s")


def test_a_definitions_level_event_definition_is_read_once_for_all_its_references() -> None:
    # a 100 KB timer expression referred to by 200 events: one copy, not 200
    expression = "=" + "1 + " * 25_000 + "1"
    catches = "".join(
        f'<intermediateCatchEvent id="c{i}"><eventDefinitionRef>timer</eventDefinitionRef>'
        "</intermediateCatchEvent>" for i in range(200))
    data = (
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
        f'<timerEventDefinition id="timer"><timeDuration>{expression}</timeDuration>'
        f'</timerEventDefinition><process id="p">{catches}</process></definitions>'
    ).encode()

    nodes = parse(data).process().nodes

    first = nodes["c0"].event_definition
    assert first is not None
    assert first.timer is not None
    assert first.timer.expression.raw == expression
    assert all(nodes[f"c{i}"].event_definition is first for i in range(200))


_PREFIXES = st.sampled_from(["a", "b", "c", ""])
_URIS = st.sampled_from(["urn:1", "urn:2", "urn:3"])


@st.composite
def _scoped(draw: st.DrawFn, depth: int = 0) -> str:
    declared = draw(st.dictionaries(_PREFIXES, _URIS, max_size=3))
    decls = " ".join(f'xmlns{":" + p if p else ""}="{u}"' for p, u in declared.items())
    children = draw(st.lists(_scoped(depth + 1), max_size=2)) if depth < 4 else []
    # an attribute in every namespace (bound on the root), so every element is asked
    root = " ".join(f'xmlns:n{i}="urn:{i}"' for i in (1, 2, 3)) if depth == 0 else ""
    attrs = " ".join(f'n{i}:x="v"' for i in (1, 2, 3))
    return f"<e {root} {decls} {attrs}>{''.join(children)}</e>"


@given(_scoped())
@settings(max_examples=100, deadline=None)
def test_prefixes_from_the_pass_are_those_nsmap_gives(doc: str) -> None:
    # the one-pass lookup answers what `el.nsmap` would (first own declaration, then the
    # enclosing elements', a prefix rebound nearer not counting), only without the walk
    loaded = load(doc.encode(), "ns.xml")
    for el in loaded.tree.getroot().iter():
        for uri in ("urn:1", "urn:2", "urn:3", "urn:none"):
            expected = next((p for p, u in el.nsmap.items() if u == uri and p is not None), None)
            assert loaded.prefixes.prefix(el, uri) == expected
