"""The engine core: pure processing of commands into events, and appliers to replay them.

The records it reads and writes are in `laneway.records`."""

from laneway.engine.appliers import apply_event
from laneway.engine.engine import Engine, ProcessingResult
from laneway.engine.repository import DefinitionRepository, Deployed
from laneway.engine.state import EngineState, InstanceState, InstanceStatus

__all__ = [
    "DefinitionRepository",
    "Deployed",
    "Engine",
    "EngineState",
    "InstanceState",
    "InstanceStatus",
    "ProcessingResult",
    "apply_event",
]
