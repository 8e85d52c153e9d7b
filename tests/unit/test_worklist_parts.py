"""The worklist's pure parts: task ids, which records it projects, which command a record
answers, its settings."""

from __future__ import annotations

import pytest

from laneway.kafka import RenewingProducer
from laneway.records import Record, RecordKind
from laneway.settings import SettingsError
from services.worklist import __main__ as worklist_main
from services.worklist.projection import command_id_of, is_task_record, parse_task_id, task_id
from services.worklist.settings import load_settings

IID = "4a5b6c7d-1111-4222-8333-944455566677"


def _record(kind: RecordKind, intent: str, record_id: str = "cmd-1.0") -> Record:
    return Record(record_id=record_id, kind=kind, intent=intent, instance_id=IID, timestamp=1)


def test_a_task_id_names_the_instance_and_the_key_and_reads_back() -> None:
    assert task_id(IID, 12) == f"{IID}:12"
    assert parse_task_id(task_id(IID, 12)) == (IID, 12)
    for bad in ("", "12", f"{IID}:", f"{IID}:x", ":12"):
        assert parse_task_id(bad) is None, bad


@pytest.mark.parametrize(("record_id", "command_id"), [
    ("a1b2.0", "a1b2"), ("a1b2.3", "a1b2"), ("a1b2.r0", "a1b2"),
    ("a1b2.r0@commands-3-17", "a1b2"), ("run-1.c0.2", "run-1.c0"),
])
def test_the_command_a_record_answers_is_its_id_without_the_last_part(
        record_id: str, command_id: str) -> None:
    assert command_id_of(_record(RecordKind.EVENT, "USER_TASK_CLAIMED", record_id)) == command_id


def test_only_user_task_events_and_task_command_rejections_are_projected() -> None:
    assert is_task_record(_record(RecordKind.EVENT, "USER_TASK_CREATED"))
    assert is_task_record(_record(RecordKind.EVENT, "USER_TASK_ESCALATED"))
    assert is_task_record(_record(RecordKind.REJECTION, "CLAIM_USER_TASK"))
    assert is_task_record(_record(RecordKind.REJECTION, "ESCALATE_USER_TASK"))
    assert not is_task_record(_record(RecordKind.EVENT, "JOB_CREATED"))
    assert not is_task_record(_record(RecordKind.REJECTION, "START_INSTANCE"))
    assert not is_task_record(_record(RecordKind.COMMAND, "CLAIM_USER_TASK"))


def test_settings_defaults_and_overrides() -> None:
    default = load_settings({})
    assert (default.group, default.sla_poll_s, default.sla_resend_s, default.common.http_port
            ) == ("laneway.worklist", 5.0, 60.0, 8082)
    tuned = load_settings({"LANEWAY_TOPIC_PREFIX": "t.", "LANEWAY_SLA_POLL_S": "0.5",
                           "LANEWAY_SLA_RESEND_S": "30", "LANEWAY_DB_SCHEMA": "wl"})
    assert (tuned.group, tuned.sla_poll_s, tuned.sla_resend_s, tuned.database_schema) == (
        "t.worklist", 0.5, 30.0, "wl_worklist")
    with pytest.raises(SettingsError, match="LANEWAY_SLA_POLL_S"):
        load_settings({"LANEWAY_SLA_POLL_S": "never"})


def test_the_projection_commits_its_offsets_without_waiting_unless_set_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # no client of a broker: a real producer would keep trying to connect until the end
    monkeypatch.setattr(worklist_main, "Consumer", lambda config: None)
    monkeypatch.setattr(RenewingProducer, "from_config",
                        classmethod(lambda cls, config: cls(None, object())))
    assert load_settings({}).commit_async
    assert worklist_main.build_consumer(load_settings({})).commit_async
    off = load_settings({"LANEWAY_WORKLIST_COMMIT_ASYNC": " OFF "})
    assert not off.commit_async
    assert not worklist_main.build_consumer(off).commit_async
    with pytest.raises(SettingsError, match="LANEWAY_WORKLIST_COMMIT_ASYNC"):
        load_settings({"LANEWAY_WORKLIST_COMMIT_ASYNC": "sometimes"})
