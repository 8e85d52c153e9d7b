"""The audit service's Prometheus metrics, all `laneway_audit_*`: the sink's, the instance
projection's (`laneway_audit_instances_*`), the live feed's (`laneway_audit_live_*`) and the
API's (chain verifications), each a `laneway.service.Metrics` class (the first two holding
their loop's `ProjectionMetrics` beside their own); each also holds the service's shared
HTTP / consumer lag / watchdog metrics (`laneway.service.shared_metrics`).

The process makes each once (`default()`, on the registry /metrics serves); a test makes its
own on a fresh `CollectorRegistry` to read values without meeting other tests' counts.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from psycopg_pool import ConnectionPool

from laneway.consuming import ProjectionMetrics
from laneway.service import Metrics
from laneway.service.scraped import CountedOnScrape
from laneway.service.shared_metrics import ServiceMetrics

__all__ = ["INCIDENT_COUNT_LIMIT", "ApiMetrics", "InstanceMetrics", "LiveMetrics",
           "SinkMetrics", "count_incidents", "observe_many"]

INCIDENT_COUNT_LIMIT = 1_000_000
"""The incident count stops here (a bounded query)."""

_INCIDENTS_OPEN = "laneway_audit_incidents_open"


def observe_many(histogram: Histogram, amount: float, count: int) -> None:
    """`count` observations of `amount` at once: the buckets and count that `count` calls of
    `observe(amount)` leave, and their sum (as one product, so it may differ in the last
    float bits). The sink observes each row's availability lag, and the rows of one command
    share their event timestamp, hence their lag: one bucket search per distinct timestamp
    instead of one `observe` (~2-5 µs) per row. Relies on prometheus_client's `Histogram`
    internals (`_upper_bounds`, `_buckets`, `_sum`; tests/unit/test_audit_sink_cpu.py fails
    if they change); without them, or with labels, it calls `observe` `count` times."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if (count == 1 or bounds is None or buckets is None or total is None
            or len(bounds) != len(buckets) or bool(getattr(histogram, "_labelnames", ()))):
        for _ in range(count):
            histogram.observe(amount)
        return
    total.inc(amount * count)
    for bucket, bound in zip(buckets, bounds, strict=True):
        if amount <= bound:
            bucket.inc(count)
            break


class SinkMetrics(Metrics):
    """The `events` → `audit_log` sink's metrics (`laneway_audit_*`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.service = ServiceMetrics.of("audit", r)
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
    """The `state` → `instances` projection's metrics (`laneway_audit_instances_*`), and
    the instances with an open incident, counted on scrape (`watch_incidents`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.service = ServiceMetrics.of("audit", r)
        self.loop = ProjectionMetrics("laneway_audit_instances", r)
        """Batches, dead letters, lag and partitions of the projection's loop."""
        self.projected = Counter(
            "laneway_audit_instances_snapshots",
            "State snapshots read by the instance projection, by outcome: applied, stale "
            "(an older offset than the row's), tombstone, skipped (partition state or "
            "undecodable).", ["outcome"], registry=r)
        self.projection_errors = Counter(
            "laneway_audit_instances_restarts",
            "Times the projection's loop failed and was started again from the committed "
            "offsets.", registry=r)
        self.incidents = CountedOnScrape({
            _INCIDENTS_OPEN: "Instances with an open incident (status INCIDENT in the "
                             "instances projection; counted on scrape, cached 15 s)"}, r)

    def watch_incidents(self, pool: ConnectionPool[Any]) -> None:
        """Count the instances with an incident in `pool`'s database when scraped."""
        self.incidents.watch(lambda: count_incidents(pool))


class LiveMetrics(Metrics):
    """The live feed's metrics (`laneway_audit_live_*`): the feeder's and the streams'."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.service = ServiceMetrics.of("audit", r)
        self.published = Counter("laneway_audit_live_published",
                                 "Events published to Redis for open instance pages",
                                 registry=r)
        self.skipped = Counter(
            "laneway_audit_live_skipped",
            "Events of watched instances not published, by reason: undecodable, too_large",
            ["reason"], registry=r)
        self.lag = Histogram(
            "laneway_audit_live_publish_lag_seconds",
            "Time from an event's Kafka timestamp to its publication in Redis",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0),
            registry=r)
        self.streams = Gauge("laneway_audit_live_streams", "Live streams open in this process",
                             registry=r)
        self.refused = Counter(
            "laneway_audit_live_streams_refused",
            "Live streams refused, by reason: full (LANEWAY_LIVE_MAX_STREAMS), redis",
            ["reason"], registry=r)


class ApiMetrics(Metrics):
    """The audit API's own: hash chain verifications (`GET .../verify`) by result."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.service = ServiceMetrics.of("audit", self.registry)
        self.verifications = Counter(
            "laneway_audit_chain_verifications",
            "Instance hash chains verified, by result: ok, or failed (a row or the signed "
            "head does not match: the log was changed or cut)", ["result"],
            registry=self.registry)


def count_incidents(pool: ConnectionPool[Any]) -> dict[str, float]:
    """The instances with an open incident, capped at `INCIDENT_COUNT_LIMIT`, in at most 2 s
    (the `instances_status` index answers it)."""
    with pool.connection(timeout=2) as conn, conn.transaction():
        conn.execute("SET LOCAL statement_timeout = '2s'")
        row = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM instances WHERE status = 'INCIDENT' "
            "LIMIT %(n)s) i", {"n": INCIDENT_COUNT_LIMIT}).fetchone()
    assert row is not None
    return {_INCIDENTS_OPEN: float(row[0])}
