"""Run diagrams in process: the engine core with a driver that answers jobs, user tasks,
messages and timers from given answers. Used by `laneway run`, the tests and the benchmark."""

from __future__ import annotations

import heapq
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from laneway.engine.engine import Engine
from laneway.engine.limits import DEFAULT_LIMITS, Limits
from laneway.engine.processors.decision import DECISION_JOB_TYPE, is_decision_job
from laneway.engine.repository import DefinitionRepository
from laneway.engine.state import InstanceState, InstanceStatus
from laneway.engine.user_tasks import fitting_principal
from laneway.records import SYSTEM, Command, Principal, Record, RecordKind, command
from laneway.records.values import TimerCreated

_RUN_NAMESPACE = uuid.UUID("9a7d1e38-2f0b-4b8e-8c1a-5d6e7f809a1b")
_TASK_COMMANDS = frozenset({Command.CLAIM_USER_TASK, Command.UNCLAIM_USER_TASK,
                            Command.COMPLETE_USER_TASK})
JobAnswer = Mapping[str, Any] | Callable[[Record], Mapping[str, Any] | None]


@dataclass
class Answers:
    """What the driver answers with when the instance waits.

    `jobs` maps a job type to its result variables, or to a function of the JOB_CREATED
    record returning a command value (`{"variables": ...}`, `{"errorCode": ...}` for a BPMN
    error, `{"fail": "message"}`, `{"flows": [...], "variables": {...}}` for a decision job of
    any type) or None to leave it
    waiting. `auto_jobs` completes every other job with an empty result. `tasks` maps a
    user task's element id to its results, used in order (the last one again when they run
    out). `messages` are published when nothing else can move. Timers fire at once in
    simulated time when `instant_timers`.
    """

    jobs: dict[str, JobAnswer] = field(default_factory=dict)
    auto_jobs: bool = False
    tasks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    messages: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    instant_timers: bool = True
    deliveries: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    """Messages and signals to send after `messages`, one each time nothing else can move, in
    this order: `("message", name, correlation key, variables)` publishes a message,
    `("signal", name, "", variables)` broadcasts a signal."""


@dataclass(frozen=True)
class Outcome:
    """How a run ended: COMPLETED, TERMINATED, INCIDENT or WAITING, with what it waits on."""

    status: str
    waiting_on: list[str]
    incidents: list[str]
    variables: dict[str, Any]


class LocalRunner:
    """Feeds commands to one engine and delivers its follow-up commands, in order."""

    def __init__(
        self,
        repository: DefinitionRepository,
        *,
        start_time: int = 1_767_225_600_000,
        principal: Principal | None = None,
        person: str = "laneway-run",
        on_record: Callable[[Record], None] | None = None,
        keep_records: bool = True,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.engine = Engine(repository, limits=limits)
        self.clock = start_time
        # every command's principal when set; otherwise the engine's own, except on user
        # tasks, which go as a person who fits the task (the engine checks personas of
        # everyone): `person` by id unless the task is claimed or assigned
        self.principal = principal
        self.person = person
        self.records: list[Record] = []
        self.commands_processed = 0
        self._queue: deque[Record] = deque()
        self._seq = 0
        self._on_record = on_record
        self._keep = keep_records
        self._timers: list[tuple[int, str, int]] = []
        self.sent_across: list[Record] = []
        """Messages sent to another agency's pool: not published in this run."""

    def submit(self, intent: Command, instance_id: str, value: Mapping[str, Any], *,
               principal: Principal | None = None) -> Record:
        """Queue a command stamped with the runner's clock, as `principal`, else the runner's
        principal, else (see `__init__`) the engine or a person fitting the task."""
        self._seq += 1
        acting = principal or self.principal
        if acting is None:
            acting = (self.person_for(instance_id, value.get("taskKey"))
                      if intent in _TASK_COMMANDS else SYSTEM)
        cmd = command(intent, instance_id, value, record_id=f"run-{self._seq}",
                      timestamp=self.clock, principal=acting)
        self._queue.append(cmd)
        return cmd

    def start(self, process_id: str, variables: Mapping[str, Any] | None = None, *,
              instance_id: str | None = None, start_event_id: str | None = None,
              business_key: str | None = None) -> str:
        """Queue START_INSTANCE; the instance id is derived from the run unless given."""
        iid = instance_id or str(uuid.uuid5(_RUN_NAMESPACE, f"{process_id}/{self._seq + 1}"))
        value: dict[str, Any] = {"processId": process_id, "variables": dict(variables or {})}
        if start_event_id:
            value["startEventId"] = start_event_id
        if business_key:
            value["businessKey"] = business_key
        self.submit(Command.START_INSTANCE, iid, value)
        return iid

    def drain(self, limit: int = 1_000_000) -> None:
        """Process queued commands (and what follows from them) until none is left."""
        while self._queue and limit > 0:
            limit -= 1
            cmd = self._queue.popleft()
            if cmd.timestamp < self.clock:
                cmd = _restamp(cmd, self.clock)
            result = self.engine.process(cmd)
            self.commands_processed += 1
            for rec in result.events:
                if rec.intent == "TIMER_CREATED" and rec.kind == RecordKind.EVENT:
                    timer = cast(TimerCreated, rec.value)
                    heapq.heappush(self._timers, (timer["due"], rec.instance_id, timer["key"]))
                if self._keep:
                    self.records.append(rec)
                if self._on_record is not None:
                    self._on_record(rec)
            for follow in result.commands:
                if follow.intent == Command.PUBLISH_MESSAGE.value and "agency" in follow.value:
                    # to another agency's pool (laneway.agency_flows): it leaves this run, as
                    # in a deployment it leaves for the partner's topic
                    self.sent_across.append(follow)
                else:
                    self._queue.append(follow)

    def person_for(self, instance_id: str, task_key: Any) -> Principal:
        """A person who may act on the open task (`fitting_principal`); the engine's own
        principal when there is no such task (the engine rejects the command then)."""
        inst = self.instance(instance_id)
        task = inst.user_tasks.get(task_key) if inst is not None else None
        return fitting_principal(task, self.person) if task is not None else SYSTEM

    def instance(self, instance_id: str) -> InstanceState | None:
        """The state of an instance, if it exists."""
        return self.engine.state.instances.get(instance_id)

    def run(self, instance_id: str, answers: Answers, max_commands: int = 100_000) -> Outcome:
        """Drive an instance until it ends or waits on something `answers` does not cover."""
        pending = [("message", *m) for m in answers.messages] + list(answers.deliveries)
        task_answers = {k: list(v) for k, v in answers.tasks.items()}
        while True:
            self.drain()
            if self.commands_processed > max_commands:
                break
            if self._answer_work(answers, task_answers):
                continue
            if pending:
                kind, name, key, variables = pending.pop(0)
                if kind == "signal":
                    self.submit(Command.BROADCAST_SIGNAL, "", {
                        "name": name, "variables": variables})
                else:
                    self.submit(Command.PUBLISH_MESSAGE, "", {
                        "name": name, "correlationKey": key, "variables": variables,
                        "messageId": f"run-message-{self._seq}", "ttl": 3_600_000})
                continue
            if answers.instant_timers and self._fire_next_timer():
                continue
            break
        return self.outcome(instance_id)

    def _answer_work(self, answers: Answers, task_answers: dict[str, list[dict[str, Any]]]) -> bool:
        moved = False
        for inst in list(self.engine.state.instances.values()):
            if inst.status != InstanceStatus.ACTIVE or inst.incidents:
                continue
            for job in list(inst.jobs.values()):
                if job.state != "ACTIVATABLE":
                    continue
                decision = is_decision_job(inst.elements[job.element_key], job.type)
                value = self._job_answer(inst, job.key, job.type, answers, decision)
                if value is None:
                    continue
                moved = True
                if decision and _DECISION_KEYS & set(value):
                    # a gateway's `flows`, an ad-hoc subprocess's `activities` and `done`
                    self.submit(Command.SUBMIT_DECISION, inst.instance_id, {
                        "jobKey": job.key, **{k: value[k] for k in _DECISION_KEYS if k in value},
                        "variables": dict(value.get("variables") or {})})
                elif "errorCode" in value:
                    self.submit(Command.THROW_ERROR, inst.instance_id, {"jobKey": job.key, **value})
                elif "fail" in value:
                    self.submit(Command.FAIL_JOB, inst.instance_id, {
                        "jobKey": job.key, "retries": job.retries - 1,
                        "errorMessage": str(value["fail"])})
                else:
                    self.submit(Command.COMPLETE_JOB, inst.instance_id,
                                {"jobKey": job.key, "variables": dict(value.get("variables", {}))})
            for task in list(inst.user_tasks.values()):
                element_id = inst.elements[task.element_key].element_id
                queue = task_answers.get(element_id)
                if not queue:
                    continue
                result = queue.pop(0) if len(queue) > 1 else queue[0]
                moved = True
                # the answers are given for the task, so they go as a person who fits it,
                # whatever principal the runner's other commands carry
                self.submit(Command.COMPLETE_USER_TASK, inst.instance_id,
                            {"taskKey": task.key, "variables": result},
                            principal=fitting_principal(task, self.person))
        return moved

    def _job_answer(self, inst: InstanceState, key: int, job_type: str,
                    answers: Answers, decision: bool) -> Mapping[str, Any] | None:
        answer = answers.jobs.get(job_type)
        if answer is None:
            if answers.auto_jobs and not decision:
                return {"variables": {}}
            if answers.auto_jobs and job_type == DECISION_JOB_TYPE:
                return self._first_bare_flow(inst, key)
            return None
        if callable(answer):
            created = next((r for r in reversed(self.records) if r.intent == "JOB_CREATED"
                            and r.instance_id == inst.instance_id and r.value["key"] == key),
                           None)
            value = answer(created) if created is not None else None
        elif decision:
            value = answer
        else:
            return {"variables": dict(answer)}
        if decision and value is not None and not (_DECISION_KEYS | {"fail"}) & set(value):
            # a decision job of any type (`decision`, or the connector `laneway:decision`
            # names) is answered with `{"flows": [...], "variables": {...}}` or a failure;
            # anything else would be refused again and again, so it stays waiting
            return None
        return value

    def _first_bare_flow(self, inst: InstanceState, key: int) -> Mapping[str, Any] | None:
        """`auto` answers the decision job of a gateway whose flows carry no condition at all
        (nothing to go by but the diagram's order) with its first flow, so a run is
        deterministic; a gateway with conditions for a handler still waits for an answer."""
        created = next((r for r in reversed(self.records) if r.intent == "JOB_CREATED"
                        and r.instance_id == inst.instance_id and r.value["key"] == key), None)
        flows = created.value.get("flows") if created is not None else None
        if not flows or any(f.get("condition") is not None for f in flows):
            return None
        return {"flows": [flows[0]["id"]]}

    def _fire_next_timer(self) -> bool:
        while self._timers:
            due, instance_id, key = heapq.heappop(self._timers)
            inst = self.instance(instance_id)
            if inst is None or key not in inst.timers or inst.status != InstanceStatus.ACTIVE:
                continue
            self.clock = max(self.clock, due)
            self.submit(Command.TRIGGER_TIMER, instance_id, {"timerKey": key})
            return True
        return False

    def outcome(self, instance_id: str) -> Outcome:
        """Where an instance stands now."""
        inst = self.instance(instance_id)
        if inst is None:
            return Outcome("UNKNOWN", [], [], {})
        variables = dict(inst.variables.get(inst.root_key, {}))
        incidents = [
            f"{each.elements[i.element_key].element_id}: {i.message}"
            if i.element_key in each.elements else i.message
            for each in self._call_tree(inst)
            for i in each.incidents.values()
        ]
        if inst.status != InstanceStatus.ACTIVE:
            return Outcome(inst.status, [], incidents, variables)
        if incidents:
            return Outcome(InstanceStatus.INCIDENT, [], incidents, variables)
        return Outcome("WAITING", self.waiting_on(inst), [], variables)

    def _call_tree(self, inst: InstanceState) -> list[InstanceState]:
        """The instance and every instance it called, directly or not."""
        tree = [inst]
        ids = {inst.instance_id}
        grew = True
        while grew:
            grew = False
            for each in self.engine.state.instances.values():
                if each.parent and each.parent.instance_id in ids and each.instance_id not in ids:
                    tree.append(each)
                    ids.add(each.instance_id)
                    grew = True
        return tree

    def waiting_on(self, inst: InstanceState) -> list[str]:
        """What an active instance (and any active instance it called) waits on, in words."""
        out: list[str] = []
        for each in self._call_tree(inst):
            if each.status != InstanceStatus.ACTIVE:
                continue
            for job in each.jobs.values():
                elem = each.elements[job.element_key]
                # a gateway's job of a connector type (`laneway:decision="llm"`) is answered
                # with flows, as a `decision` job is
                typed = job.type != "decision" and is_decision_job(elem, job.type)
                out.append(f"{'decision ' if typed else ''}job of type '{job.type}' at "
                           f"'{elem.element_id}'{self._script_note(each, elem.element_id)}")
            for task in each.user_tasks.values():
                out.append(f"user task '{each.elements[task.element_key].element_id}'")
            for sub in each.message_subs.values():
                key = f" with key '{sub.correlation_key}'" if sub.correlation_key else ""
                out.append(f"message '{sub.name}'{key} at '{sub.element_id}'")
            for sig in each.signal_subs.values():
                out.append(f"signal '{sig.name}' at '{sig.element_id}'")
            for timer in each.timers.values():
                out.append(f"timer at '{timer.element_id}' due {timer.due}")
            for gateways in each.joins.values():
                for gateway, flows in gateways.items():
                    out.append(f"gateway '{gateway}' joining (arrived: {', '.join(flows)})")
            out.extend(self._conditions_waiting(each))
        return out

    def _conditions_waiting(self, inst: InstanceState) -> list[str]:
        """The conditional events an instance waits on (they have no subscription to list)."""
        conditions = self.engine.repository.get(inst.process_id, inst.version).conditions
        if not conditions:
            return []
        return [f"condition '{c.conditions[0].raw.strip()}' at '{c.catch.id}'"
                for elem in inst.elements.values()
                for c in conditions.get(elem.element_id, ())
                if elem.element_id != c.catch.id or elem.kind == c.catch.kind.value]


    def _script_note(self, inst: InstanceState, element_id: str) -> str:
        """` (a groovy script)` for a script task's job: a worker runs that language."""
        try:
            node = self.engine.repository.get(inst.process_id, inst.version).node(element_id)
        except KeyError:
            return ""
        if node.kind.value != "scriptTask" or not node.script or not node.script_format:
            return ""
        return f" (a {node.script_format} script)"


_DECISION_KEYS = frozenset({"flows", "activities", "done"})


def _restamp(cmd: Record, timestamp: int) -> Record:
    return Record(record_id=cmd.record_id, kind=cmd.kind, intent=cmd.intent,
                  instance_id=cmd.instance_id, timestamp=timestamp, value=cmd.value,
                  principal=cmd.principal)
