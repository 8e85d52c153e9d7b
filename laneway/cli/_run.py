"""`laneway run FILE`: run one instance in process and print every event as a JSON line."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from laneway.cli._output import print_problems, record_line, waiting_line
from laneway.cli._validate import load
from laneway.engine import DefinitionRepository
from laneway.engine.executable import ExecutableProcess
from laneway.engine.runner import Answers, LocalRunner, Outcome
from laneway.engine.state import InstanceStatus
from laneway.model import Definitions, EventKind, NodeKind
from laneway.records import Principal, Record, RecordKind

EXIT_COMPLETED = 0
EXIT_FAILED = 1  # diagram problems, an incident, a refused start, a run that never settles
EXIT_USAGE = 2  # bad options, unreadable file, unknown process or start event
EXIT_WAITING = 3


class UsageError(Exception):
    """A command line that names something the diagram does not have (exit 2)."""


# --- option values: argparse `type=` functions, so bad syntax is exit 2 with the usage -------


def _split(text: str, what: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"Expected {what}=JSON, but got '{text}'")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(
            f"Expected JSON after '{name}=', but got '{raw}' ({exc.msg}); "
            f"quote strings, for example {name}='\"text\"'") from None


def _object(text: str, what: str) -> tuple[str, dict[str, Any]]:
    name, value = _split(text, what)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"Expected a JSON object after '{name}=', for example {name}='{{\"ok\": true}}', "
            f"but got '{text.partition('=')[2]}'")
    return name, value


def var_option(text: str) -> tuple[str, Any]:
    """`NAME=JSON`: a start variable."""
    return _split(text, "NAME")


def complete_option(text: str) -> tuple[str, dict[str, Any]]:
    """`TASK_ID=JSON`: the result of one completion of a user task."""
    return _object(text, "TASK_ID")


def jobs_option(text: str) -> tuple[str, dict[str, Any]] | None:
    """`auto` (None) or `TYPE=JSON`: the answer to jobs of one type."""
    if text == "auto":
        return None
    return _object(text, "TYPE")


def message_option(text: str) -> tuple[str, str, dict[str, Any]]:
    """`NAME[:KEY]=JSON`: a message to publish once nothing else moves."""
    target, value = _object(text, "NAME[:KEY]")
    name, _, key = target.partition(":")
    if not name:
        raise argparse.ArgumentTypeError(f"Expected a message name before ':' in '{text}'")
    return name, key, value


def positive_int(text: str) -> int:
    """A count of at least one."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"Expected a whole number of at least 1, but got '{text}'")
    return value


# --- answers -------------------------------------------------------------------------------


def _job_answerer(results: list[dict[str, Any]]) -> Callable[[Record], Mapping[str, Any]]:
    """Answers jobs of one type with the given results in order, the last one again after.

    A result with `errorCode` throws a BPMN error, with `flows` answers a decision job (with
    `activities` or `done`, an ad-hoc subprocess's), with `fail` fails the job; anything
    else is the job's result variables.
    """
    queue = list(results)

    def answer(_created: Record) -> Mapping[str, Any]:
        result = queue.pop(0) if len(queue) > 1 else queue[0]
        if {"errorCode", "flows", "activities", "done", "fail"} & result.keys():
            return result
        return {"variables": result}

    return answer


@dataclass(frozen=True)
class RunOptions:
    """The parsed options of `laneway run`."""

    file: str
    process: str | None
    variables: list[tuple[str, Any]]
    complete: list[tuple[str, dict[str, Any]]]
    jobs: list[tuple[str, dict[str, Any]] | None]
    timers: str
    messages: list[tuple[str, str, dict[str, Any]]]
    start_event: str | None
    max_commands: int

    @staticmethod
    def from_namespace(ns: argparse.Namespace) -> RunOptions:
        """From what the parser built."""
        return RunOptions(ns.file, ns.process, ns.var or [], ns.complete or [], ns.jobs or [],
                          ns.timers, ns.message or [], ns.start_event, ns.max_commands)

    def answers(self, messages: list[tuple[str, str, dict[str, Any]]]) -> Answers:
        """What the runner answers with; `messages` are the ones still to publish."""
        tasks: dict[str, list[dict[str, Any]]] = {}
        for task_id, result in self.complete:
            tasks.setdefault(task_id, []).append(result)
        by_type: dict[str, list[dict[str, Any]]] = {}
        for job in self.jobs:
            if job is not None:
                by_type.setdefault(job[0], []).append(job[1])
        return Answers(
            jobs={t: _job_answerer(results) for t, results in by_type.items()},
            auto_jobs=None in self.jobs,
            tasks=tasks,
            messages=messages,
            instant_timers=True,  # real time too: RealTimeRunner sleeps until a timer is due
        )


# --- real time ---------------------------------------------------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


class RealTimeRunner(LocalRunner):
    """A LocalRunner on the wall clock: it sleeps until the next timer is due, then fires it.

    Overrides `_fire_next_timer`, the one place the in-process driver moves time, rather than
    copying the driver's loop.
    """

    def __init__(self, repository: DefinitionRepository, *, err: TextIO,
                 on_record: Callable[[Record], None]) -> None:
        super().__init__(repository, start_time=_now_ms(), on_record=on_record)
        self._err = err

    def submit(self, intent: Any, instance_id: str, value: Mapping[str, Any], *,
               principal: Principal | None = None) -> Record:
        """Stamp commands with the wall clock, so new timers are due from now."""
        self.clock = max(self.clock, _now_ms())
        return super().submit(intent, instance_id, value, principal=principal)

    def _fire_next_timer(self) -> bool:
        due = min((t.due for inst in self.engine.state.instances.values()
                   if inst.status == InstanceStatus.ACTIVE for t in inst.timers.values()),
                  default=None)
        if due is None:
            return False
        wait = due - _now_ms()
        if wait > 0:
            when = datetime.fromtimestamp(due / 1000, UTC).isoformat(timespec="seconds")
            print(f"laneway run: sleeping until the next timer is due at {when}",
                  file=self._err, flush=True)
            time.sleep(wait / 1000)
        self.clock = max(self.clock, _now_ms())
        return super()._fire_next_timer()


# --- the command ----------------------------------------------------------------------------


def _choose_process(defs: Definitions, repository: DefinitionRepository,
                    wanted: str | None) -> ExecutableProcess:
    ids = [p.id for p in defs.processes]
    if wanted is not None:
        if wanted not in ids:
            raise UsageError(f"Expected --process to name a process of {defs.file} "
                             f"({', '.join(ids) or 'it has none'}), but got '{wanted}'")
        return repository.get(wanted)
    runnable = [p.id for p in defs.processes if p.is_executable is not False]
    if not runnable:
        raise UsageError(f"Expected an executable process in {defs.file}, but every process "
                         f"has isExecutable=\"false\"; name one with --process "
                         f"({', '.join(ids) or 'it has none'})")
    return repository.get(runnable[0])


def _choose_start(proc: ExecutableProcess, wanted: str | None) -> str | None:
    starts = [n.id for n in proc.start_events]
    if wanted is not None:
        if wanted not in starts:
            raise UsageError(f"Expected --start-event to name a start event of process "
                             f"'{proc.id}' ({', '.join(starts) or 'it has none'}), "
                             f"but got '{wanted}'")
        return wanted
    if proc.entry_nodes.get(""):
        return None  # a none start event (or nodes without incoming flows): the usual start
    if len(starts) == 1:
        return starts[0]  # its only start is a timer, message or signal start: begin there
    raise UsageError(f"Expected process '{proc.id}' to have a start event without a trigger, "
                     f"but it has several with triggers ({', '.join(starts)}); name one with "
                     "--start-event")


def _message_start_variables(proc: ExecutableProcess, start_id: str | None,
                             messages: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """When the run starts at a message start event, a --message of that name is what starts
    it: its variables become start variables and it is not published again (it would start a
    second instance)."""
    if start_id is None:
        return {}
    node = proc.node(start_id)
    ed = node.event_definition
    if ed is None or ed.kind != EventKind.MESSAGE:
        return {}
    name = proc.message_name(ed.ref)
    for i, (msg_name, _key, variables) in enumerate(messages):
        if msg_name == name:
            del messages[i]
            return variables
    return {}


def run_file(opts: RunOptions, out: TextIO, err: TextIO) -> int:
    """Parse, check, deploy, start and drive one instance; return the exit code."""
    repository = DefinitionRepository()
    defs, problems = load(opts.file, repository)
    if defs is None or problems:
        print_problems(problems, out)
        return EXIT_FAILED
    proc = _choose_process(defs, repository, opts.process)
    start_id = _choose_start(proc, opts.start_event)
    messages = list(opts.messages)
    variables = _message_start_variables(proc, start_id, messages)
    variables.update(dict(opts.variables))

    rejections: list[Record] = []

    def emit(record: Record) -> None:
        if record.kind == RecordKind.REJECTION:
            rejections.append(record)
        print(record_line(record), file=out, flush=True)

    runner: LocalRunner
    if opts.timers == "real":
        runner = RealTimeRunner(repository, err=err, on_record=emit)
    else:
        runner = LocalRunner(repository, on_record=emit, keep_records=True)
    instance_id = runner.start(proc.id, variables, start_event_id=start_id)
    outcome = runner.run(instance_id, opts.answers(messages), max_commands=opts.max_commands)
    outgoing = {n.id: list(n.outgoing) for n in proc.process.nodes.values()}
    # an ad-hoc subprocess's decision job is answered with the activities it may start
    activities = {scope: [n.id for n in nodes] for scope, nodes in proc.entry_nodes.items()
                  if scope in proc.process.nodes
                  and proc.process.nodes[scope].kind == NodeKind.AD_HOC_SUB_PROCESS}
    return _report(outcome, runner, rejections, opts.max_commands, err, outgoing, activities)


def _report(outcome: Outcome, runner: LocalRunner, rejections: list[Record],
            max_commands: int, err: TextIO, outgoing: Mapping[str, list[str]],
            activities: Mapping[str, list[str]] | None = None) -> int:
    if outcome.status in (InstanceStatus.COMPLETED, InstanceStatus.TERMINATED):
        return EXIT_COMPLETED
    if outcome.status == InstanceStatus.INCIDENT:
        for incident in outcome.incidents:
            print(f"incident: {incident}", file=err)
        return EXIT_FAILED
    if outcome.status == "UNKNOWN":
        # The start command itself was refused; its rejection says why.
        for rejection in rejections:
            print(f"rejected: {rejection.value.get('reason', rejection.intent)}", file=err)
        if not rejections:
            print("laneway run: the instance was not created", file=err)
        return EXIT_FAILED
    if runner.commands_processed > max_commands:
        print(f"laneway run: stopped after {runner.commands_processed} commands and the "
              "instance is still moving (a loop that never ends? raise --max-commands)",
              file=err)
        return EXIT_FAILED
    for what in outcome.waiting_on or ["nothing the runner can see"]:
        print(waiting_line(what, outgoing, activities), file=err)
    return EXIT_WAITING
