"""The audit sink's hop from `events` to its rows: its offsets committed without waiting for
the broker (`ProjectionLoop(commit_async=True)`), still only after the database commit, and
the next batch decoded while one is written (`LANEWAY_AUDIT_PIPELINE`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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


def test_the_service_commits_the_offsets_without_waiting_unless_set_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # no client of a broker: a real producer would keep trying to connect until the end
    monkeypatch.setattr(audit_main, "Consumer", lambda config: None)
    monkeypatch.setattr(RenewingProducer, "from_config",
                        classmethod(lambda cls, config: cls(None, object())))
    assert load_settings(DB).commit_async
    assert audit_main.build_sink(load_settings(DB)).commit_async
    off = load_settings({**DB, "LANEWAY_AUDIT_COMMIT_ASYNC": "off"})
    assert not off.commit_async
    assert not audit_main.build_sink(off).commit_async
    with pytest.raises(SettingsError, match="LANEWAY_AUDIT_COMMIT_ASYNC"):
        load_settings({**DB, "LANEWAY_AUDIT_COMMIT_ASYNC": "maybe"})
    # the class itself waits unless asked (tools and tests that build one directly)
    journal = Journal()
    assert not AuditSink(Consumer(journal), RenewingProducer(None, object()),  # type: ignore[arg-type]
                         lambda: Connection(journal),  # type: ignore[arg-type, return-value]
                         events_topic="t.events", dlq_topic="t.dlq").commit_async


def test_the_service_builds_a_pipelined_sink_that_waits_for_its_offset_commit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    configs: list[dict[str, Any]] = []

    class Recording:
        def __init__(self, config: dict[str, Any]) -> None:
            configs.append(config)

    monkeypatch.setattr(audit_main, "Consumer", Recording)
    sink = audit_main.build_sink(load_settings({**DB, "LANEWAY_AUDIT_PIPELINE": "on"}))
    assert configs[0]["isolation.level"] == "read_committed"
    assert sink.pipelined
    assert not sink.commit_async


def test_the_pipeline_is_off_unless_set_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not load_settings(DB).pipelined
    assert load_settings({**DB, "LANEWAY_AUDIT_PIPELINE": "on"}).pipelined
    monkeypatch.setattr(audit_main, "Consumer", lambda config: None)
    assert not audit_main.build_sink(load_settings(DB)).pipelined
    with pytest.raises(SettingsError, match="LANEWAY_AUDIT_PIPELINE"):
        load_settings({**DB, "LANEWAY_AUDIT_PIPELINE": "sometimes"})


class Batches:
    """A consumer whose records come in the given batches, one per poll (then nothing)."""

    def __init__(self, journal: Journal, batches: list[list[Message]]) -> None:
        self.journal = journal
        self.batches = [list(b) for b in batches]
        self.current: list[Message] = []

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        pass

    def poll(self, timeout: float) -> Message | None:
        if not self.batches:
            return None
        self.current = self.batches.pop(0)
        return self.current.pop(0)

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        taken, self.current = self.current, []
        return taken

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.journal.steps.append(("offsets", [(tp.partition, tp.offset) for tp in offsets],
                                   asynchronous))


@pytest.mark.parametrize("pipelined", [True, False])
def test_the_sink_decodes_the_next_batch_while_one_is_written_and_commits_in_order(
        pipelined: bool) -> None:
    journal = Journal()
    stop = threading.Event()
    consumer = Batches(journal, [_messages(3)[:2], _messages(3)[2:]])
    sink = AuditSink(consumer, RenewingProducer(None, object()),  # type: ignore[arg-type]
                     lambda: Connection(journal), events_topic="t.events",  # type: ignore[arg-type, return-value]
                     dlq_topic="t.dlq", stop=stop, pipelined=pipelined)
    second_decoded = threading.Event()

    def decode(msg: Message) -> int:
        offset = int(msg.offset() or 0)
        journal.steps.append(("decode", offset))
        if offset == 2:
            second_decoded.set()
        return offset

    def write(conn: Any, items: list[Consumed[int]]) -> int:
        offsets = [item.offset for item in items]
        journal.steps.append(("write", offsets))
        if pipelined and offsets == [0, 1]:
            # the first batch's write lasts until the second batch is decoded: a sink that
            # decoded only after the write would fail here
            assert second_decoded.wait(10), "the next batch was not decoded during the write"
        if offsets == [2]:
            stop.set()
        return len(items)

    sink._decode = decode  # type: ignore[assignment]
    sink._handle = write  # type: ignore[assignment]
    sink.run()
    writes = [step for step in journal.steps if step[0] != "decode"]
    assert writes == [("begin",), ("write", [0, 1]), ("database commit",),
                      ("offsets", [(1, 2)], False),
                      ("begin",), ("write", [2]), ("database commit",),
                      ("offsets", [(1, 3)], False)]
    second = journal.steps.index(("decode", 2))
    first_committed = journal.steps.index(("offsets", [(1, 2)], False))
    assert (second < first_committed) == pipelined


def test_a_rebalance_waits_for_the_write_in_flight_before_the_caches_go() -> None:
    journal = Journal()
    sink = AuditSink(Consumer(journal), RenewingProducer(None, object()),  # type: ignore[arg-type]
                     lambda: Connection(journal), events_topic="t.events",  # type: ignore[arg-type, return-value]
                     dlq_topic="t.dlq")
    writing = threading.Event()
    resets: list[str] = []
    sink._on_reset = lambda: resets.append("reset")

    def write() -> int:
        writing.set()
        # a revoke that did not wait would drop the caches within this bounded wait (the
        # test's thread calls it at once); one that waits drops them after the write
        deadline = time.monotonic() + 0.5
        while not resets and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        journal.steps.append(("write done", list(resets)))
        return 0

    with ThreadPoolExecutor(1) as pool:
        sink._in_flight = pool.submit(write)
        assert writing.wait(10)
        sink._on_revoke(sink._consumer, [])
    assert journal.steps == [("write done", [])]
    assert resets == ["reset"]
