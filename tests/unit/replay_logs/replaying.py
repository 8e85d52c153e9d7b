"""Replaying a recorded log: shared by the log generator and the test that replays the logs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from laneway.engine import EngineState, apply_event
from laneway.records import Record, RecordKind


def state_digest(state: EngineState) -> str:
    """The SHA-256 of a state's canonical JSON."""
    text = json.dumps(state.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def replay(records: Iterable[Record]) -> tuple[EngineState, list[str]]:
    """The events among `records` applied to an empty state; the state's digest after each."""
    state = EngineState()
    digests: list[str] = []
    for record in records:
        if record.kind == RecordKind.EVENT:
            apply_event(state, record)
            digests.append(state_digest(state))
    return state, digests
