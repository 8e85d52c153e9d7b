"""The triggers service's Prometheus metrics (`laneway_triggers_*`), by type and schedule
(schedules are few: one per declared trigger of a running version)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from laneway.service import Metrics
from laneway.service.shared_metrics import ServiceMetrics

__all__ = ["TriggersMetrics"]


class TriggersMetrics(Metrics):
    """Made once per process (`default()`); a test makes its own on a fresh registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.service = ServiceMetrics.of("triggers", self.registry)
        """HTTP (the API and webhooks), consumer lag and the watchdog."""
        labels = ("type", "schedule")
        self.polls = Counter("laneway_triggers_polls_total", "Polls made", labels,
                             registry=self.registry)
        self.poll_errors = Counter("laneway_triggers_poll_errors_total", "Polls that failed",
                                   labels, registry=self.registry)
        self.fires = Counter("laneway_triggers_fires_total",
                             "Instances started (acknowledged by Kafka)", labels,
                             registry=self.registry)
        self.refused = Counter("laneway_triggers_items_refused_total",
                               "Items no instance could be started for (variables too large, "
                               "not storable)", labels, registry=self.registry)
        self.duplicates = Counter("laneway_triggers_items_duplicate_total",
                                  "Items seen again that had already started an instance",
                                  labels, registry=self.registry)
        self.poll_seconds = Histogram("laneway_triggers_poll_duration_seconds",
                                      "One poll: the plugin, the starts and the save",
                                      ("type",), registry=self.registry)
        self.hook_calls = Counter("laneway_triggers_hook_requests_total",
                                  "Webhook calls by answer status", ("status",),
                                  registry=self.registry)
