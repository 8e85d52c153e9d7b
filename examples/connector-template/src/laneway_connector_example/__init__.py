"""A Laneway connector that opens a ticket in a ticketing API: the connector SDK's template
(docs/connector-sdk.md in Laneway)."""

from laneway_connector_example.connector import TicketConnector
from laneway_connector_example.metrics import TicketMetrics

__all__ = ["TicketConnector", "TicketMetrics"]
