"""One command being processed: the events it writes (applied at once) and what follows.

Processors never change state themselves: they write events through `Processing.write`, which
applies each one immediately, so the next step sees the state the event produced and replay
with the appliers alone arrives at the same state.
"""

from __future__ import annotations

import dataclasses
import types
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from laneway.engine import appliers
from laneway.engine.appliers import LATEST_VERSION, RECORD_VERSION, STAMPED
from laneway.engine.limits import DEFAULT_LIMITS, Budget, Limits
from laneway.engine.state import ElementInstance, EngineState, InstanceState
from laneway.records import Command, Event, Principal, Record, RecordKind, RejectionType

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


# an intent's string, looked up instead of `Event.X.value` (an enum descriptor call per event)
_NAMES: dict[str, str] = {intent: intent.value for intent in Event}

# The fields of a record, in the order `_event` sets them.
_RECORD_FIELDS = ("record_id", "kind", "intent", "instance_id", "timestamp", "value",
                  "element_id", "element_type", "token_id", "scope_id", "principal")


def _slot_setters() -> tuple[Callable[[Record, Any], None], ...] | None:
    """The slot setters of `Record`'s fields when it is a slots dataclass with exactly these
    fields and nothing run after `__init__`; None otherwise (then `_event` calls `Record`)."""
    if not dataclasses.is_dataclass(Record) or hasattr(Record, "__post_init__"):
        return None
    if tuple(f.name for f in dataclasses.fields(Record)) != _RECORD_FIELDS:
        return None
    setters = []
    for name in _RECORD_FIELDS:
        slot = Record.__dict__.get(name)
        if not isinstance(slot, types.MemberDescriptorType):
            return None
        setters.append(slot.__set__)
    return tuple(setters)


_SETTERS = _slot_setters()
_EVENT_KIND = RecordKind.EVENT


def _event(record_id: str, intent: str, instance_id: str, timestamp: int,
           value: Mapping[str, Any], element_id: str, element_type: str, token_id: int,
           scope_id: int, principal: Principal) -> Record:
    """An event record, equal to `Record(...)` with these fields. A frozen dataclass's
    `__init__` sets each field through `object.__setattr__` (about 2.5 µs for the eleven);
    setting the slots directly costs a third of that, on every event the engine writes."""
    setters = _SETTERS
    if setters is None:
        return Record(record_id, RecordKind.EVENT, intent, instance_id, timestamp, value,
                      element_id, element_type, token_id, scope_id, principal)
    rec: Record = object.__new__(Record)
    (s_id, s_kind, s_intent, s_instance, s_time, s_value, s_element, s_type, s_token, s_scope,
     s_principal) = setters
    s_id(rec, record_id)
    s_kind(rec, RecordKind.EVENT)
    s_intent(rec, intent)
    s_instance(rec, instance_id)
    s_time(rec, timestamp)
    s_value(rec, value)
    s_element(rec, element_id)
    s_type(rec, element_type)
    s_token(rec, token_id)
    s_scope(rec, scope_id)
    s_principal(rec, principal)
    return rec


def _clip(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_CHARS else reason[:MAX_REASON_CHARS - 3] + "..."


_T = TypeVar("_T")


class _PerCommand(Generic[_T]):
    """An attribute worked out when first read and kept in the instance's dict, so that every
    later read is a plain attribute read (`functools.cached_property` takes a lock at the
    first read, which costs more than the value here); `Processing.bind` drops it."""

    __slots__ = ("_fn", "_name")

    def __init__(self, fn: Callable[[Processing], _T]) -> None:
        self._fn = fn
        self._name = fn.__name__.lstrip("_")

    @overload
    def __get__(self, obj: None, owner: type) -> _PerCommand[_T]: ...

    @overload
    def __get__(self, obj: Processing, owner: type) -> _T: ...

    def __get__(self, obj: Processing | None, owner: type) -> _PerCommand[_T] | _T:
        if obj is None:
            return self
        value = self._fn(obj)
        obj.__dict__[self._name] = value
        return value


def _inst(ctx: Processing) -> InstanceState:
    """The instance this command is about (it must exist)."""
    assert ctx._inst is not None, "no instance bound"
    return ctx._inst


def _proc(ctx: Processing) -> ExecutableProcess:
    """The process version of the bound instance."""
    return ctx.repository.get(ctx.inst.process_id, ctx.inst.version)


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
        self._next_key = 0
        # what every event of this command repeats, read once (`write`)
        self._record_prefix = f"{cmd.record_id}."
        self._instance_id = cmd.instance_id
        self._timestamp = cmd.timestamp
        self._principal = cmd.principal
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

    # `inst` and `proc` are read a few hundred times per command: cached in the instance's
    # dict after the first read (a plain attribute read from then on), dropped by `bind`

    inst = _PerCommand(_inst)
    """The instance this command is about (it must exist)."""
    proc = _PerCommand(_proc)
    """The process version of the bound instance."""

    def bind(self) -> InstanceState | None:
        """Look the command's instance up again (after the event that created it)."""
        self._inst = self.state.instances.get(self.cmd.instance_id)
        cached = self.__dict__
        cached.pop("inst", None)
        cached.pop("proc", None)
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
        events = self.events
        written = len(events)
        if written >= self.budget.next_events:
            self.budget.check_events(written)
        name = _NAMES[intent]
        if instance_id is None:
            instance_id = self._instance_id
        # `appliers.apply_event` inline (it is an event; the tables are read from the module
        # at each call, as there)
        if name in STAMPED:
            version = LATEST_VERSION[name]
            value = {**value, RECORD_VERSION: version}
            applier = appliers._versioned(name, version)
        elif RECORD_VERSION in value:
            applier = appliers._versioned(name, value[RECORD_VERSION])
        else:
            applier = appliers._FIRST.get(name)
        setters = _SETTERS
        if setters is None:
            rec = Record(f"{self._record_prefix}{written}", RecordKind.EVENT, name, instance_id,
                         self._timestamp, value, element_id, element_type, token_id, scope_id,
                         self._principal)
        else:
            # `_event` inline: a call less per event
            rec = object.__new__(Record)
            (s_id, s_kind, s_intent, s_instance, s_time, s_value, s_element, s_type, s_token,
             s_scope, s_principal) = setters
            s_id(rec, f"{self._record_prefix}{written}")
            s_kind(rec, _EVENT_KIND)
            s_intent(rec, name)
            s_instance(rec, instance_id)
            s_time(rec, self._timestamp)
            s_value(rec, value)
            s_element(rec, element_id)
            s_type(rec, element_type)
            s_token(rec, token_id)
            s_scope(rec, scope_id)
            s_principal(rec, self._principal)
        if applier is not None:
            state = self.state
            instances = state.instances
            applier(state, instances.get(instance_id), rec, value)
            key = value.get("key")
            if isinstance(key, int):
                # looked up again: the event may have created the instance
                inst = instances.get(instance_id)
                if inst is not None and key >= inst.next_key:
                    inst.next_key = key + 1
        events.append(rec)
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
