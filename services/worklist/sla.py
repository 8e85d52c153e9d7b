"""The SLA loop: ESCALATE_USER_TASK for open or claimed tasks past their due date.

Every `LANEWAY_SLA_POLL_S` it takes the overdue tasks not escalated yet whose last escalation
command is older than `LANEWAY_SLA_RESEND_S` (or was never sent), locked with `SKIP LOCKED` so
two replicas never send for the same task at once, produces one command each as
`agent` / `worklist:sla`, and marks `escalation_sent_at` in the same transaction once Kafka has
acknowledged them. A command lost with a crash before that commit is sent again on the next
round; one whose USER_TASK_ESCALATED has not been projected after the resend interval is sent
again too. The engine writes USER_TASK_ESCALATED exactly once and rejects a repeat with
`ALREADY_ESCALATED`, so sending twice is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

import psycopg

from laneway.records import Command, Principal, PrincipalKind, Record, command
from services.worklist.metrics import WorklistMetrics

__all__ = ["SLA_PRINCIPAL", "CommandSender", "SlaLoop"]

_log = logging.getLogger(__name__)

SLA_PRINCIPAL = Principal(PrincipalKind.AGENT, "worklist:sla")
"""Who escalates (docs/people.md, "Agents")."""

_OVERDUE = """
SELECT task_id, instance_id, task_key FROM tasks
WHERE state IN ('open', 'claimed') AND escalated_at IS NULL
  AND due_at IS NOT NULL AND due_at <= now()
  AND (escalation_sent_at IS NULL OR escalation_sent_at <= now() - %s)
ORDER BY due_at
LIMIT %s
FOR UPDATE SKIP LOCKED
"""


class CommandSender(Protocol):
    """Produces a command and returns once Kafka acknowledged it (the API's Publisher)."""

    def send_command(self, command: Record) -> object:
        """Produce `command`; raise when Kafka did not acknowledge it."""


class SlaLoop:
    """Sends ESCALATE_USER_TASK for overdue tasks, round after round, until stopped."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], sender: CommandSender,
                 *, poll_s: float = 5.0, resend_s: float = 60.0, batch: int = 500,
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                 stop: threading.Event | None = None,
                 metrics: WorklistMetrics | None = None) -> None:
        self._connect = connect
        self._metrics = metrics
        self._sender = sender
        self.poll_s = poll_s
        self.resend_s = resend_s
        self.batch = batch
        self._clock_ms = clock_ms
        self._stop = stop if stop is not None else threading.Event()
        self._last_round = time.monotonic()
        self._last_error: str | None = None
        self.sent = 0
        """ESCALATE_USER_TASK commands sent since start."""

    def run(self) -> None:
        """Run rounds every `poll_s` until `stop` is set."""
        while not self._stop.is_set():
            try:
                self.round()
                self._last_error = None
            except Exception as exc:  # a database or Kafka outage: the next round retries
                self._last_error = f"{type(exc).__name__}: {exc}"
                if self._metrics is not None:
                    self._metrics.sla_errors.inc()
                _log.warning("SLA round failed (%s); retrying in %.1fs", exc, self.poll_s)
            self._last_round = time.monotonic()
            self._stop.wait(self.poll_s)

    def stop(self) -> None:
        """Ask `run` to return."""
        self._stop.set()

    def health(self) -> str | None:
        """None while rounds run and succeed; else what is wrong."""
        since = time.monotonic() - self._last_round
        if since > max(60.0, self.poll_s * 10):
            return f"the SLA loop has not run a round for {since:.0f}s"
        if self._last_error is not None:
            return f"the last SLA round failed: {self._last_error}"
        return None

    def round(self) -> int:
        """One pass over the overdue tasks; return the commands sent."""
        with self._connect() as conn, conn.transaction():
            rows = conn.execute(_OVERDUE, (timedelta(seconds=self.resend_s),
                                           self.batch)).fetchall()
            for task_id, instance_id, key in rows:
                self._sender.send_command(command(
                    Command.ESCALATE_USER_TASK, instance_id, {"taskKey": int(key)},
                    record_id=str(uuid.uuid4()), timestamp=self._clock_ms(),
                    principal=SLA_PRINCIPAL))
                _log.info("escalating overdue task %s", task_id)
            if rows:
                conn.execute("UPDATE tasks SET escalation_sent_at = now() "
                             "WHERE task_id = ANY(%s)", ([r[0] for r in rows],))
        self.sent += len(rows)
        if self._metrics is not None:
            self._metrics.escalations.inc(len(rows))
        return len(rows)
