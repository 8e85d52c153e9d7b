"""The engine service's Prometheus metrics (`laneway_engine_*`, served on /metrics by the
kit's health server). Label values are bounded: intents and reasons are the engine's own
words, a job type passes through `BoundedLabel` (deployed diagrams name them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from laneway.service import Metrics
from laneway.service.shared_metrics import BoundedLabel, ServiceMetrics

_KNOWN_INTENTS = 100
"""Distinct intents counted by name; a record's intent is decoded before it is counted, and
this bound keeps any that is not from growing the series."""


class EngineMetrics(Metrics):
    """`laneway_engine_*`: made once per process with `EngineMetrics.default()`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.service = ServiceMetrics.of("engine", r, http=False)
        """Consumer lag and the loop watchdog's signal (its port serves no API to time)."""
        self.intent = BoundedLabel(_KNOWN_INTENTS)
        self.job_type = BoundedLabel(200)
        self.commands = Counter("laneway_engine_commands_processed",
                                "Commands processed, by intent", ["intent"], registry=r)
        self.events = Counter("laneway_engine_events_produced",
                              "Events (and rejections) produced", registry=r)
        self.rejections = Counter("laneway_engine_commands_rejected",
                                  "Commands refused with a rejection, by intent", ["intent"],
                                  registry=r)
        self.dead_letters = Counter("laneway_engine_dead_letters",
                                    "Records sent to the dead-letter topic, by reason",
                                    ["reason"], registry=r)
        self.jobs = Counter("laneway_engine_jobs_created",
                            "Jobs created (JOB_CREATED, a record on jobs.<type>), by type",
                            ["type"], registry=r)
        self.incidents_created = Counter("laneway_engine_incidents_created",
                                         "Incidents raised (INCIDENT_CREATED)", registry=r)
        self.incidents_resolved = Counter(
            "laneway_engine_incidents_resolved",
            "Incidents resolved or left (INCIDENT_RESOLVED)", registry=r)
        self.timers = Counter("laneway_engine_timers_triggered",
                              "TRIGGER_TIMER commands written", registry=r)
        self.aborts = Counter("laneway_engine_transactions_aborted",
                              "Transactions aborted (then recovered)", registry=r)
        self.batch_size = Histogram("laneway_engine_batch_records",
                                    "Records consumed per transaction",
                                    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
                                    registry=r)
        self.batch_seconds = Histogram("laneway_engine_batch_seconds",
                                       "Time from the first record of a batch to its commit",
                                       registry=r)
        self.transaction_seconds = Histogram(
            "laneway_engine_transaction_seconds",
            "Time from the batch's last record produced to its commit: the rest of the "
            "offsets' send (started with the batch) and the commit",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=r)
        self.restore_seconds = Histogram(
            "laneway_engine_restore_seconds",
            "Time to restore one partition from the state topic",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=r)
        self.owned_partitions = Gauge("laneway_engine_owned_partitions",
                                      "Partitions this replica owns", registry=r)
