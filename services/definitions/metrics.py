"""The definitions service's Prometheus metrics, one `laneway.service.Metrics` class as every
service's. The process makes them once on the registry /metrics serves
(`DefinitionsMetrics.default()`); the parts a test starts make theirs on a fresh registry, so
tests that start several in one process never share counts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from laneway.service import Metrics
from laneway.service.shared_metrics import ServiceMetrics

__all__ = ["DefinitionsMetrics"]


class DefinitionsMetrics(Metrics):
    """Counters and histograms served at `/metrics`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.service = ServiceMetrics.of("definitions", r, consumers=False)
        """HTTP request durations (no consumer loop: no lag or watchdog gauges)."""
        self.deploys = Counter(
            "laneway_definitions_deploys", "Process versions deployed, by outcome: new, "
            "unchanged (same digest as a stored version) or refused (422).",
            ["outcome"], registry=r)
        self.deploy_seconds = Histogram(
            "laneway_definitions_deploy_seconds",
            "Time to check, store and publish one uploaded file.", registry=r)
        self.starts = Counter(
            "laneway_definitions_instance_starts", "START_INSTANCE commands produced.", registry=r)
        self.messages = Counter(
            "laneway_definitions_messages_published", "PUBLISH_MESSAGE commands produced.",
            registry=r)
        self.publish_failures = Counter(
            "laneway_definitions_publish_failures",
            "Requests answered 503 because Kafka did not acknowledge in time.", registry=r)
        self.republished = Counter(
            "laneway_definitions_republished",
            "Definitions produced again at start because the topic lacked them.", registry=r)
