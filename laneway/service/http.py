"""The health probes and /metrics for a service that has a FastAPI app of its own, with the
same bodies and status codes as `laneway.health.HealthServer` serves for the others."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from laneway.health import HealthChecks, Probe

__all__ = ["health_router"]

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "A check fails; `failing` says which."}}


def _answer(probe: Probe) -> JSONResponse:
    status, body = probe
    problem = status != 200 and "type" in body
    return JSONResponse(body, status_code=status,
                        media_type="application/problem+json" if problem else None)


def health_router(checks: HealthChecks, registry: CollectorRegistry = REGISTRY, *,
                  with_service: bool = True) -> APIRouter:
    """`GET /health`, `/health/ready`, `/health/live`, `/health/started` (200, or 503 with
    what is wrong; laneway/health.py says what each asks) and `GET /metrics`.

    `with_service=False` leaves the `service` member out of the /health body: the definitions
    service's /health answered `{"status", "checks"}` before the kit, and its clients compare
    that body whole."""
    router = APIRouter(tags=["health"])

    def ready() -> JSONResponse:
        healthy, body = checks.report()
        if not with_service:
            body.pop("service", None)
        return JSONResponse(body, status_code=200 if healthy else 503)

    router.add_api_route("/health", ready, methods=["GET"], responses=_UNAVAILABLE,
                         summary="Whether the service can do its work (as /health/ready)")
    router.add_api_route("/health/ready", ready, methods=["GET"], responses=_UNAVAILABLE,
                         summary="Readiness: started, and its dependencies answer")

    @router.get("/health/live", summary="Liveness: the process's loops go round",
                responses={503: {"description": "A loop stalled; `failing` says which."}})
    def live() -> JSONResponse:
        return _answer(checks.live())

    @router.get("/health/started", summary="Whether the service's start is done",
                responses={503: {"description": "Still starting; `detail` says with what."}})
    def started() -> JSONResponse:
        return _answer(checks.started_probe())

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
