"""Gauges counted when Prometheus scrapes, from a bounded query, cached for a few seconds.

A count that lives in a database (user tasks open, instances with an incident) is not kept
in memory by any loop; `CountedOnScrape` asks its `read` function at most once per `ttl_s`
and serves the last answer in between, so scrapers (several Prometheus replicas, a human
with curl) do not each cost a query. Until `watch` gives it a `read`, and when `read` fails,
its gauges have no sample (absent, not a wrong 0).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["CountedOnScrape"]

_log = logging.getLogger(__name__)


class CountedOnScrape(Collector):
    """Unlabelled gauges `{name: help}` whose values `read()` returns as `{name: value}`."""

    def __init__(self, gauges: Mapping[str, str], registry: CollectorRegistry, *,
                 ttl_s: float = 15.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.gauges = dict(gauges)
        self.ttl_s = ttl_s
        self._clock = clock
        self._read: Callable[[], Mapping[str, float]] | None = None
        self._cached: tuple[float, Mapping[str, float]] | None = None
        self._lock = threading.Lock()
        registry.register(self)

    def watch(self, read: Callable[[], Mapping[str, float]]) -> None:
        """Count with `read` from now on (it runs on the scraping thread: keep it bounded,
        with a statement timeout)."""
        with self._lock:
            self._read = read
            self._cached = None

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [GaugeMetricFamily(name, help_) for name, help_ in self.gauges.items()]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        values = self._values()
        families = []
        for name, help_ in self.gauges.items():
            family = GaugeMetricFamily(name, help_)
            if name in values:
                family.add_metric([], values[name])
            families.append(family)
        return families

    def _values(self) -> Mapping[str, float]:
        # one scrape reads at a time; the others wait and get its answer
        with self._lock:
            read = self._read
            now = self._clock()
            if read is None:
                return {}
            if self._cached is not None and now - self._cached[0] < self.ttl_s:
                return self._cached[1]
            try:
                values = read()
            except Exception as exc:  # a scrape never fails for a count it cannot make
                _log.warning("counting %s failed: %s", ", ".join(self.gauges), exc)
                values = {}
            self._cached = (now, values)
            return values
