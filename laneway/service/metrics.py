"""One way to define a service's Prometheus metrics.

A service writes one class deriving from `Metrics` whose constructor creates its counters,
gauges and histograms on `self.registry`. The process makes it once, at start, through
`default()` (on the default registry that /metrics serves); a test that wants to read values
without meeting other tests' counts makes its own on a fresh `CollectorRegistry`. Nothing is
created at import time, and a second `default()` returns the same object (prometheus_client
refuses two metrics of one name on a registry).
"""

from __future__ import annotations

import threading
from typing import Any, Self

from prometheus_client import REGISTRY, CollectorRegistry

__all__ = ["Metrics"]

_made: dict[type[Any], Any] = {}
_lock = threading.Lock()


class Metrics:
    """Base of a service's metrics: holds the registry they are created on."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else REGISTRY
        """Where the metrics are registered (the process's default registry unless given)."""

    @classmethod
    def default(cls) -> Self:
        """This class's metrics on the process's default registry, made on first use."""
        with _lock:
            made = _made.get(cls)
            if made is None:
                made = _made[cls] = cls()
        assert isinstance(made, cls)
        return made
