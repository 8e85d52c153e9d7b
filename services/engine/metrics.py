"""The engine service's Prometheus metrics (served on /metrics by the kit's health server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from laneway.service import Metrics


class EngineMetrics(Metrics):
    """`laneway_engine_*`: made once per process with `EngineMetrics.default()`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.commands = Counter("laneway_engine_commands_processed",
                                "Commands processed, by intent", ["intent"], registry=r)
        self.events = Counter("laneway_engine_events_produced",
                              "Events (and rejections) produced", registry=r)
        self.rejections = Counter("laneway_engine_rejections",
                                  "Commands refused with a rejection, by intent", ["intent"],
                                  registry=r)
        self.dead_letters = Counter("laneway_engine_dead_letters",
                                    "Records sent to the dead-letter topic, by reason",
                                    ["reason"], registry=r)
        self.timers = Counter("laneway_engine_timers_triggered",
                              "TRIGGER_TIMER commands written", registry=r)
        self.aborts = Counter("laneway_engine_transactions_aborted",
                              "Transactions aborted (then recovered)", registry=r)
        self.batch_size = Histogram("laneway_engine_batch_size",
                                    "Records consumed per transaction",
                                    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
                                    registry=r)
        self.batch_seconds = Histogram("laneway_engine_batch_seconds",
                                       "Time from the first record of a batch to its commit",
                                       registry=r)
        self.restore_seconds = Histogram(
            "laneway_engine_restore_seconds",
            "Time to restore one partition from the state topic",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=r)
        self.owned_partitions = Gauge("laneway_engine_owned_partitions",
                                      "Partitions this replica owns", registry=r)
