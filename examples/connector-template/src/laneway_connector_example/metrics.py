"""The connector's own Prometheus metrics, next to the runtime's `laneway_connectors_*` ones on
the connectors service's /metrics (the process's default registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from laneway.service import Metrics

PRIORITIES = ("low", "normal", "high", "urgent")


class TicketMetrics(Metrics):
    """`laneway_connectors_ticket_*`. The service makes it once with `TicketMetrics.default()`;
    a test makes its own on a fresh `CollectorRegistry` to read its counts alone."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        # a label takes only a bounded set of values (the priorities), never a variable's text
        self.created = Counter("laneway_connectors_ticket_created",
                               "Tickets the ticketing API created, by priority", ["priority"],
                               registry=self.registry)
        self.rejected = Counter("laneway_connectors_ticket_rejected",
                                "Tickets the ticketing API refused (422)", registry=self.registry)
