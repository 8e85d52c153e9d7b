"""The metrics every service has, named after the service: HTTP request durations, consumer
lag per topic and group, and the loop watchdog's signal.

`ServiceMetrics.of("engine", registry)` makes them once per registry (a service's `Metrics`
class calls it, so its registry holds them; an app or a consumer built later asks again and
gets the same object). Names follow the scheme of docs/metrics.md:
`laneway_<service>_<what>_<unit>`.

- `laneway_<service>_http_request_duration_seconds{method, route, status}`: time to the
  response's start (a live stream counts until its headers, not while it streams); `route` is
  the route's template, never the raw path; `status` a class (`2xx`).
- `laneway_<service>_consumer_lag_records{topic, group}`: records on the member's assigned
  partitions not consumed yet (the end less the position), from librdkafka's statistics
  (`statistics.interval.ms`), so measuring it costs the loop nothing: `lag_config(group)` goes
  into the consumer's config.
- `laneway_<service>_loop_stalled{loop}` (1 while `laneway.service.progress.Progress.check`
  fails) and `laneway_<service>_loop_last_poll_timestamp_seconds{loop}`, read at scrape time
  from every live `Progress` of the process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from laneway.service.progress import live_progress

__all__ = ["LAG_INTERVAL_MS", "BoundedLabel", "HttpTiming", "ServiceMetrics",
           "lag_from_statistics"]

_log = logging.getLogger(__name__)

LAG_INTERVAL_MS = 15_000
"""How often librdkafka reports its statistics (the lag gauge's resolution)."""

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_made: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, ServiceMetrics]] = (
    weakref.WeakKeyDictionary())
_lock = threading.Lock()

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class BoundedLabel:
    """A label's values, capped: the first `limit` distinct values pass, any later one is
    `other`, so a value from a record or a definition (a job type) cannot grow the series
    without end."""

    def __init__(self, limit: int = 200, *, max_length: int = 100) -> None:
        self.limit = limit
        self.max_length = max_length
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        value = value[:self.max_length]
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return "other"


class ServiceMetrics:
    """The shared metrics of one service on one registry; see the module's text."""

    def __init__(self, service: str, registry: CollectorRegistry, *, http: bool = True,
                 consumers: bool = True) -> None:
        """`http`: the service has an HTTP API to time; `consumers`: it has consumers and
        consuming loops (a service without one does not show gauges that never get a
        sample)."""
        self.service = service
        prefix = f"laneway_{service}"
        self.http_seconds = Histogram(
            f"{prefix}_http_request_duration_seconds",
            "HTTP requests, from arrival to the response's start, by method, route template "
            "and status class", ["method", "route", "status"], buckets=_HTTP_BUCKETS,
            registry=registry) if http else None
        self.consumer_lag = Gauge(
            f"{prefix}_consumer_lag_records",
            "Records on this member's assigned partitions not consumed yet, by topic and "
            "consumer group (librdkafka's statistics)", ["topic", "group"],
            registry=registry) if consumers else None
        if consumers:
            registry.register(_ProgressCollector(prefix))

    @classmethod
    def of(cls, service: str, registry: CollectorRegistry, *, http: bool = True,
           consumers: bool = True) -> ServiceMetrics:
        """The service's shared metrics on `registry`, made on first use (later calls get
        that one, whatever their flags)."""
        with _lock:
            per = _made.setdefault(registry, {})
            made = per.get(service)
            if made is None:
                made = per[service] = cls(service, registry, http=http, consumers=consumers)
            return made

    # -- consumer lag -----------------------------------------------------------------------

    def lag_config(self, group: str, interval_ms: int = LAG_INTERVAL_MS) -> dict[str, Any]:
        """Consumer settings that report the lag of `group`'s member every `interval_ms`
        (librdkafka calls `stats_cb` from the consumer's own poll, so nothing runs beside the
        loop)."""
        gauge = self.consumer_lag
        if gauge is None:
            raise ValueError(f"Expected the {self.service} service to have consumers, but its "
                             "metrics were made with consumers=False")
        known: set[str] = set()

        def on_statistics(text: str) -> None:
            try:
                lags = lag_from_statistics(text)
            except (ValueError, TypeError, AttributeError) as exc:
                _log.debug("consumer statistics not read: %s", exc)
                return
            # a topic whose partitions all left this member reads 0, not its last value
            for topic in known - lags.keys():
                gauge.labels(topic, group).set(0)
            for topic, lag in lags.items():
                known.add(topic)
                gauge.labels(topic, group).set(lag)

        return {"statistics.interval.ms": interval_ms, "stats_cb": on_statistics}


def lag_from_statistics(text: str) -> dict[str, int]:
    """Each topic's lag in a librdkafka statistics JSON: over the partitions assigned to this
    member (`desired`), the end (the last stable offset, as the consumers read committed;
    else the high watermark) less the position (the next offset to give the application, or
    the committed one when further). librdkafka's own `consumer_lag` is not used: it counts
    from committed or stored offsets, which the engine never has (its offsets are committed
    by its producer's transaction), so it would grow for ever there. A partition whose
    position or end is not known yet counts 0."""
    stats = json.loads(text)
    lags: dict[str, int] = {}
    for topic, body in (stats.get("topics") or {}).items():
        total = 0
        for pid, part in (body.get("partitions") or {}).items():
            if pid == "-1" or part.get("desired") is not True:
                continue
            end = _offset(part, "ls_offset")
            if end < 0:
                end = _offset(part, "hi_offset")
            position = max(_offset(part, "app_offset"), _offset(part, "committed_offset"))
            if end >= 0 and position >= 0:
                total += max(0, end - position)
        lags[str(topic)] = total
    return lags


def _offset(part: dict[str, Any], key: str) -> int:
    value = part.get(key)
    # bool is an int to Python; an offset never is one
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


class HttpTiming:
    """ASGI middleware observing `ServiceMetrics.http_seconds` for each HTTP request:
    `app.add_middleware(HttpTiming, metrics=ServiceMetrics.of("audit", registry))`."""

    def __init__(self, app: Asgi, *, metrics: ServiceMetrics) -> None:
        if metrics.http_seconds is None:
            raise ValueError(f"Expected the {metrics.service} service to have an HTTP API, but "
                             "its metrics were made with http=False")
        self.app = app
        self.histogram = metrics.http_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the response starts is answered 500

        async def timed_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                self._observe(scope, status, time.perf_counter() - started)
                started = 0.0
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            if started:
                self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        method = str(scope.get("method", ""))
        route = getattr(scope.get("route"), "path_format", None)
        self.histogram.labels(method if method in _METHODS else "OTHER",
                              str(route)[:200] if route else "unmatched",
                              f"{status // 100}xx").observe(seconds)


class _ProgressCollector(Collector):
    """The watchdog's signal, read from every live `Progress` at scrape time."""

    def __init__(self, prefix: str) -> None:
        self._stalled = f"{prefix}_loop_stalled"
        self._last = f"{prefix}_loop_last_poll_timestamp_seconds"

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families({})

    def collect(self) -> Iterable[GaugeMetricFamily]:
        loops: dict[str, tuple[int, float]] = {}
        for progress in live_progress():
            stalled = 1 if progress.check() is not None else 0
            last = progress.last_poll_wall()
            seen = loops.get(progress.name)
            # two loops of one name (a test's, or one rebuilt): the worse of them counts
            if seen is not None:
                stalled, last = max(stalled, seen[0]), min(last, seen[1])
            loops[progress.name] = (stalled, last)
        return self._families(loops)

    def _families(self, loops: dict[str, tuple[int, float]]) -> list[GaugeMetricFamily]:
        stalled = GaugeMetricFamily(
            self._stalled, "1 while the loop has not polled, or has kept failing at one "
            "record, for longer than LANEWAY_STALL_S (the watchdog's signal)", labels=["loop"])
        last = GaugeMetricFamily(
            self._last, "When the loop last polled Kafka (Unix time)", labels=["loop"])
        for name, (is_stalled, at) in sorted(loops.items())[:100]:
            stalled.add_metric([name[:100]], is_stalled)
            last.add_metric([name[:100]], at)
        return [stalled, last]
