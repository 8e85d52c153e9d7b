"""Recorded event logs replay to the state they were recorded with.

`tests/unit/replay_logs/` holds event logs written by earlier engines (one `Record.to_json()`
a line) and what replaying each gave then: the final state and a digest of the state after
every event. Replaying them through today's appliers must give the same, so a change that
alters what an old log means fails here: such a change is a new applier version, with the old
one kept for old logs (docs/engine.md). Every typed event of the logs also fits its value
class (`laneway.records.values`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from laneway.records import Record, RecordKind
from laneway.records.values import EVENT_VALUES, from_value

LOGS = Path(__file__).resolve().parent / "replay_logs"
sys.path.insert(0, str(LOGS))

from replaying import replay, state_digest  # noqa: E402

NAMES = sorted(p.name.removesuffix(".jsonl") for p in LOGS.glob("*.jsonl"))


def _records(name: str) -> list[Record]:
    lines = (LOGS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [Record.from_dict(json.loads(line)) for line in lines]


def _expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((LOGS / f"{name}.expected.json").read_text("utf-8"))
    return data


def test_the_logs_are_there() -> None:
    assert len(NAMES) >= 9
    for name in NAMES:
        assert (LOGS / f"{name}.expected.json").exists(), name


@pytest.mark.parametrize("name", NAMES)
def test_a_recorded_log_replays_to_the_state_recorded_with_it(name: str) -> None:
    records = _records(name)
    expected = _expected(name)
    state, digests = replay(records)
    events = [r for r in records if r.kind == RecordKind.EVENT]
    assert len(digests) == len(expected["digests"]) == len(events)
    for i, (got, want) in enumerate(zip(digests, expected["digests"], strict=True)):
        assert got == want, (f"Expected the state after event {i} of {name} "
                             f"({events[i].intent} {events[i].record_id}) to be as recorded, "
                             "but it differs")
    final = json.loads(json.dumps(state.to_dict(), sort_keys=True, default=str))
    assert final == expected["final"]


@pytest.mark.parametrize("name", NAMES)
def test_a_recorded_log_reads_back_byte_for_byte(name: str) -> None:
    lines = (LOGS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    assert [r.to_json() for r in _records(name)] == lines


@pytest.mark.parametrize("name", NAMES)
def test_every_typed_event_of_a_log_fits_its_value_class(name: str) -> None:
    typed = [r for r in _records(name)
             if r.kind == RecordKind.EVENT and r.intent in EVENT_VALUES]
    assert typed
    for record in typed:
        from_value(EVENT_VALUES[record.intent], record.value)


def test_a_changed_applier_fails_the_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    import laneway.engine.appliers as appliers

    def forgetful(state: Any, inst: Any, rec: Record, v: Any) -> None:
        """A job failure that no longer counts retries down."""

    first = {**appliers._FIRST, "JOB_FAILED": forgetful}
    monkeypatch.setattr(appliers, "_FIRST", first)
    state, digests = replay(_records("incidents"))
    assert digests != _expected("incidents")["digests"]
    assert state_digest(state) != state_digest(replay([])[0])
