"""The audit sink's hop from `events` to its rows: its consumer's fetch wait
(`LANEWAY_AUDIT_FETCH_WAIT_MS`) and its offsets committed without waiting for the broker
(`ProjectionLoop(commit_async=True)`), still only after the database commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import Message, TopicPartition

from laneway.consuming import Consumed, DeadLetterProducer, ProjectionLoop
from laneway.kafka import RenewingProducer
from laneway.settings import SettingsError
from services.audit import __main__ as audit_main
from services.audit.settings import load_settings
from services.audit.sink import AuditSink

DB = {"DATABASE_URL": "postgresql://laneway:secret@db.example:5432/laneway"}


class Journal:
    """What happened, in order: the transaction's steps and the commits (with their mode)."""

    def __init__(self) -> None:
        self.steps: list[tuple[Any, ...]] = []


class Connection:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.broken = False
        self.closed = False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.journal.steps.append(("begin",))
        yield
        self.journal.steps.append(("database commit",))


class Consumer:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.journal.steps.append(("offsets", [(tp.partition, tp.offset) for tp in offsets],
                                   asynchronous))


def _loop(journal: Journal, **kwargs: Any) -> ProjectionLoop[int]:
    def handle(conn: Any, items: list[Consumed[int]]) -> int:
        journal.steps.append(("write", [item.offset for item in items]))
        return len(items)

    return ProjectionLoop(
        Consumer(journal), ["t.events"], handle, lambda: Connection(journal),  # type: ignore[arg-type, return-value]
        DeadLetterProducer(RenewingProducer(None, object()), "t.dlq"),  # type: ignore[arg-type]
        decode=lambda msg: int(msg.offset() or 0), **kwargs)


def _messages(n: int) -> list[Message]:
    return [Message(topic="t.events", partition=1, offset=i, key=b"k", value=b"v")
            for i in range(n)]


@pytest.mark.parametrize("commit_async", [False, True])
def test_the_offsets_are_committed_after_the_database_commit_in_the_mode_asked(
        commit_async: bool) -> None:
    journal = Journal()
    assert _loop(journal, commit_async=commit_async).handle_messages(_messages(3)) == 3
    assert journal.steps == [("begin",), ("write", [0, 1, 2]), ("database commit",),
                             ("offsets", [(1, 3)], commit_async)]


def test_a_projection_commits_synchronously_unless_it_asks() -> None:
    journal = Journal()
    _loop(journal).handle_messages(_messages(1))
    assert journal.steps[-1] == ("offsets", [(1, 1)], False)


def test_a_batch_the_database_did_not_take_commits_no_offsets() -> None:
    journal = Journal()

    def refuse(conn: Any, items: Any) -> int:
        raise RuntimeError("not a database error: the loop ends")

    loop: ProjectionLoop[int] = ProjectionLoop(
        Consumer(journal), ["t.events"], refuse, lambda: Connection(journal),  # type: ignore[arg-type, return-value]
        DeadLetterProducer(RenewingProducer(None, object()), "t.dlq"),  # type: ignore[arg-type]
        decode=lambda msg: 0, commit_async=True)
    with pytest.raises(RuntimeError):
        loop.handle_messages(_messages(2))
    assert not [step for step in journal.steps if step[0] == "offsets"]


def test_the_audit_sink_commits_its_offsets_without_waiting_by_default() -> None:
    journal = Journal()
    sink = AuditSink(Consumer(journal), RenewingProducer(None, object()),  # type: ignore[arg-type]
                     lambda: Connection(journal), events_topic="t.events",  # type: ignore[arg-type, return-value]
                     dlq_topic="t.dlq")
    assert sink.commit_async
    assert not AuditSink(Consumer(journal), RenewingProducer(None, object()),  # type: ignore[arg-type]
                         lambda: Connection(journal),  # type: ignore[arg-type, return-value]
                         events_topic="t.events", dlq_topic="t.dlq",
                         commit_async=False).commit_async


def test_the_fetch_wait_is_10_ms_unless_set_and_at_most_500() -> None:
    assert load_settings(DB).fetch_wait_ms == 10
    assert load_settings({**DB, "LANEWAY_AUDIT_FETCH_WAIT_MS": "250"}).fetch_wait_ms == 250
    for bad in ("501", "0", "-3", "ten"):
        with pytest.raises(SettingsError, match="LANEWAY_AUDIT_FETCH_WAIT_MS"):
            load_settings({**DB, "LANEWAY_AUDIT_FETCH_WAIT_MS": bad})


def test_the_sinks_consumer_gets_the_fetch_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    configs: list[dict[str, Any]] = []

    class Recording:
        def __init__(self, config: dict[str, Any]) -> None:
            configs.append(config)

    monkeypatch.setattr(audit_main, "Consumer", Recording)
    audit_main.build_sink(load_settings({**DB, "LANEWAY_AUDIT_FETCH_WAIT_MS": "37"}))
    assert [c["fetch.wait.max.ms"] for c in configs] == [37]
    assert configs[0]["isolation.level"] == "read_committed"
