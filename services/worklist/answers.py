"""Waking the task routes when the engine's answer is projected (PostgreSQL LISTEN/NOTIFY).

A POST that sends a task command waits for the engine's answer in `task_commands`. Polling the
table alone costs half the poll interval on every request; instead the projection's
transaction that writes answers also NOTIFYs their command ids (`NOTIFY_ANSWERS`, delivered by
PostgreSQL when that transaction commits, to every replica listening on the schema's
channel), and `AnswerWaiters` holds one listening connection per process and wakes the request
waiting for that command. Polling stays as the fallback: a request still looks every
`fallback_poll_s` while the listener is connected, every `POLL_S` while it is not (its
connection lost, being re-opened); every waiter is woken when the listener (re)connects, since
answers may have been committed while nobody listened.

When the request waits on the replica whose projection writes its answer, the projection hands
the answer over itself (`AnswerWaiters.resolve`, right after its transaction committed, with
the task's row as that transaction left it): the request neither waits for the notification's
round trip through PostgreSQL nor reads the answer again. The NOTIFY still goes out for every
answer, for requests waiting on other replicas.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from services.worklist.store import Answer

__all__ = ["CHANNEL_OF_SCHEMA", "NOTIFY_ANSWERS", "POLL_S", "AnswerWaiters", "Resolved",
           "Waiter"]

_log = logging.getLogger(__name__)

POLL_S = 0.05
"""How often a waiting request looks while nobody listens (the listener is reconnecting)."""

CHANNEL_OF_SCHEMA = "'laneway_answers_' || md5(current_schema())"
"""The channel, per schema (a LISTEN channel is an identifier of at most 63 bytes; a schema
name may be longer): the worklist replicas of one Laneway share it, other Laneways in the
same database do not hear it."""

NOTIFY_ANSWERS = (f"SELECT pg_notify({CHANNEL_OF_SCHEMA}, id) "
                  "FROM unnest(%s::text[]) AS id")
"""In the projection's transaction: one notification per answered command id (the payload)."""

_MAX_WAITERS = 10_000  # beyond this, a request polls instead of registering (bounded memory)

Resolved = tuple[Answer, dict[str, Any] | None]
"""The engine's answer and the task's row as the answer's transaction left it; None for the
row when the projection does not know it (a rejection: the request reads it if it needs it)."""


class Waiter(threading.Event):
    """The event a request waits on; `answered` holds what the projection of this process
    handed over (`AnswerWaiters.resolve`), set before the event is."""

    def __init__(self) -> None:
        super().__init__()
        self.answered: Resolved | None = None


class AnswerWaiters:
    """One LISTEN connection in a daemon thread; requests `register` a command id before
    sending the command and wait on the returned event. Thread-safe."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], *,
                 fallback_poll_s: float = 1.0, reconnect_s: float = 1.0) -> None:
        """`connect` opens a connection on the worklist's schema (the channel is derived
        from it); `fallback_poll_s`: how often a waiting request looks anyway while the
        listener is connected."""
        self._connect = connect
        self.fallback_poll_s = fallback_poll_s
        self._reconnect_s = reconnect_s
        self._waiting: dict[str, Waiter] = {}
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worklist-answers",
                                        daemon=True)
        self.woken = 0
        """Requests woken by a notification (not counting reconnects), for tests and
        metrics."""
        self.sleeping = 0
        """Requests waiting on their event right now (for tests)."""
        self.resolved = 0
        """Requests answered by this process's projection directly (`resolve`)."""

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def listening(self) -> bool:
        """Whether notifications arrive now (else requests poll at `POLL_S`)."""
        return self._listening.is_set()

    def register(self, command_id: str) -> Waiter | None:
        """The event set when the command's answer is committed; None when too many requests
        wait already (the caller polls). `forget` it afterwards."""
        with self._lock:
            if len(self._waiting) >= _MAX_WAITERS:
                return None
            event = self._waiting[command_id] = Waiter()
            return event

    def wanted(self, command_id: str) -> bool:
        """Whether a request of this process waits for this command's answer (the projection
        then keeps the task's row for it: `resolve`)."""
        # one dict lookup, atomic under the GIL: no lock on the projection's per-record path
        return command_id in self._waiting

    def resolve(self, command_id: str, answered: Resolved) -> bool:
        """Hand a committed answer to the request waiting for it in this process and wake
        it; False when none waits (any more). Call only once the answer's transaction has
        committed: the request answers from it, and the caller may read its writes next."""
        with self._lock:
            waiter = self._waiting.get(command_id)
            if waiter is None or waiter.answered is not None:
                return False
            waiter.answered = answered
            self.resolved += 1
        waiter.set()
        return True

    def forget(self, command_id: str) -> None:
        with self._lock:
            self._waiting.pop(command_id, None)

    def wait(self, event: threading.Event, timeout_s: float) -> None:
        """Wait until woken, at most `timeout_s` and at most one poll interval (the fallback
        while listening, `POLL_S` while not); clears the event for the next round."""
        interval = self.fallback_poll_s if self.listening else POLL_S
        with self._lock:
            self.sleeping += 1
        try:
            event.wait(max(0.0, min(interval, timeout_s)))
        finally:
            with self._lock:
                self.sleeping -= 1
        event.clear()

    def wake(self, command_id: str) -> None:
        """Wake the request waiting for this command's answer (it reads the answer itself):
        for an answer committed earlier, which the projection read again."""
        with self._lock:
            waiter = self._waiting.get(command_id)
        if waiter is not None:
            waiter.set()

    def _wake(self, command_id: str) -> None:
        with self._lock:
            event = self._waiting.get(command_id)
            if event is not None:
                self.woken += 1
        if event is not None:
            event.set()

    def _wake_all(self) -> None:
        with self._lock:
            events = list(self._waiting.values())
        for event in events:
            event.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    conn.autocommit = True
                    row = conn.execute(f"SELECT {CHANNEL_OF_SCHEMA}").fetchone()
                    assert row is not None
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(str(row[0]))))
                    self._listening.set()
                    # answers committed while nobody listened: every waiter looks again
                    self._wake_all()
                    while not self._stop.is_set():
                        # a bounded wait, so `stop` is seen within it
                        for note in conn.notifies(timeout=0.5):
                            self._wake(note.payload)
            except psycopg.Error as exc:
                _log.warning("answer listener: %s; polling until it reconnects", exc)
            finally:
                self._listening.clear()
            self._stop.wait(self._reconnect_s)
