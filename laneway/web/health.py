"""`GET /health` and `GET /metrics` as FastAPI routes, for the services whose HTTP app runs
beside a Kafka loop (the worklist, the audit service).

The body is the one `laneway.health.HealthServer` answers: 200 `{"service", "status": "ok"}`
while every check passes, 503 with `"failing": {check: problem}` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from laneway.health import Check

__all__ = ["HealthChecks", "health_router"]


class HealthChecks:
    """The named checks `/health` runs on every request; a service adds them as its parts
    start (a `startup` check that fails until then keeps it unhealthy meanwhile)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        """Register (or replace) a check."""
        self._checks[name] = check

    def remove(self, name: str) -> None:
        """Drop a check (the `startup` one once the service runs)."""
        self._checks.pop(name, None)

    def report(self) -> tuple[bool, dict[str, object]]:
        """Run the checks: (healthy, body)."""
        failing: dict[str, str] = {}
        for name, check in list(self._checks.items()):
            try:
                problem = check()
            except Exception as exc:  # a check that breaks is a failing check, not a 500
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                failing[name] = problem
        body: dict[str, object] = {"service": self.service,
                                   "status": "ok" if not failing else "unhealthy"}
        if failing:
            body["failing"] = failing
        return not failing, body


def health_router(checks: HealthChecks, registries: Sequence[CollectorRegistry]) -> APIRouter:
    """/health over `checks`, /metrics over every registry in `registries`."""
    router = APIRouter(tags=["health"])

    @router.get("/health", summary="Whether the service can do its work",
                responses={503: {"description": "A check fails; `failing` says which."}})
    def health() -> JSONResponse:
        healthy, body = checks.report()
        return JSONResponse(body, status_code=200 if healthy else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(b"".join(generate_latest(r) for r in registries),
                        media_type=CONTENT_TYPE_LATEST)

    return router
