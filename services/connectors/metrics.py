"""The connectors service's Prometheus metrics (served by `laneway.health.HealthServer`).

Defined once per process at module level, as prometheus_client expects: a second definition of
the same name in the default registry is an error, and tests run workers more than once.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STARTED = Counter("laneway_connector_jobs_started", "Jobs taken from jobs.<type>", ["type"])
COMPLETED = Counter("laneway_connector_jobs_completed",
                    "Jobs finished, by outcome (COMPLETE_JOB, THROW_ERROR, FAIL_JOB)",
                    ["type", "outcome"])
ATTEMPTS_FAILED = Counter("laneway_connector_attempts_failed",
                          "Attempts that failed (retried or not)", ["type"])
REPLAYED = Counter("laneway_connector_jobs_replayed",
                   "Redelivered jobs answered from the stored result, side effect not repeated",
                   ["type"])
DEAD_LETTERS = Counter("laneway_connector_dead_letters",
                       "Job records sent to the dead-letter topic", ["type"])
IN_FLIGHT = Gauge("laneway_connector_jobs_in_flight", "Jobs taken and not yet answered",
                  ["type"])
LATENCY = Histogram("laneway_connector_job_seconds",
                    "From taking a job to producing its final command", ["type"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
                             300))
