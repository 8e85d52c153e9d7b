"""The instance projection's Prometheus metrics, in a registry of its own (one per projection,
so tests that run several in one process never share counts); `/metrics` serves it beside the
sink's."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ProjectionMetrics:
    """Counters and the lag gauge of the `state` -> `instances` projection."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.projected = Counter(
            "laneway_projection_snapshots",
            "State snapshots read by the instance projection, by outcome: applied, stale "
            "(an older offset than the row's), tombstone, skipped (partition state or "
            "undecodable).", ["outcome"], registry=r)
        self.projection_lag = Gauge(
            "laneway_projection_lag",
            "State snapshots on the assigned partitions not yet projected.", registry=r)
        self.projection_errors = Counter(
            "laneway_projection_errors",
            "Projection batches that failed and were read again after a restart of the "
            "consumer.", registry=r)
