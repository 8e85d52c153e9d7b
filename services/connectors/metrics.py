"""The connectors service's Prometheus metrics (served on /metrics by the kit's health
server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from laneway.service import Metrics
from laneway.service.shared_metrics import ServiceMetrics


class ConnectorMetrics(Metrics):
    """`laneway_connectors_*`, labelled by connector type: made once per process with
    `ConnectorMetrics.default()`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.service = ServiceMetrics.of("connectors", r)
        """HTTP (the job API), consumer lag per jobs topic and the consumers' watchdog."""
        self.started = Counter("laneway_connectors_jobs_started", "Jobs taken from jobs.<type>",
                               ["type"], registry=r)
        self.completed = Counter(
            "laneway_connectors_jobs_completed",
            "Jobs answered, by outcome: COMPLETE_JOB, or THROW_ERROR / FAIL_JOB (failed)",
            ["type", "outcome"], registry=r)
        self.attempts_failed = Counter("laneway_connectors_attempts_failed",
                                       "Attempts that failed (retried or not)", ["type"],
                                       registry=r)
        self.replayed = Counter(
            "laneway_connectors_jobs_replayed",
            "Redelivered jobs answered from the stored result, side effect not repeated",
            ["type"], registry=r)
        self.dead_letters = Counter("laneway_connectors_dead_letters",
                                    "Job records sent to the dead-letter topic", ["type"],
                                    registry=r)
        self.in_flight = Gauge("laneway_connectors_jobs_in_flight",
                               "Jobs taken and not yet answered", ["type"], registry=r)
        self.latency = Histogram(
            "laneway_connectors_job_seconds",
            "Job latency: from taking a job to producing its final command, by type",
            ["type"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
                               300), registry=r)
