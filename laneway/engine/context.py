"""One command being processed: the events it writes (applied at once) and what follows.

Processors never change state themselves: they write events through `Processing.write`, which
applies each one immediately, so the next step sees the state the event produced and replay
with the appliers alone arrives at the same state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from laneway.engine.appliers import LATEST_VERSION, RECORD_VERSION, STAMPED, apply_event
from laneway.engine.limits import DEFAULT_LIMITS, Budget, Limits
from laneway.engine.state import ElementInstance, EngineState, InstanceState
from laneway.records import Command, Event, Record, RecordKind, RejectionType

if TYPE_CHECKING:
    # types only: the processors and the repository (through its deploy check) import this
    # module
    from laneway.engine.executable import ExecutableProcess
    from laneway.engine.processors.base import ElementProcessor
    from laneway.engine.repository import DefinitionRepository


MAX_REASON_CHARS = 1000
"""A rejection's reason is cut to this many characters (it may quote an expression or a
value: a rejection stays small, whatever it refuses)."""
MAX_SUMMARY_CHARS = 200


def command_summary(value: Mapping[str, Any]) -> dict[str, Any]:
    """What a rejection repeats of the command it refuses: its scalar fields (`taskKey`,
    `jobKey`, `processId`, `name`, ...), strings cut to `MAX_SUMMARY_CHARS`; never its
    variables or other nested values, so a refused oversize command gives a small rejection."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None or isinstance(item, bool | int | float):
            out[key] = item
        elif isinstance(item, str):
            out[key] = item[:MAX_SUMMARY_CHARS]
    return out


def _clip(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_CHARS else reason[:MAX_REASON_CHARS - 3] + "..."


class Processing:
    """The working context of one command."""

    def __init__(
        self,
        repository: DefinitionRepository,
        state: EngineState,
        cmd: Record,
        processors: Mapping[str, ElementProcessor],
        limits: Limits = DEFAULT_LIMITS,
        *,
        delivery: str = "",
        partners: frozenset[str] | None = None,
    ) -> None:
        self.repository = repository
        self.delivery = delivery
        # the partner agencies this engine can send to (None: any, as `laneway run`, where a
        # message across leaves the run); one it cannot is an incident at the thrower
        self.partners = partners
        self.limits = limits
        # what this command has used of its limits (laneway/engine/limits.py)
        self.budget = Budget(limits)
        self.state = state
        self.cmd = cmd
        # element kind -> its processor (`laneway.engine.processors.ELEMENT_PROCESSORS`)
        self.processors = processors
        self.events: list[Record] = []
        self.commands: list[Record] = []
        self._inst: InstanceState | None = state.instances.get(cmd.instance_id)
        self._proc: ExecutableProcess | None = None
        self._next_key = 0
        self._agenda: deque[Callable[[], None]] = deque()
        # (scope key, gateway id) of inclusive joins to look at once nothing else moves
        self.inclusive_joins: set[tuple[int, str]] = set()
        # scope key -> tokens queued on the agenda toward an element of that scope: a scope
        # must not end while one is on its way
        self.in_flight: dict[int, int] = {}
        # scope key -> how often its tokens were cut off (terminate end, interrupting event):
        # a token queued before the cut must not arrive after it
        self.cuts: dict[int, int] = {}
        # (waiting element key, catch id) -> whether its condition held when last looked at in
        # this command (`behaviours.conditions`: a non-interrupting one fires on false -> true)
        self.conditions_seen: dict[tuple[int, str], bool] = {}

    # -- the instance being processed --------------------------------------------------------

    @property
    def inst(self) -> InstanceState:
        """The instance this command is about (it must exist)."""
        assert self._inst is not None, "no instance bound"
        return self._inst

    @property
    def proc(self) -> ExecutableProcess:
        """The process version of the bound instance."""
        if self._proc is None:
            self._proc = self.repository.get(self.inst.process_id, self.inst.version)
        return self._proc

    def bind(self) -> InstanceState | None:
        """Look the command's instance up again (after the event that created it)."""
        self._inst = self.state.instances.get(self.cmd.instance_id)
        self._proc = None
        return self._inst

    def new_key(self) -> int:
        """A fresh key within the instance; the event that uses it moves the counter on."""
        current = self._inst.next_key if self._inst is not None else 1
        key = max(current, self._next_key)
        self._next_key = key + 1
        return key

    # -- writing ---------------------------------------------------------------------------

    def write(
        self,
        intent: Event,
        value: Mapping[str, Any],
        *,
        element_id: str = "",
        element_type: str = "",
        token_id: int = 0,
        scope_id: int = 0,
        instance_id: str | None = None,
    ) -> Record:
        """Write an event and apply it to the state; it is stamped with the version of the
        applier that applies it, if that is not version 1 (laneway/engine/appliers.py)."""
        written = len(self.events)
        if written >= self.budget.next_events:
            self.budget.check_events(written)
        name = intent.value
        if name in STAMPED:
            value = {**value, RECORD_VERSION: LATEST_VERSION[name]}
        rec = Record(
            record_id=f"{self.cmd.record_id}.{len(self.events)}",
            kind=RecordKind.EVENT,
            intent=name,
            instance_id=instance_id if instance_id is not None else self.cmd.instance_id,
            timestamp=self.cmd.timestamp,
            value=value,
            element_id=element_id,
            element_type=element_type,
            token_id=token_id,
            scope_id=scope_id,
            principal=self.cmd.principal,
        )
        apply_event(self.state, rec)
        self.events.append(rec)
        return rec

    def write_element(
        self, intent: Event, elem: ElementInstance, value: Mapping[str, Any]
    ) -> Record:
        """Write an event about a live element instance."""
        return self.write(intent, value, element_id=elem.element_id, element_type=elem.kind,
                          token_id=elem.key, scope_id=elem.scope_key)

    def reject(self, reason: str, rejection_type: RejectionType = RejectionType.INVALID_STATE, *,
               element_id: str = "", element_type: str = "") -> None:
        """Refuse the command: a rejection record with the reason, and no state change; it
        names the element when the command was about one (the audit shows what was tried)."""
        # Sinks deduplicate by record id, so a rejection's id is unlike any event's: its own
        # suffix (`.r<n>`, never an event's `.<n>`), and where this copy of the command was
        # read, so a command that arrives three times (a client's retries) is refused three
        # times in the log, not once. No dot in the delivery: `<command>.` is what precedes
        # the last one (the worklist finds its answers so).
        where = f"@{self.delivery}" if self.delivery else ""
        self.events.append(Record(
            record_id=f"{self.cmd.record_id}.r{len(self.events)}{where}",
            kind=RecordKind.REJECTION,
            intent=self.cmd.intent,
            instance_id=self.cmd.instance_id,
            timestamp=self.cmd.timestamp,
            value={"reason": _clip(reason), "rejectionType": rejection_type.value,
                   "command": command_summary(self.cmd.value)},
            element_id=element_id,
            element_type=element_type,
            principal=self.cmd.principal,
        ))

    def follow_up(self, intent: Command, instance_id: str, value: Mapping[str, Any]) -> None:
        """A command for the engine to process after this one (maybe on another partition)."""
        self.commands.append(Record(
            record_id=f"{self.cmd.record_id}.c{len(self.commands)}",
            kind=RecordKind.COMMAND,
            intent=intent.value,
            instance_id=instance_id,
            timestamp=self.cmd.timestamp,
            value=value,
            principal=self.cmd.principal,
        ))

    # -- the agenda ---------------------------------------------------------------------------

    def later(self, step: Callable[[], None]) -> None:
        """Queue a step; steps run first in, first out, so processing is deterministic."""
        self._agenda.append(step)

    def drain(self, on_quiet: Callable[[], bool]) -> None:
        """Run queued steps until none is left and `on_quiet` finds nothing more to do."""
        agenda, budget = self._agenda, self.budget
        steps = 0
        while True:
            while agenda:
                steps += 1
                if steps >= budget.next_steps:
                    budget.check_steps(steps)
                agenda.popleft()()
            if not on_quiet():
                return
