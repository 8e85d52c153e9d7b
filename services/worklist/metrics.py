"""The worklist service's Prometheus metrics (`laneway_worklist_*`), one
`laneway.service.Metrics` class as every service's: the projection loop's batches, dead
letters and partitions, the shared HTTP / lag / watchdog metrics, and the user tasks open and
overdue, counted on scrape (`watch_tasks`)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from psycopg_pool import ConnectionPool

from laneway.consuming import ProjectionMetrics
from laneway.service import Metrics
from laneway.service.scraped import CountedOnScrape
from laneway.service.shared_metrics import ServiceMetrics

__all__ = ["TASK_COUNT_LIMIT", "WorklistMetrics", "count_tasks"]

TASK_COUNT_LIMIT = 1_000_000
"""The counts stop here (a bounded query: the gauge then reads this, which is alarm enough)."""

_OPEN = "laneway_worklist_user_tasks_open"
_OVERDUE = "laneway_worklist_user_tasks_overdue"


class WorklistMetrics(Metrics):
    """Made once per process (`default()`); a test makes its own on a fresh registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.service = ServiceMetrics.of("worklist", self.registry)
        """HTTP, the projection's consumer lag and its watchdog."""
        self.loop = ProjectionMetrics("laneway_worklist", self.registry)
        """The `events` → `tasks` projection's loop."""
        self.escalations = Counter(
            "laneway_worklist_escalations_sent",
            "ESCALATE_USER_TASK commands the SLA loop sent for overdue tasks",
            registry=self.registry)
        self.answer_lag = Histogram(
            "laneway_worklist_answer_lag_seconds",
            "An engine answer to a task command (its event's or rejection's Kafka timestamp) "
            "-> the projection's transaction holding it committed, which wakes the request",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry)
        self.answers_handed_over = Counter(
            "laneway_worklist_answers_handed_over",
            "Task-command answers the projection handed to a request waiting in the same "
            "process as soon as they committed (no NOTIFY round trip, no query)",
            registry=self.registry)
        self.sla_errors = Counter("laneway_worklist_sla_round_errors",
                                  "SLA rounds that failed (the next round retries)",
                                  registry=self.registry)
        self.tasks = CountedOnScrape({
            _OPEN: "User tasks open or claimed (counted on scrape, cached 15 s)",
            _OVERDUE: "Open or claimed user tasks past their due date, escalated or not",
        }, self.registry)

    def watch_tasks(self, pool: ConnectionPool[Any]) -> None:
        """Count the tasks in `pool`'s database when scraped."""
        self.tasks.watch(lambda: count_tasks(pool))


def count_tasks(pool: ConnectionPool[Any]) -> dict[str, float]:
    """The open and overdue task counts, each capped at `TASK_COUNT_LIMIT`, in at most 2 s."""
    with pool.connection(timeout=2) as conn, conn.transaction():
        conn.execute("SET LOCAL statement_timeout = '2s'")
        row = conn.execute(
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE state IN "
            "('open', 'claimed') LIMIT %(n)s) o), (SELECT count(*) FROM (SELECT 1 FROM tasks "
            "WHERE state IN ('open', 'claimed') AND due_at < now() LIMIT %(n)s) d)",
            {"n": TASK_COUNT_LIMIT}).fetchone()
    assert row is not None
    return {_OPEN: float(row[0]), _OVERDUE: float(row[1])}
