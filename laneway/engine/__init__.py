"""The engine core: pure processing of commands into events, and appliers to replay them."""

from laneway.engine.appliers import apply_event
from laneway.engine.engine import Engine, ProcessingResult
from laneway.engine.records import (
    SYSTEM,
    Command,
    Event,
    Principal,
    PrincipalKind,
    Record,
    RecordKind,
    command,
)
from laneway.engine.repository import DefinitionRepository, Deployed
from laneway.engine.state import EngineState, InstanceState, InstanceStatus

__all__ = [
    "SYSTEM",
    "Command",
    "DefinitionRepository",
    "Deployed",
    "Engine",
    "EngineState",
    "Event",
    "InstanceState",
    "InstanceStatus",
    "Principal",
    "PrincipalKind",
    "ProcessingResult",
    "Record",
    "RecordKind",
    "apply_event",
    "command",
]
