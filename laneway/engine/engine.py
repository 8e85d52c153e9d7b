"""The engine core: commands in, events and follow-up commands out. No Kafka, no clock, no
randomness: the same commands give the same records, byte for byte."""

from __future__ import annotations

from dataclasses import dataclass

from laneway.engine.context import Processing
from laneway.engine.handlers import HANDLERS
from laneway.engine.processors import ELEMENT_PROCESSORS
from laneway.engine.processors.inclusive_gateway import on_quiet
from laneway.engine.repository import DefinitionRepository
from laneway.engine.state import EngineState
from laneway.expr import fixed_now
from laneway.records import Record, RecordKind, RejectionType


@dataclass(frozen=True, slots=True)
class ProcessingResult:
    """What one command produced: events and rejections, and commands to process next."""

    events: list[Record]
    commands: list[Record]


class Engine:
    """Processes commands against the state it owns."""

    def __init__(self, repository: DefinitionRepository, state: EngineState | None = None) -> None:
        self.repository = repository
        self.state = state if state is not None else EngineState()

    def process(self, command: Record, *, delivery: str = "") -> ProcessingResult:
        """Process one command completely. `delivery` names where this copy of the command
        was read (the engine service: `commands-3-17`); it goes into the id of a rejection,
        so each copy of a command that arrives more than once gets a rejection of its own."""
        ctx = Processing(self.repository, self.state, command, ELEMENT_PROCESSORS,
                         delivery=delivery)
        handler = HANDLERS.get(command.intent)
        if command.kind != RecordKind.COMMAND or handler is None:
            ctx.reject(f"Expected a command the engine knows, but got {command.kind.value} "
                       f"'{command.intent}'", RejectionType.INVALID_ARGUMENT)
        else:
            with fixed_now(command.timestamp):
                handler(ctx)
                if ctx.bind() is not None:
                    # when nothing else moves, inclusive joins that no token can reach fire
                    ctx.drain(lambda: on_quiet(ctx))
        return ProcessingResult(ctx.events, ctx.commands)

    def refuse(self, command: Record, reason: str,
               rejection_type: RejectionType = RejectionType.EXCEEDED_SIZE, *,
               delivery: str = "") -> ProcessingResult:
        """The rejection of `command`, without processing it: what the service answers for a
        command it cannot carry out for reasons of its own (what processing it would write is
        larger than a record may be). The state is not touched. `delivery` as in `process`."""
        ctx = Processing(self.repository, self.state, command, ELEMENT_PROCESSORS,
                         delivery=delivery)
        ctx.reject(reason, rejection_type)
        return ProcessingResult(ctx.events, [])
