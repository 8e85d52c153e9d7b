"""/health and /metrics for a service that has a FastAPI app of its own, with the same body
and status codes as `laneway.health.HealthServer` serves for the others."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from laneway.health import HealthChecks

__all__ = ["health_router"]


def health_router(checks: HealthChecks, registry: CollectorRegistry = REGISTRY, *,
                  with_service: bool = True) -> APIRouter:
    """`GET /health` (200, or 503 with the failing checks) and `GET /metrics`.

    `with_service=False` leaves the `service` member out of the body: the definitions
    service's /health answered `{"status", "checks"}` before the kit, and its clients compare
    that body whole."""
    router = APIRouter(tags=["health"])

    @router.get("/health", summary="Whether the service can do its work",
                responses={503: {"description": "A check fails; `failing` says which."}})
    def health() -> JSONResponse:
        healthy, body = checks.report()
        if not with_service:
            body.pop("service", None)
        return JSONResponse(body, status_code=200 if healthy else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
