"""Property-based tests of the engine core on random, well-formed, block-structured processes.

A generator builds nested blocks (sequences, parallel split/join pairs, exclusive and inclusive
split/join pairs with conditions on a variable and a default flow) of plain, user and service
tasks, writes them as BPMN XML, and runs them with random start variables, answering a random
subset of the user tasks and jobs. A small interpreter of the blocks (independent of the engine)
says what each run must end with. Properties:

(a) a run either completes, or reports exactly what it waits on: the user tasks and jobs left
    unanswered that the token reached, and the joins that hold tokens, nothing else; once every
    task and job is answered, it completes;
(b) replaying the emitted events through `apply_event` into a fresh `EngineState` rebuilds the
    live state exactly;
(c) the same commands processed twice give identical `Record.to_json()` sequences;
(d) no element instance is left once the instance completes, and while it waits only the
    process and the waiting tasks are live.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laneway.bpmn import LANEWAY_NS, parse
from laneway.engine import DefinitionRepository, EngineState, InstanceState, apply_event
from laneway.engine.runner import Answers, LocalRunner, Outcome
from laneway.records import Command, Record, RecordKind

TaskKind = Literal["task", "user", "service"]
PROCESS_ID = "prop"
VARIABLES = ("x", "y")

# -- raw blocks, as drawn ---------------------------------------------------------------------


@dataclass(frozen=True)
class RawTask:
    kind: TaskKind


@dataclass(frozen=True)
class RawCondition:
    var: str
    op: Literal[">", "<"]
    bound: int


@dataclass(frozen=True)
class RawSeq:
    items: tuple[RawBlock, ...]


@dataclass(frozen=True)
class RawPar:
    branches: tuple[RawSeq, ...]


@dataclass(frozen=True)
class RawChoice:
    inclusive: bool
    # None marks the default branch (exactly one)
    branches: tuple[tuple[RawCondition | None, RawSeq], ...]


RawBlock = RawTask | RawSeq | RawPar | RawChoice

# -- numbered blocks: element ids assigned, XML written ----------------------------------------


@dataclass(frozen=True)
class Task:
    id: str
    kind: TaskKind

    @property
    def job_type(self) -> str:
        return f"job_{self.id}"


@dataclass(frozen=True)
class Seq:
    items: tuple[Block, ...]


@dataclass(frozen=True)
class Branch:
    condition: RawCondition | None
    block: Seq
    into_join: str  # id of the flow from the branch into the join


@dataclass(frozen=True)
class Split:
    """A parallel, exclusive or inclusive split with its join."""

    kind: Literal["parallel", "exclusive", "inclusive"]
    split: str
    join: str
    branches: tuple[Branch, ...]


Block = Task | Seq | Split


@dataclass
class _Writer:
    """Numbers the blocks and writes their XML (flows in branch order)."""

    nodes: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)
    counter: int = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def edge(self, source: str, target: str, condition: RawCondition | None = None,
             flow_id: str | None = None) -> str:
        fid = flow_id or self.fresh("f")
        body = ""
        if condition is not None:
            text = f"{condition.var} {condition.op} {condition.bound}"
            body = f"<conditionExpression>{escape(text)}</conditionExpression>"
        self.flows.append(f'<sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">'
                          f"{body}</sequenceFlow>")
        return fid

    def block(self, raw: RawBlock, source: str, pending: RawCondition | None,
              pending_default: list[str] | None) -> tuple[Block, str, RawCondition | None,
                                                           list[str] | None]:
        """Write `raw` after `source`. The first edge out of `source` carries `pending` (and is
        recorded as the default flow in `pending_default` when that is a list). Returns the
        numbered block, the node the next edge leaves from, and that edge's condition/default
        (only still pending for an empty sequence)."""
        if isinstance(raw, RawSeq):
            items: list[Block] = []
            for item in raw.items:
                done, source, pending, pending_default = self.block(
                    item, source, pending, pending_default)
                items.append(done)
            return Seq(tuple(items)), source, pending, pending_default
        if isinstance(raw, RawTask):
            tid = self.fresh("t")
            task = Task(tid, raw.kind)
            if raw.kind == "task":
                self.nodes.append(f'<task id="{tid}"/>')
            elif raw.kind == "user":
                self.nodes.append(f'<userTask id="{tid}"/>')
            else:
                self.nodes.append(f'<serviceTask id="{tid}" laneway:type="{task.job_type}"/>')
            self._enter(source, tid, pending, pending_default)
            return task, tid, None, None
        kind: Literal["parallel", "exclusive", "inclusive"]
        if isinstance(raw, RawPar):
            kind = "parallel"
            arms: tuple[tuple[RawCondition | None, RawSeq], ...] = tuple(
                (None, b) for b in raw.branches)
        else:
            kind = "inclusive" if raw.inclusive else "exclusive"
            arms = raw.branches
        split, join = self.fresh("split"), self.fresh("join")
        self._enter(source, split, pending, pending_default)
        default: list[str] = []
        branches: list[Branch] = []
        for condition, arm in arms:
            is_default = kind != "parallel" and condition is None
            marker: list[str] | None = default if is_default else None
            done, last, last_cond, last_default = self.block(arm, split, condition, marker)
            into = self.fresh("f")
            self.edge(last, join, last_cond, into)
            if last_default is not None:
                last_default.append(into)
            assert isinstance(done, Seq)
            branches.append(Branch(condition, done, into))
        tag = f"{kind}Gateway"
        default_attr = f' default="{default[0]}"' if default else ""
        self.nodes.append(f'<{tag} id="{split}"{default_attr}/>')
        self.nodes.append(f'<{tag} id="{join}"/>')
        return Split(kind, split, join, tuple(branches)), join, None, None

    def _enter(self, source: str, target: str, pending: RawCondition | None,
               pending_default: list[str] | None) -> None:
        fid = self.edge(source, target, pending)
        if pending_default is not None:
            pending_default.append(fid)


def write(raw: RawSeq) -> tuple[Seq, str]:
    """The numbered process body and the whole BPMN document."""
    w = _Writer()
    w.nodes.append('<startEvent id="start"/>')
    body, last, cond, default = w.block(raw, "start", None, None)
    assert cond is None
    assert default is None
    w.nodes.append('<endEvent id="end"/>')
    w.edge(last, "end")
    assert isinstance(body, Seq)
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        f'xmlns:laneway="{LANEWAY_NS}" id="defs" targetNamespace="http://laneway.dev/props">\n'
        f'<process id="{PROCESS_ID}" isExecutable="true">\n'
        + "\n".join(w.nodes + w.flows)
        + "\n</process>\n</definitions>\n"
    )
    return body, xml


def tasks_of(block: Block) -> list[Task]:
    """Every task in the block, in document order."""
    if isinstance(block, Task):
        return [block]
    if isinstance(block, Seq):
        return [t for item in block.items for t in tasks_of(item)]
    return [t for b in block.branches for t in tasks_of(b.block)]


# -- the oracle: what a run must end with -------------------------------------------------------


@dataclass
class Expected:
    waiting: set[str] = field(default_factory=set)  # user task / job entries of waiting_on
    joins: set[tuple[str, frozenset[str]]] = field(default_factory=set)
    waiting_tasks: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)  # tasks reached and answered


def holds(condition: RawCondition, variables: dict[str, int]) -> bool:
    value = variables[condition.var]
    return value > condition.bound if condition.op == ">" else value < condition.bound


def expect(block: Block, variables: dict[str, int], answered: set[str], out: Expected) -> bool:
    """Walk the block as the BPMN semantics say; True when a token leaves it."""
    if isinstance(block, Task):
        if block.kind == "task":
            return True
        if block.id in answered:
            out.answered.add(block.id)
            return True
        out.waiting_tasks.add(block.id)
        out.waiting.add(f"user task '{block.id}'" if block.kind == "user"
                        else f"job of type '{block.job_type}' at '{block.id}'")
        return False
    if isinstance(block, Seq):
        return all(expect(item, variables, answered, out) for item in block.items)
    if block.kind == "parallel":
        taken = list(block.branches)
    else:
        conditional = [b for b in block.branches
                       if b.condition is not None and holds(b.condition, variables)]
        default = [b for b in block.branches if b.condition is None]
        # exclusive: the first condition that holds; inclusive: every one
        first = conditional[:1] if block.kind == "exclusive" else conditional
        taken = first or default
    arrived = [b.into_join for b in taken if expect(b.block, variables, answered, out)]
    if len(arrived) == len(taken):
        return True
    if arrived:
        out.joins.add((block.join, frozenset(arrived)))
    return False


# -- strategies ----------------------------------------------------------------------------------

task_kinds = st.sampled_from(["task", "user", "service"])
conditions = st.builds(RawCondition, st.sampled_from(VARIABLES), st.sampled_from([">", "<"]),
                       st.integers(0, 9))


def seqs(depth: int) -> st.SearchStrategy[RawSeq]:
    tasks = st.builds(RawTask, task_kinds)
    if depth == 0:
        return st.lists(tasks, max_size=3).map(lambda items: RawSeq(tuple(items)))
    inner = seqs(depth - 1)
    par = st.lists(inner, min_size=2, max_size=3).map(lambda b: RawPar(tuple(b)))
    item = st.one_of(tasks, tasks, par, choices(inner))
    return st.lists(item, max_size=3).map(lambda items: RawSeq(tuple(items)))


def choices(inner: st.SearchStrategy[RawSeq]) -> st.SearchStrategy[RawChoice]:
    @st.composite
    def build(draw: st.DrawFn) -> RawChoice:
        arms = draw(st.lists(inner, min_size=2, max_size=3))
        default_at = draw(st.integers(0, len(arms) - 1))
        branches = tuple(
            (None if i == default_at else draw(conditions), arm) for i, arm in enumerate(arms)
        )
        return RawChoice(draw(st.booleans()), branches)

    return build()


@dataclass(frozen=True)
class Scenario:
    body: Seq
    xml: str
    variables: dict[str, int]
    answered: frozenset[str]
    # the order in which the remaining tasks and jobs are answered one by one
    order: tuple[str, ...] = ()

    def answers(self, everything: bool = False) -> Answers:
        tasks = tasks_of(self.body)
        chosen = [t for t in tasks if everything or t.id in self.answered]
        return Answers(
            tasks={t.id: [{f"{t.id}_done": 1}] for t in chosen if t.kind == "user"},
            jobs={t.job_type: {f"{t.id}_out": 2} for t in chosen if t.kind == "service"},
        )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    body, xml = write(draw(seqs(2)))
    variables = {v: draw(st.integers(0, 9)) for v in VARIABLES}
    ids = sorted(t.id for t in tasks_of(body) if t.kind != "task")
    answered = draw(st.sets(st.sampled_from(ids))) if ids else set()
    order = draw(st.permutations(ids))
    return Scenario(body, xml, variables, frozenset(answered), tuple(order))


# -- running ------------------------------------------------------------------------------------


@dataclass
class Run:
    runner: LocalRunner
    iid: str
    first: Outcome
    second: Outcome
    jsons: list[str]  # every record as emitted, in order


def run(scenario: Scenario) -> Run:
    """Run with the drawn answers, then answer everything."""
    repository = DefinitionRepository()
    repository.deploy(parse(scenario.xml.encode()))
    jsons: list[str] = []
    runner = LocalRunner(repository, on_record=lambda r: jsons.append(r.to_json()))
    iid = runner.start(PROCESS_ID, dict(scenario.variables))
    first = runner.run(iid, scenario.answers())
    second = runner.run(iid, scenario.answers(everything=True))
    return Run(runner, iid, first, second, jsons)


_JOIN = re.compile(r"^gateway '([^']+)' joining \(arrived: (.*)\)$")


def split_waiting(waiting_on: list[str]) -> tuple[list[str], set[tuple[str, frozenset[str]]]]:
    """The user task and job entries, and the joins with the flows that arrived."""
    work: list[str] = []
    joins: set[tuple[str, frozenset[str]]] = set()
    for entry in waiting_on:
        match = _JOIN.match(entry)
        if match:
            joins.add((match.group(1), frozenset(match.group(2).split(", "))))
        else:
            work.append(entry)
    return work, joins


def describe(scenario: Scenario, result: Run) -> str:
    return (f"\n{scenario.xml}\nvariables={scenario.variables} answered="
            f"{sorted(scenario.answered)}\nfirst={result.first}\nsecond={result.second}")


PROPERTY_SETTINGS = settings(max_examples=60, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(scenarios())
def test_a_run_completes_or_names_exactly_what_it_waits_on(scenario: Scenario) -> None:
    result = run(scenario)
    expected = Expected()
    completes = expect(scenario.body, scenario.variables, set(scenario.answered), expected)
    first = result.first
    assert not first.incidents, describe(scenario, result)
    if completes:
        assert first.status == "COMPLETED", describe(scenario, result)
        assert first.waiting_on == [], describe(scenario, result)
    else:
        assert first.status == "WAITING", describe(scenario, result)
        work, joins = split_waiting(first.waiting_on)
        assert len(work) == len(set(work)), describe(scenario, result)
        assert set(work) == expected.waiting, describe(scenario, result)
        assert joins == expected.joins, describe(scenario, result)
    # the variables: the start variables and the answers of the tasks reached and answered
    wanted: dict[str, Any] = dict(scenario.variables)
    by_id = {t.id: t for t in tasks_of(scenario.body)}
    for tid in expected.answered:
        wanted[f"{tid}_done" if by_id[tid].kind == "user" else f"{tid}_out"] = (
            1 if by_id[tid].kind == "user" else 2)
    assert first.variables == wanted, describe(scenario, result)
    # once everything is answered, it completes
    assert result.second.status == "COMPLETED", describe(scenario, result)
    assert result.second.waiting_on == [], describe(scenario, result)


@PROPERTY_SETTINGS
@given(scenarios())
def test_answering_one_at_a_time_in_any_order_names_what_is_left(scenario: Scenario) -> None:
    repository = DefinitionRepository()
    repository.deploy(parse(scenario.xml.encode()))
    runner = LocalRunner(repository, keep_records=False)
    iid = runner.start(PROCESS_ID, dict(scenario.variables))
    outcome = runner.run(iid, Answers())
    answered: set[str] = set()
    for step in range(len(scenario.order) + 1):
        expected = Expected()
        completes = expect(scenario.body, scenario.variables, answered, expected)
        work, joins = split_waiting(outcome.waiting_on)
        context = f"{scenario.xml}\nvariables={scenario.variables} answered={sorted(answered)}"
        assert outcome.status == ("COMPLETED" if completes else "WAITING"), context
        assert set(work) == expected.waiting, context
        assert joins == expected.joins, context
        if completes:
            break
        assert step < len(scenario.order), context
        # answer the first open task or job in the drawn order
        inst = runner.instance(iid)
        assert inst is not None
        open_items = {inst.elements[t.element_key].element_id: t.key
                      for t in inst.user_tasks.values()}
        jobs = {inst.elements[j.element_key].element_id: j.key for j in inst.jobs.values()}
        tid = next(t for t in scenario.order if t in open_items or t in jobs)
        if tid in open_items:
            runner.submit(Command.COMPLETE_USER_TASK, iid,
                          {"taskKey": open_items[tid], "variables": {f"{tid}_done": 1}})
        else:
            runner.submit(Command.COMPLETE_JOB, iid,
                          {"jobKey": jobs[tid], "variables": {f"{tid}_out": 2}})
        answered.add(tid)
        outcome = runner.run(iid, Answers())


@PROPERTY_SETTINGS
@given(scenarios())
def test_replaying_the_events_rebuilds_the_state(scenario: Scenario) -> None:
    # the partial run alone, then the whole run: both states must replay
    repository = DefinitionRepository()
    repository.deploy(parse(scenario.xml.encode()))
    runner = LocalRunner(repository)
    iid = runner.start(PROCESS_ID, dict(scenario.variables))
    for answers in (scenario.answers(), scenario.answers(everything=True)):
        runner.run(iid, answers)
        replayed = EngineState()
        for line in [r.to_json() for r in runner.records if r.kind == RecordKind.EVENT]:
            apply_event(replayed, Record.from_dict(json.loads(line)))
        assert replayed.to_dict() == runner.engine.state.to_dict(), scenario.xml
        # and a snapshot of the instance reads back as the same instance
        inst = runner.engine.state.instances[iid]
        assert InstanceState.from_dict(json.loads(json.dumps(inst.to_dict()))) == inst


@PROPERTY_SETTINGS
@given(scenarios())
def test_the_same_commands_give_the_same_records(scenario: Scenario) -> None:
    once, again = run(scenario), run(scenario)
    assert once.jsons == again.jsons, scenario.xml
    assert once.jsons, scenario.xml


@PROPERTY_SETTINGS
@given(scenarios())
def test_no_element_instance_is_left_behind(scenario: Scenario) -> None:
    result = run(scenario)
    inst = result.runner.instance(result.iid)
    assert inst is not None
    assert inst.status == "COMPLETED", describe(scenario, result)
    assert inst.elements == {}, describe(scenario, result)
    assert (inst.jobs, inst.user_tasks, inst.joins, inst.timers, inst.incidents) == (
        {}, {}, {}, {}, {}), describe(scenario, result)
    # while it waited: the process and the waiting tasks were the only live elements
    expected = Expected()
    if not expect(scenario.body, scenario.variables, set(scenario.answered), expected):
        repository = DefinitionRepository()
        repository.deploy(parse(scenario.xml.encode()))
        runner = LocalRunner(repository, keep_records=False)
        iid = runner.start(PROCESS_ID, dict(scenario.variables))
        runner.run(iid, scenario.answers())
        waiting = runner.instance(iid)
        assert waiting is not None
        live = sorted(e.element_id for e in waiting.elements.values() if e.kind != "process")
        assert live == sorted(expected.waiting_tasks), describe(scenario, result)
