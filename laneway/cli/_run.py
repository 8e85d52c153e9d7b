"""`laneway run FILE`: run one instance in process and print every event as a JSON line."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from laneway.cli._output import print_problems, record_line, waiting_line
from laneway.cli._validate import load
from laneway.engine import DefinitionRepository
from laneway.engine.conditionals import conditions_of
from laneway.engine.executable import ExecutableProcess
from laneway.engine.handlers.events import started_instance_id
from laneway.engine.runner import Answers, LocalRunner
from laneway.engine.state import InstanceStatus
from laneway.model import Definitions, EventKind, NodeKind
from laneway.problems import Problem
from laneway.records import Command, Principal, Record, RecordKind

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


def start_option(text: str) -> tuple[str, str | None, dict[str, Any]]:
    """`PROCESS_ID[:START_EVENT_ID][=JSON]`: one more instance to start, with its own start
    variables (over the `--var` ones)."""
    target, sep, _raw = text.partition("=")
    variables: dict[str, Any] = {}
    if sep:
        target, variables = _object(text, "PROCESS_ID[:START_EVENT_ID]")
    process, _, start = target.partition(":")
    if not process:
        raise argparse.ArgumentTypeError(
            f"Expected a process id, for example --start order or --start order:start_event, "
            f"but got '{text}'")
    return process, start or None, variables


def signal_option(text: str) -> tuple[str, dict[str, Any]]:
    """`NAME[=JSON]`: a signal to broadcast once nothing else moves."""
    if "=" in text:
        return _object(text, "NAME")
    if not text:
        raise argparse.ArgumentTypeError("Expected a signal name")
    return text, {}


class InOrder(argparse.Action):
    """Appends like `action="append"`, and also keeps every `--message` and `--signal` in one
    list in command-line order (`deliveries`), so they are sent in the order written."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), values])
        order = [*(getattr(namespace, "deliveries", None) or []), (self.dest, values)]
        namespace.deliveries = order


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


Delivery = tuple[str, str, str, dict[str, Any]]
"""("message", name, key, variables) or ("signal", name, "", variables)."""


@dataclass(frozen=True)
class RunOptions:
    """The parsed options of `laneway run`."""

    files: list[str]
    process: str | None
    variables: list[tuple[str, Any]]
    complete: list[tuple[str, dict[str, Any]]]
    jobs: list[tuple[str, dict[str, Any]] | None]
    timers: str
    deliveries: list[Delivery]
    start_event: str | None
    max_commands: int
    starts: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)

    @staticmethod
    def from_namespace(ns: argparse.Namespace) -> RunOptions:
        """From what the parser built."""
        deliveries: list[Delivery] = []
        for dest, value in getattr(ns, "deliveries", None) or []:
            if dest == "signal":
                deliveries.append(("signal", value[0], "", value[1]))
            else:
                deliveries.append(("message", *value))
        return RunOptions(list(ns.files), ns.process, ns.var or [], ns.complete or [],
                          ns.jobs or [], ns.timers, deliveries, ns.start_event,
                          ns.max_commands, list(getattr(ns, "start", None) or []))

    def answers(self, deliveries: list[Delivery]) -> Answers:
        """What the runner answers with; `deliveries` are the messages and signals still to
        send."""
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
            deliveries=deliveries,
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


def _choose_process(files: list[Definitions], repository: DefinitionRepository,
                    wanted: str | None, option: str = "--process") -> ExecutableProcess:
    ids = [p.id for defs in files for p in defs.processes]
    if wanted is not None:
        if wanted not in ids:
            where = files[0].file if len(files) == 1 else "the files"
            raise UsageError(f"Expected {option} to name a process of {where} "
                             f"({', '.join(ids) or 'it has none'}), but got '{wanted}'")
        return repository.get(wanted)
    defs = files[0]
    runnable = [p.id for p in defs.processes if p.is_executable is not False]
    if not runnable:
        first = [p.id for p in defs.processes]
        raise UsageError(f"Expected an executable process in {defs.file}, but every process "
                         f"has isExecutable=\"false\"; name one with --process "
                         f"({', '.join(first) or 'it has none'})")
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
                             deliveries: list[Delivery]) -> dict[str, Any]:
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
    for i, (kind, msg_name, _key, variables) in enumerate(deliveries):
        if kind == "message" and msg_name == name:
            del deliveries[i]
            return variables
    return {}


def _starts(opts: RunOptions, files: list[Definitions],
            repository: DefinitionRepository) -> list[tuple[ExecutableProcess, str | None,
                                                            dict[str, Any]]]:
    """The instances to start: `--process` (or the first file's first executable process,
    when no `--start` is given) at `--start-event`, then each `--start`."""
    chosen: list[tuple[ExecutableProcess, str | None, dict[str, Any]]] = []
    if opts.process is not None or not opts.starts:
        proc = _choose_process(files, repository, opts.process)
        chosen.append((proc, _choose_start(proc, opts.start_event), {}))
    for process_id, start_event, variables in opts.starts:
        proc = _choose_process(files, repository, process_id, "--start")
        chosen.append((proc, _choose_start(proc, start_event), variables))
    return chosen


def run_file(opts: RunOptions, out: TextIO, err: TextIO) -> int:
    """Parse, check and deploy every file (each process in one repository, so a call activity,
    a message or a signal reaches a process of another file), start the instances and drive
    them together; return the exit code."""
    repository = DefinitionRepository()
    files: list[Definitions] = []
    problems: list[Problem] = []
    for path in opts.files:
        defs, found = load(path, repository)
        problems.extend(found)
        if defs is not None:
            files.append(defs)
    if problems or len(files) != len(opts.files):
        print_problems(problems, out)
        return EXIT_FAILED
    deliveries = list(opts.deliveries)
    starts = []
    for proc, start_id, own in _starts(opts, files, repository):
        variables = _message_start_variables(proc, start_id, deliveries)
        variables.update(dict(opts.variables))
        variables.update(own)
        starts.append((proc, start_id, variables))

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
    started = [_start_by_conditions(runner, proc, start_id, variables)
               if start_id is not None and conditions_of(proc.node(start_id))
               else runner.start(proc.id, variables, start_event_id=start_id)
               for proc, start_id, variables in starts]
    runner.run(started[0], opts.answers(deliveries), max_commands=opts.max_commands)
    outgoing = {n.id: list(n.outgoing) for defs in files for p in defs.processes
                for n in p.nodes.values()}
    # an ad-hoc subprocess's decision job is answered with the activities it may start
    activities = {scope: [n.id for n in nodes]
                  for proc, _start, _vars in starts for scope, nodes in proc.entry_nodes.items()
                  if scope in proc.process.nodes
                  and proc.process.nodes[scope].kind == NodeKind.AD_HOC_SUB_PROCESS}
    return _report(started, runner, rejections, opts.max_commands, err, outgoing, activities)


def _report(started: list[str], runner: LocalRunner, rejections: list[Record],
            max_commands: int, err: TextIO, outgoing: Mapping[str, list[str]],
            activities: Mapping[str, list[str]] | None = None) -> int:
    """Exit 0 when every instance of the run ended (those started here and those a message or
    signal started), 1 on an incident or a refused start, 3 when any waits: then one line for
    each thing it waits on, with the option that answers it."""
    if any(runner.instance(iid) is None for iid in started):
        # A start command itself was refused; its rejection says why.
        for rejection in rejections:
            print(f"rejected: {rejection.value.get('reason', rejection.intent)}", file=err)
        if not rejections:
            print("laneway run: the instance was not created", file=err)
        return EXIT_FAILED
    roots = [iid for iid, inst in runner.engine.state.instances.items() if inst.parent is None]
    outcomes = [(iid, runner.outcome(iid)) for iid in roots]
    incidents = [i for _, o in outcomes if o.status == InstanceStatus.INCIDENT
                 for i in o.incidents]
    if incidents:
        for incident in incidents:
            print(f"incident: {incident}", file=err)
        return EXIT_FAILED
    waiting = [(iid, o) for iid, o in outcomes if o.status == "WAITING"]
    if not waiting:
        return EXIT_COMPLETED
    if runner.commands_processed > max_commands:
        print(f"laneway run: stopped after {runner.commands_processed} commands and the "
              "instance is still moving (a loop that never ends? raise --max-commands)",
              file=err)
        return EXIT_FAILED
    for iid, outcome in waiting:
        inst = runner.instance(iid)
        where = f" in process '{inst.process_id}'" if inst and len(roots) > 1 else ""
        for what in outcome.waiting_on or ["nothing the runner can see"]:
            print(waiting_line(what, outgoing, activities) + where, file=err)
    return EXIT_WAITING


def _start_by_conditions(runner: LocalRunner, proc: ExecutableProcess, start_id: str,
                         variables: dict[str, Any]) -> str:
    """A run that begins at a conditional start event is started as the engine starts one:
    `EVALUATE_CONDITIONS` with the --var variables, so the instance starts only when the
    condition holds (otherwise the rejection says so and the run exits 1)."""
    cmd = runner.submit(Command.EVALUATE_CONDITIONS, "",
                        {"processId": proc.id, "variables": variables})
    return started_instance_id(f"{cmd.record_id}#{start_id}", proc.id)
