"""The worklist's consumer skips records that name no task intent without decoding them
(services/worklist/consumer.py `decode_task_record`): every record it projects must still be
decoded, whatever its intent and kind, and what is not a Laneway record still raises (the
loop dead-letters it)."""

from __future__ import annotations

from typing import Any

import pytest

from laneway.codec import DecodeError, encode_record
from laneway.records import Event, Record, RecordKind
from services.worklist.consumer import decode_task_record
from services.worklist.projection import TASK_COMMANDS, TASK_EVENTS, is_task_record
from tests.kafka_fakes import message


def _record(kind: RecordKind, intent: str, value: dict[str, Any] | None = None) -> Record:
    return Record(record_id="cmd-1.0", kind=kind, intent=intent, instance_id="i-1",
                  element_id="task", element_type="userTask", value=value or {"key": 3},
                  timestamp=1)


TASK_RECORDS = [
    *[(RecordKind.EVENT, intent) for intent in sorted(TASK_EVENTS)],
    (RecordKind.EVENT, Event.INSTANCE_MIGRATED.value),
    *[(RecordKind.REJECTION, intent) for intent in sorted(TASK_COMMANDS)],
]


@pytest.mark.parametrize(("kind", "intent"), TASK_RECORDS)
def test_every_record_the_worklist_projects_is_decoded(kind: RecordKind, intent: str) -> None:
    record = _record(kind, intent)
    assert is_task_record(record)
    got = decode_task_record(message(encode_record(record)))
    assert got is not None
    assert (got.kind, got.intent, got.record_id) == (kind, intent, "cmd-1.0")


@pytest.mark.parametrize("intent", ["ELEMENT_ACTIVATED", "JOB_CREATED", "PROCESS_STARTED"])
def test_a_record_that_names_no_task_intent_is_skipped(intent: str) -> None:
    assert decode_task_record(message(encode_record(_record(RecordKind.EVENT, intent)))) is None


def test_a_record_naming_a_task_elsewhere_is_decoded_and_then_skipped() -> None:
    # a variable mentioning USER_TASK makes it a candidate; the decoded intent decides
    record = _record(RecordKind.EVENT, "ELEMENT_ACTIVATED", {"note": "USER_TASK_CREATED"})
    assert decode_task_record(message(encode_record(record))) is None


def test_what_is_not_a_laneway_record_still_raises() -> None:
    with pytest.raises(DecodeError):
        decode_task_record(message(b"\x00not a record"))
