"""The worklist service's Prometheus metrics (`laneway_worklist_*`), one
`laneway.service.Metrics` class as every service's: the projection loop's batches, dead
letters, lag and partitions."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from laneway.consuming import ProjectionMetrics
from laneway.service import Metrics

__all__ = ["WorklistMetrics"]


class WorklistMetrics(Metrics):
    """Made once per process (`default()`); a test makes its own on a fresh registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.loop = ProjectionMetrics("laneway_worklist", self.registry)
        """The `events` → `tasks` projection's loop."""
