"""The benchmark diagrams, written as BPMN XML strings for each engine.

Both engines read the same structure. Tasks are either user tasks (the driver completes each
one with a variable) or script tasks (the engine itself sets a variable: a FEEL script for
Laneway, a Python assignment for SpiffWorkflow, since each engine runs only its own language).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

TaskKind = Literal["user", "script"]
EngineName = Literal["laneway", "spiff"]

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'
    ' id="bench" targetNamespace="http://laneway.dev/bench">\n'
)


@dataclass(frozen=True)
class Workload:
    """One diagram with what a run of it needs."""

    name: str
    label: str
    process_id: str
    xml: dict[EngineName, str]
    # start variables, used in turn by successive instances
    start_variables: tuple[dict[str, Any], ...] = ({},)
    # what the driver answers each user task with
    answer: dict[str, Any] = field(default_factory=lambda: {"done": True})
    # user tasks a completed run answers (per instance), for the record
    branches: int = 0


class _Builder:
    def __init__(self, engine: EngineName, kind: TaskKind) -> None:
        self.engine = engine
        self.kind = kind
        self.parts: list[str] = []
        self._flows = 0

    def node(self, text: str) -> None:
        self.parts.append(text)

    def flow(self, source: str, target: str, condition: str | None = None) -> str:
        self._flows += 1
        fid = f"f{self._flows}"
        if condition is None:
            self.parts.append(
                f'<sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}"/>'
            )
        else:
            cond = condition.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            self.parts.append(
                f'<sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">'
                f"<conditionExpression>{cond}</conditionExpression></sequenceFlow>"
            )
        return fid

    def task(self, tid: str, index: int) -> None:
        if self.kind == "user":
            self.node(f'<userTask id="{tid}"/>')
        elif self.engine == "laneway":
            self.node(f'<scriptTask id="{tid}" scriptFormat="feel"'
                      f' camunda:resultVariable="r{index}"><script>{index}</script></scriptTask>')
        else:
            self.node(f'<scriptTask id="{tid}"><script>r{index} = {index}</script></scriptTask>')

    def document(self, process_id: str) -> str:
        body = "\n".join(self.parts)
        return (f'{_HEAD}<process id="{process_id}" isExecutable="true">\n{body}\n'
                "</process>\n</definitions>\n")


def _both(
    build: Callable[[_Builder], None], process_id: str, kind: TaskKind
) -> dict[EngineName, str]:
    out: dict[EngineName, str] = {}
    for engine in ("laneway", "spiff"):
        b = _Builder(engine, kind)
        build(b)
        out[engine] = b.document(process_id)
    return out


def sequence(n: int, kind: TaskKind) -> Workload:
    """start -> n tasks in a row -> end."""
    def build(b: _Builder) -> None:
        b.node('<startEvent id="start"/>')
        prev = "start"
        for i in range(1, n + 1):
            b.task(f"t{i}", i)
            b.flow(prev, f"t{i}")
            prev = f"t{i}"
        b.node('<endEvent id="end"/>')
        b.flow(prev, "end")

    pid = f"seq{n}_{kind}"
    label = "one task" if n == 1 else f"{n} sequential tasks"
    return Workload(f"seq{n}", label, pid, _both(build, pid, kind), branches=n)


def parallel(n: int, kind: TaskKind) -> Workload:
    """start -> parallel split -> n tasks -> parallel join -> end."""
    def build(b: _Builder) -> None:
        b.node('<startEvent id="start"/>')
        b.node('<parallelGateway id="split"/>')
        b.node('<parallelGateway id="join"/>')
        b.node('<endEvent id="end"/>')
        b.flow("start", "split")
        for i in range(1, n + 1):
            b.task(f"t{i}", i)
            b.flow("split", f"t{i}")
            b.flow(f"t{i}", "join")
        b.flow("join", "end")

    pid = f"par{n}_{kind}"
    return Workload(f"par{n}", f"{n}-way parallel split/join", pid, _both(build, pid, kind),
                    branches=n)


def exclusive(kind: TaskKind) -> Workload:
    """start -> exclusive gateway on `amount` (condition, else default) -> one task -> merge
    -> end. Instances alternate between the two branches."""
    def build(b: _Builder) -> None:
        b.node('<startEvent id="start"/>')
        b.node('<exclusiveGateway id="choose" default="f_low"/>')
        b.task("high", 1)
        b.task("low", 2)
        b.node('<exclusiveGateway id="merge"/>')
        b.node('<endEvent id="end"/>')
        b.flow("start", "choose")
        b.flow("choose", "high", "amount > 100")
        b.parts.append('<sequenceFlow id="f_low" sourceRef="choose" targetRef="low"/>')
        b.flow("high", "merge")
        b.flow("low", "merge")
        b.flow("merge", "end")

    pid = f"xor_{kind}"
    return Workload("xor", "exclusive gateway on a variable", pid, _both(build, pid, kind),
                    start_variables=({"amount": 150}, {"amount": 50}), branches=1)


def workloads(kind: TaskKind) -> list[Workload]:
    """Every workload, in the order printed."""
    return [sequence(1, kind), sequence(10, kind), parallel(10, kind), exclusive(kind),
            parallel(20, kind), parallel(40, kind)]
