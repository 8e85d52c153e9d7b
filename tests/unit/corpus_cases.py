"""Harness for running third-party corpus diagrams the way their source projects' tests do.

A `Case` names a corpus file, the source test it follows, the inputs that test gives (start
variables, job answers, user task completions, decisions of gateways whose conditions are in
another engine's language, messages, signals, timers) and what that test expects. `run_case`
drives the diagram with `LocalRunner` and returns what happened, for the test to compare.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from laneway.bpmn import parse_file
from laneway.engine import DefinitionRepository
from laneway.engine.limits import Limits, ScriptLimits
from laneway.engine.runner import Answers, JobAnswer, LocalRunner, Outcome
from laneway.engine.state import InstanceStatus
from laneway.records import Command, Record, RecordKind


def corpus_dir() -> Path:
    """The corpus: `$LANEWAY_CORPUS`, else `../shared/corpus` beside the repository."""
    env = os.environ.get("LANEWAY_CORPUS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"


Vars = Mapping[str, Any]
# A translated condition: the other engine's condition text -> a function of the variables.
Conditions = Mapping[str, Callable[[Vars], bool]]
# What the test does once the instance has come to rest, in order:
#   ("message", name, correlation key, variables)
#   ("signal", name, variables)
#   ("timer",)                       fire the earliest timer, in simulated time
#   ("task", element id, variables)  complete the user task waiting at that element
#   ("job", job type, variables)     complete the one job of that type
#   ("error", job type, error code)  throw a BPMN error from the job of that type
#   ("start", process id, variables) start an instance of another deployed process
Step = tuple[Any, ...]


@dataclass(frozen=True)
class Case:
    """One corpus file run the way one source test runs it, and what that test expects."""

    path: str
    follows: str
    process: str | None = None
    also_deploy: tuple[str, ...] = ()
    variables: Vars = field(default_factory=dict)
    jobs: Mapping[str, JobAnswer] = field(default_factory=dict)
    auto_jobs: bool = False
    tasks: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    # gateway id -> flow ids to take; or translated conditions for every gateway
    decisions: Mapping[str, list[str]] = field(default_factory=dict)
    conditions: Conditions = field(default_factory=dict)
    instant_timers: bool = True
    steps: tuple[Step, ...] = ()
    start_event: str | None = None
    # start the instance by publishing this message instead of a plain start
    start_message: str | None = None
    # expectations
    status: str = "COMPLETED"
    in_order: tuple[str, ...] = ()
    completed: tuple[str, ...] = ()
    not_activated: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    final: Vars = field(default_factory=dict)
    waiting: tuple[str, ...] = ()
    # expectations name elements by their names (Spiff tests do), not their ids
    by_name: bool = False
    # JavaScript scripts go to 'script' jobs instead of the engine's sandbox
    # (ScriptLimits.in_engine): bpmn-engine's scripts call their host's services
    js_as_jobs: bool = False
    # any further assertion the source test makes, on what the run produced
    check: Callable[[Ran], None] | None = None


@dataclass
class Ran:
    """What a run produced."""

    outcome: Outcome
    completed: list[str]
    activated: list[str]
    records: list[Record]


# Corpus diagrams are small: a run that needs more commands than this is looping.
COMMAND_LIMIT = 3_000


class _BoundedRunner(LocalRunner):
    """A runner whose every drain stops after COMMAND_LIMIT commands."""

    def drain(self, limit: int = COMMAND_LIMIT) -> None:
        super().drain(min(limit, COMMAND_LIMIT))


def _decide(case: Case) -> Callable[[Record], Mapping[str, Any] | None]:
    def answer(job: Record) -> Mapping[str, Any] | None:
        if job.element_id in case.decisions:
            return {"flows": list(case.decisions[job.element_id])}
        variables = dict(job.value.get("variables", {}))
        flows = job.value["flows"]
        chosen: list[str] = []
        for flow in flows:
            text = flow["condition"]
            if text is None or flow["default"]:
                continue
            text = text.strip()
            if text not in case.conditions:
                raise AssertionError(f"no translation for condition {text!r} at "
                                     f"{job.element_id}")
            if case.conditions[text](variables):
                chosen.append(flow["id"])
                if job.value.get("gatewayType") == "exclusiveGateway":
                    break
        if not chosen:
            chosen = [f["id"] for f in flows if f["default"]]
        return {"flows": chosen}

    return answer


def _fire_timer(runner: LocalRunner) -> None:
    timers = [(t.due, inst.instance_id, t.key)
              for inst in runner.engine.state.instances.values()
              if inst.status == InstanceStatus.ACTIVE for t in inst.timers.values()]
    if not timers:
        raise AssertionError("expected a timer to fire, but none is waiting")
    due, instance_id, key = min(timers)
    runner.clock = max(runner.clock, due)
    runner.submit(Command.TRIGGER_TIMER, instance_id, {"timerKey": key})


def _find(runner: LocalRunner, what: str, name: str) -> tuple[str, int]:
    for inst in runner.engine.state.instances.values():
        if inst.status != InstanceStatus.ACTIVE:
            continue
        if what == "task":
            for task in inst.user_tasks.values():
                if inst.elements[task.element_key].element_id == name:
                    return inst.instance_id, task.key
        else:
            for job in inst.jobs.values():
                if job.type == name:
                    return inst.instance_id, job.key
    raise AssertionError(f"expected a waiting {what} {name!r}, but there is none")


def _step(runner: LocalRunner, step: Step) -> None:
    kind = step[0]
    if kind == "message":
        _, name, key, variables = step
        runner.submit(Command.PUBLISH_MESSAGE, "", {
            "name": name, "correlationKey": key, "variables": dict(variables),
            "messageId": f"case-message-{runner.commands_processed}", "ttl": 0})
    elif kind == "signal":
        _, name, variables = step
        runner.submit(Command.BROADCAST_SIGNAL, "", {"name": name, "variables": dict(variables)})
    elif kind == "timer":
        _fire_timer(runner)
    elif kind == "task":
        instance_id, key = _find(runner, "task", step[1])
        runner.submit(Command.COMPLETE_USER_TASK, instance_id,
                      {"taskKey": key, "variables": dict(step[2])})
    elif kind == "job":
        instance_id, key = _find(runner, "job", step[1])
        runner.submit(Command.COMPLETE_JOB, instance_id,
                      {"jobKey": key, "variables": dict(step[2])})
    elif kind == "start":
        runner.start(step[1], dict(step[2]))
    elif kind == "error":
        instance_id, key = _find(runner, "job", step[1])
        runner.submit(Command.THROW_ERROR, instance_id, {"jobKey": key, "errorCode": step[2]})
    else:
        raise ValueError(f"unknown step {step!r}")


def run_case(case: Case, corpus: Path) -> Ran:
    """Deploy the case's file (and the files it calls), start it, drive it, report."""
    repo = DefinitionRepository()
    definitions = parse_file(corpus / case.path)
    for extra in case.also_deploy:
        repo.deploy(parse_file(corpus / extra))
    repo.deploy(definitions)
    process = case.process
    if process is None:
        runnable = [p for p in definitions.processes if p.is_executable is not False]
        process = (runnable or list(definitions.processes))[0].id
    runner = _BoundedRunner(repo, limits=Limits(scripts=ScriptLimits(
        in_engine=not case.js_as_jobs)))
    jobs: dict[str, JobAnswer] = dict(case.jobs)
    if "decision" not in jobs and (case.decisions or case.conditions):
        jobs["decision"] = _decide(case)
    answers = Answers(jobs=jobs, auto_jobs=case.auto_jobs,
                      tasks={k: list(v) for k, v in case.tasks.items()},
                      instant_timers=case.instant_timers)
    if case.start_message is None:
        iid = runner.start(process, case.variables, start_event_id=case.start_event)
    else:
        _step(runner, ("message", case.start_message, "", case.variables))
        runner.drain()
        started = [i for i in runner.engine.state.instances.values() if i.process_id == process]
        assert len(started) == 1, f"message {case.start_message!r} started {len(started)}"
        iid = started[0].instance_id
    outcome = runner.run(iid, answers, max_commands=COMMAND_LIMIT)
    for step in case.steps:
        _step(runner, step)
        outcome = runner.run(iid, answers, max_commands=COMMAND_LIMIT)
    events = [r for r in runner.records if r.kind == RecordKind.EVENT]
    names: dict[str, str] = {}
    if case.by_name:
        for each in [definitions, *(parse_file(corpus / extra) for extra in case.also_deploy)]:
            for proc in each.processes:
                names.update({n.id: n.name or n.id for n in proc.nodes.values()})

    def label(element_id: str) -> str:
        return names.get(element_id, element_id)

    return Ran(
        outcome=outcome,
        completed=[label(r.element_id) for r in events if r.intent == "ELEMENT_COMPLETED"],
        activated=[label(r.element_id) for r in events if r.intent == "ELEMENT_ACTIVATED"],
        records=runner.records,
    )


def is_subsequence(wanted: tuple[str, ...], seen: list[str]) -> bool:
    """Whether `wanted` occurs in `seen` in this order (not necessarily adjacent)."""
    it = iter(seen)
    return all(any(x == w for x in it) for w in wanted)


def flow_named(name: str) -> Callable[[Record], Mapping[str, Any]]:
    """A decision answer taking the outgoing flow with this name (the diagram's gateways have
    no conditions; their flows are named after the choice, as old SpiffWorkflow read them)."""

    def answer(job: Record) -> Mapping[str, Any]:
        return {"flows": [f["id"] for f in job.value["flows"] if f["name"] == name]}

    return answer


Script = Callable[[dict[str, Any]], Mapping[str, Any]]


def scripts(translations: Mapping[str, Script]) -> Callable[[Record], Mapping[str, Any]]:
    """A 'script' job answer: each script text the diagram holds, translated by hand into a
    function of the visible variables returning the variables the script sets."""

    def answer(job: Record) -> Mapping[str, Any]:
        text = str(job.value.get("script", "")).strip()
        if text not in translations:
            raise AssertionError(f"no translation for script {text!r} at {job.element_id}")
        return {"variables": dict(translations[text](dict(job.value.get("variables", {}))))}

    return answer
