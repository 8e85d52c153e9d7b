"""The vocabulary every part of Laneway speaks: records and their envelope, command and event
intents, rejection and incident types, and the principal behind each record.

The engine, the codec, the topics, auth and every service import it from here; nothing in it
imports the engine.
"""

from laneway.records._intents import Command, Event, RecordKind
from laneway.records._principal import (
    ANONYMOUS_ID,
    SYSTEM,
    Principal,
    PrincipalKind,
    persona_key,
)
from laneway.records._record import Record, command
from laneway.records._types import IncidentType, RejectionType

__all__ = [
    "ANONYMOUS_ID",
    "SYSTEM",
    "Command",
    "Event",
    "IncidentType",
    "Principal",
    "PrincipalKind",
    "Record",
    "RecordKind",
    "RejectionType",
    "command",
    "persona_key",
]
