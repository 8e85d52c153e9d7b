"""A projection's offsets held back and committed together (`ProjectionLoop(commit_interval_s=...)`,
`LANEWAY_<SERVICE>_COMMIT_INTERVAL_MS`): still only after the database commit, at most one
commit per interval, the newest offset of each partition, and at once when nothing more
comes, when the partitions are revoked and on the way out; never for partitions lost."""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import Message, TopicPartition

from laneway import consuming
from laneway.consuming import Consumed, DeadLetterProducer, ProjectionLoop
from laneway.kafka import RenewingProducer
from laneway.settings import SettingsError
from services.audit.settings import load_settings as audit_settings
from services.worklist.settings import load_settings as worklist_settings

Commit = tuple[str, list[tuple[int, int]], bool]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class Connection:
    broken = False
    closed = False

    def __init__(self, steps: list[Any]) -> None:
        self.steps = steps

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield
        self.steps.append("database commit")

    def close(self) -> None:
        self.closed = True


class Consumer:
    """Hands out the batches it was given, one per poll, then nothing; records the commits
    and each poll's timeout."""

    def __init__(self, steps: list[Any], batches: list[list[Message]] | None = None,
                 stop: Any = None) -> None:
        self.steps = steps
        self.batches = list(batches or [])
        self.timeouts: list[float] = []
        self.stop = stop
        self.closed = False
        self.idle = 0

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.callbacks = callbacks

    def poll(self, timeout: float) -> Message | None:
        self.timeouts.append(timeout)
        if self.batches:
            batch = self.batches.pop(0)
            self._rest = batch[1:]
            return batch[0]
        self.idle += 1
        if self.stop is not None and (
                any(isinstance(s, tuple) for s in self.steps[-1:]) or self.idle > 5):
            self.stop.set()  # an idle poll committed what was held back (or never will)
        return None

    def consume(self, n: int, timeout: float) -> list[Message]:
        rest, self._rest = self._rest, []
        return rest

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.steps.append(("offsets", sorted((tp.partition, tp.offset) for tp in offsets),
                           asynchronous))

    def close(self) -> None:
        self.closed = True


class Producer:
    def flush(self, timeout: float) -> int:
        return 0


def _loop(consumer: Consumer, steps: list[Any], **kwargs: Any) -> ProjectionLoop[int]:
    def handle(conn: Any, items: list[Consumed[int]]) -> int:
        steps.append(("write", [item.offset for item in items]))
        return len(items)

    return ProjectionLoop(
        consumer, ["t.events"], handle, lambda: Connection(steps),  # type: ignore[arg-type, return-value]
        DeadLetterProducer(RenewingProducer(None, Producer()), "t.dlq"),  # type: ignore[arg-type]
        decode=lambda msg: int(msg.offset() or 0), commit_async=True, **kwargs)


def _batch(partition: int, *offsets: int) -> list[Message]:
    return [Message(topic="t.events", partition=partition, offset=o, key=b"k", value=b"v")
            for o in offsets]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    # the loop's own clock only: time elsewhere (pytest's, the libraries') is untouched
    monkeypatch.setattr(consuming, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    return clock


def _commits(steps: list[Any]) -> list[Commit]:
    return [s for s in steps if isinstance(s, tuple) and s[0] == "offsets"]


def test_within_an_interval_the_newest_offsets_go_in_one_commit_after_the_writes(
        clock: Clock) -> None:
    steps: list[Any] = []
    loop = _loop(Consumer(steps), steps, commit_interval_s=0.1)
    loop.handle_messages(_batch(1, 0, 1))  # the first commit is due at once
    clock.now += 0.03
    loop.handle_messages(_batch(2, 5))
    clock.now += 0.03
    loop.handle_messages(_batch(1, 2, 3))
    assert _commits(steps) == [("offsets", [(1, 2)], True)]
    clock.now += 0.05  # 0.11 s after the first commit
    loop.handle_messages(_batch(2, 6))
    assert _commits(steps) == [("offsets", [(1, 2)], True),
                               ("offsets", [(1, 4), (2, 7)], True)]
    # each commit came after the database commit of the batches it covers
    assert steps[-2:] == ["database commit", ("offsets", [(1, 4), (2, 7)], True)]


def test_without_an_interval_every_batch_commits_its_offsets(clock: Clock) -> None:
    steps: list[Any] = []
    loop = _loop(Consumer(steps), steps)
    loop.handle_messages(_batch(1, 0))
    loop.handle_messages(_batch(1, 1))
    assert _commits(steps) == [("offsets", [(1, 1)], True), ("offsets", [(1, 2)], True)]


def test_when_nothing_more_comes_the_held_back_offsets_are_committed(clock: Clock) -> None:
    steps: list[Any] = []
    stop = consuming.threading.Event()
    consumer = Consumer(steps, [_batch(1, 0), _batch(1, 1, 2)], stop=stop)
    loop = _loop(consumer, steps, commit_interval_s=0.15, poll_timeout_s=0.2, stop=stop)
    loop.run()  # the first batch's commit is due at once, the second's is held back
    assert _commits(steps) == [("offsets", [(1, 1)], True), ("offsets", [(1, 3)], True)]
    # the poll after the held-back batch waited no longer than until the commit was due
    assert consumer.timeouts[:2] == [0.2, 0.2]
    assert consumer.timeouts[2] == pytest.approx(0.15)


def _second_batch_held_back(steps: list[Any]) -> tuple[Consumer, ProjectionLoop[int]]:
    """A subscribed loop that wrote two batches of partition 3: the first's offset committed
    at once, the second's held back."""
    consumer = Consumer(steps)
    loop = _loop(consumer, steps, commit_interval_s=10.0)
    loop.subscribe()
    loop.handle_messages(_batch(3, 0))
    loop.handle_messages(_batch(3, 1))
    return consumer, loop


def test_revoked_partitions_get_what_was_written_committed_and_waited_for(
        clock: Clock) -> None:
    steps: list[Any] = []
    consumer, _ = _second_batch_held_back(steps)
    consumer.callbacks["on_revoke"](consumer, [TopicPartition("t.events", 3)])
    assert _commits(steps) == [("offsets", [(3, 1)], True), ("offsets", [(3, 2)], False)]


def test_lost_partitions_are_not_committed(clock: Clock) -> None:
    steps: list[Any] = []
    consumer, loop = _second_batch_held_back(steps)
    consumer.callbacks["on_lost"](consumer, [TopicPartition("t.events", 3)])
    loop.close()
    assert _commits(steps) == [("offsets", [(3, 1)], True)]


def test_closing_commits_what_was_held_back_and_waits_for_it(clock: Clock) -> None:
    steps: list[Any] = []
    consumer = Consumer(steps)
    loop = _loop(consumer, steps, commit_interval_s=10.0)
    loop.handle_messages(_batch(0, 0))
    loop.handle_messages(_batch(0, 1))
    loop.close()
    assert _commits(steps) == [("offsets", [(0, 1)], True), ("offsets", [(0, 2)], False)]
    assert consumer.closed


def test_a_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="commit_interval_s"):
        _loop(Consumer([]), [], commit_interval_s=-1)


def test_the_services_hold_offsets_back_100_ms_unless_set() -> None:
    db = {"DATABASE_URL": "postgresql://laneway:secret@db.example:5432/laneway"}
    assert worklist_settings({}).commit_interval_s == 0.1
    assert worklist_settings({"LANEWAY_WORKLIST_COMMIT_INTERVAL_MS": " 0 "}
                             ).commit_interval_s == 0
    assert audit_settings(db).commit_interval_s == 0.1
    assert audit_settings({**db, "LANEWAY_AUDIT_COMMIT_INTERVAL_MS": "250"}
                          ).commit_interval_s == 0.25
    for bad in ("-1", "0.5", "soon", "60001", "٣"):
        with pytest.raises(SettingsError, match="LANEWAY_WORKLIST_COMMIT_INTERVAL_MS"):
            worklist_settings({"LANEWAY_WORKLIST_COMMIT_INTERVAL_MS": bad})
