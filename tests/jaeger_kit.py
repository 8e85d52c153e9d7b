"""Reading traces back from the stack's Jaeger (scripts/stack/jaeger.py) for the tests.

Jaeger's query API (`GET /api/traces/{trace id}`) answers the JSON its UI reads:
`{"data": [{"traceID", "spans": [{"traceID", "spanID", "operationName", "references":
[{"refType": "CHILD_OF", "traceID", "spanID"}], "tags": [{"key", "type", "value"}],
"processID"}], "processes": {"p1": {"serviceName", "tags"}}}]}`, and 404 while it has no span
of that trace. Spans arrive in batches, so a reader polls with a deadline until what it waits
for is there. The `jaeger` fixture (tests/integration/conftest.py) is the stack with its Jaeger
running.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from scripts.stack.testing import wait_until

__all__ = ["read_trace", "service_of", "tags", "wait_for_trace"]


def read_trace(traces_url: str, trace_id: str) -> dict[str, Any] | None:
    """The trace as Jaeger's query API has it now, or None while it has none of its spans."""
    response = httpx.get(f"{traces_url}/api/traces/{trace_id}", timeout=10)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    data = response.json().get("data") or []
    return dict(data[0]) if data else None


def wait_for_trace(traces_url: str, trace_id: str,
                   until: Callable[[dict[str, Any]], bool] = lambda _trace: True,
                   timeout: float = 60.0) -> dict[str, Any]:
    """The trace once Jaeger has it and `until(trace)` holds (polled, with a deadline)."""
    def ready() -> dict[str, Any] | None:
        trace = read_trace(traces_url, trace_id)
        return trace if trace is not None and until(trace) else None
    found: dict[str, Any] = wait_until(ready, timeout, 0.25, f"trace {trace_id} in Jaeger")
    return found


def service_of(trace: dict[str, Any], span: dict[str, Any]) -> str:
    """The service name of the process that reported `span`."""
    return str(trace["processes"][span["processID"]]["serviceName"])


def tags(span: dict[str, Any]) -> dict[str, Any]:
    """A span's attributes by key."""
    return {t["key"]: t["value"] for t in span.get("tags", [])}
