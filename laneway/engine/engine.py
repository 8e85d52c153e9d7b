"""The engine core: commands in, events and follow-up commands out. No Kafka, no clock, no
randomness: the same commands give the same records, byte for byte."""

from __future__ import annotations

from dataclasses import dataclass

from laneway.engine.appliers import apply_event
from laneway.engine.behaviours import work
from laneway.engine.context import Processing
from laneway.engine.handlers import HANDLERS
from laneway.engine.handlers.instances import create_instance
from laneway.engine.limits import BUDGET_STAGE, DEFAULT_LIMITS, BudgetExceeded, Limits
from laneway.engine.processors import ELEMENT_PROCESSORS, complex_gateway
from laneway.engine.processors.inclusive_gateway import on_quiet
from laneway.engine.repository import DefinitionRepository
from laneway.engine.state import EngineState, InstanceStatus
from laneway.expr import fixed_now, reset_now, set_now
from laneway.records import Command, IncidentType, Record, RecordKind, RejectionType

# read per command: an enum member read from its class costs a descriptor call in Python 3.11
_COMMAND = RecordKind.COMMAND


@dataclass(frozen=True, slots=True)
class ProcessingResult:
    """What one command produced: events and rejections, and commands to process next."""

    events: list[Record]
    commands: list[Record]


class Engine:
    """Processes commands against the state it owns.

    A command that goes beyond its budget (`limits`, laneway/engine/limits.py) must leave no
    trace: its partial events are discarded and the instance is put back as it was before the
    command, then `over_budget` writes the incident. Putting it back needs the instance's
    events: with `history` (the default, for running in process) the engine keeps the events
    of each live instance and replays them; without it (the engine service, whose state lives
    on Kafka) `process` raises `BudgetExceeded` with the instance's state half changed, and the
    caller restores it and calls `over_budget` itself.
    """

    def __init__(self, repository: DefinitionRepository, state: EngineState | None = None, *,
                 limits: Limits = DEFAULT_LIMITS, history: bool = True,
                 partners: frozenset[str] | None = None) -> None:
        self.repository = repository
        # the partner agencies this engine has a topic for (the engine service's
        # LANEWAY_AGENCY_PARTNERS); None: any (`laneway run`). A message flow to another is an
        # AGENCY_NOT_CONFIGURED incident at the element that sends it (docs/agencies.md)
        self.partners = partners
        self.state = state if state is not None else EngineState()
        self.limits = limits
        # instance id -> every event it has had, while it is active (None: not kept)
        self._history: dict[str, list[Record]] | None = {} if history else None

    def process(self, command: Record, *, delivery: str = "") -> ProcessingResult:
        """Process one command completely (or, beyond its budget, not at all: an incident).
        `delivery` names where this copy of the command was read (the engine service:
        `commands-3-17`); it goes into the id of a rejection, so each copy of a command that
        arrives more than once gets a rejection of its own."""
        ctx = Processing(self.repository, self.state, command, ELEMENT_PROCESSORS, self.limits,
                         delivery=delivery, partners=self.partners)
        handler = HANDLERS.get(command.intent)
        if command.kind != _COMMAND or handler is None:
            ctx.reject(f"Expected a command the engine knows, but got {command.kind.value} "
                       f"'{command.intent}'", RejectionType.INVALID_ARGUMENT)
            return ProcessingResult(ctx.events, ctx.commands)
        existed = command.instance_id in self.state.instances
        try:
            # `fixed_now` without its generator context manager (per command)
            now = set_now(command.timestamp)
            try:
                handler(ctx)
                if ctx.bind() is not None:
                    # when nothing else moves, inclusive joins that no token can reach fire
                    ctx.drain(lambda: on_quiet(ctx) or complex_gateway.on_quiet(ctx))
            finally:
                reset_now(now)
        except BudgetExceeded as exc:
            if self._history is None:
                raise
            self._restore(command.instance_id, existed)
            return self.over_budget(command, exc)
        self._remember(command.instance_id, ctx.events)
        return ProcessingResult(ctx.events, ctx.commands)

    def refuse(self, command: Record, reason: str,
               rejection_type: RejectionType = RejectionType.EXCEEDED_SIZE, *,
               delivery: str = "") -> ProcessingResult:
        """The rejection of `command`, without processing it: what the service answers for a
        command it cannot carry out for reasons of its own (what processing it would write is
        larger than a record may be). The state is not touched. `delivery` as in `process`."""
        ctx = Processing(self.repository, self.state, command, ELEMENT_PROCESSORS, self.limits,
                         delivery=delivery, partners=self.partners)
        ctx.reject(reason, rejection_type)
        return ProcessingResult(ctx.events, [])

    def over_budget(self, command: Record, exc: BudgetExceeded, *,
                    delivery: str = "") -> ProcessingResult:
        """What a command that went beyond its budget leaves, on the state as it was before
        it: a BUDGET_EXCEEDED incident on its instance (created for a START_INSTANCE), or a
        rejection when there is no live instance to hold one. It starts nothing else."""
        ctx = Processing(self.repository, self.state, command, ELEMENT_PROCESSORS, self.limits,
                         delivery=delivery, partners=self.partners)
        reason = f"Expected {command.intent} to stay within its budget, but {exc}"
        with fixed_now(command.timestamp):
            inst = ctx.bind()
            if inst is None and command.intent == Command.START_INSTANCE.value:
                created = create_instance(ctx)
                inst = ctx.bind() if created is not None else None
            if inst is not None and inst.status == InstanceStatus.ACTIVE:
                work.raise_incident(ctx, inst.elements[inst.root_key],
                                    IncidentType.BUDGET_EXCEEDED, reason, stage=BUDGET_STAGE)
            elif not ctx.events:
                ctx.reject(reason, RejectionType.INVALID_STATE)
        self._remember(command.instance_id, ctx.events)
        return ProcessingResult(ctx.events, [])

    def _remember(self, instance_id: str, events: list[Record]) -> None:
        history = self._history
        if history is None or not events:
            return
        inst = self.state.instances.get(instance_id)
        if inst is None or inst.status != InstanceStatus.ACTIVE:
            # an ended instance takes no more commands that could need its past
            history.pop(instance_id, None)
            return
        history.setdefault(instance_id, []).extend(events)

    def _restore(self, instance_id: str, existed: bool) -> None:
        """Put an instance back as its kept events left it (before the current command)."""
        assert self._history is not None
        past = self._history.get(instance_id)
        if past is None and existed:
            raise RuntimeError(
                f"Expected the events of instance '{instance_id}' to restore it, but the "
                "engine was given it without them")
        scratch = EngineState()
        for rec in past or ():
            apply_event(scratch, rec)
        state = self.state
        # the signal index is derived from the instances' subscriptions
        state.unindex_signals(instance_id)
        restored = scratch.instances.get(instance_id)
        if restored is None:
            state.instances.pop(instance_id, None)
            return
        state.instances[instance_id] = restored
        state.index_signals(restored)
