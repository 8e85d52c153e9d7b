"""The audit service's Prometheus metrics: the sink's (`laneway_audit_*`) and the instance
projection's (`laneway_projection_*`), each a `laneway.service.Metrics` class holding its
loop's `ProjectionMetrics` beside its own.

The process makes each once (`default()`, on the registry /metrics serves); a test makes its
own on a fresh `CollectorRegistry` to read values without meeting other tests' counts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from laneway.consuming import ProjectionMetrics
from laneway.service import Metrics

__all__ = ["InstanceMetrics", "LiveMetrics", "SinkMetrics"]


class SinkMetrics(Metrics):
    """The `events` → `audit_log` sink's metrics (`laneway_audit_*`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.loop = ProjectionMetrics("laneway_audit", r)
        """Batches, dead letters, lag and partitions of the sink's loop."""
        self.availability_lag = Histogram(
            "laneway_audit_availability_lag_seconds",
            "Time from a record's event timestamp to the commit that made it queryable",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                     60.0, 300.0, 3600.0),
            registry=r)
        self.rows_written = Counter("laneway_audit_rows_written",
                                    "Rows appended to audit_log", registry=r)
        self.duplicates_skipped = Counter(
            "laneway_audit_duplicates_skipped",
            "Records skipped because their record id was already in the log", registry=r)


class InstanceMetrics(Metrics):
    """The `state` → `instances` projection's metrics (`laneway_projection_*`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        # the lag gauge keeps the name it had before the kit: laneway_projection_lag
        self.loop = ProjectionMetrics("laneway_projection", r, lag="lag")
        """Batches, dead letters, lag and partitions of the projection's loop."""
        self.projected = Counter(
            "laneway_projection_snapshots",
            "State snapshots read by the instance projection, by outcome: applied, stale "
            "(an older offset than the row's), tombstone, skipped (partition state or "
            "undecodable).", ["outcome"], registry=r)
        self.projection_errors = Counter(
            "laneway_projection_errors",
            "Times the projection's loop failed and was started again from the committed "
            "offsets.", registry=r)


class LiveMetrics(Metrics):
    """The live feed's metrics (`laneway_live_*`): the feeder's and the streams'."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.published = Counter("laneway_live_published",
                                 "Events published to Redis for open instance pages",
                                 registry=r)
        self.skipped = Counter(
            "laneway_live_skipped",
            "Events of watched instances not published, by reason: undecodable, too_large",
            ["reason"], registry=r)
        self.lag = Histogram(
            "laneway_live_publish_lag_seconds",
            "Time from an event's Kafka timestamp to its publication in Redis",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0),
            registry=r)
        self.streams = Gauge("laneway_live_streams", "Live streams open in this process",
                             registry=r)
        self.refused = Counter(
            "laneway_live_streams_refused",
            "Live streams refused, by reason: full (LANEWAY_LIVE_MAX_STREAMS), redis",
            ["reason"], registry=r)
