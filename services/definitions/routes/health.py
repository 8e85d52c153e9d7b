"""Health and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.definitions.deps import Deps
from services.definitions.models import Health

router = APIRouter(tags=["health"])


@router.get("/health", summary="Whether the service can do its work",
            responses={503: {"model": Health, "description": "A check fails."}})
def health(deps: Deps, response: Response) -> Health:
    """PostgreSQL answers, a Kafka broker answers."""
    checks = {"database": _database(deps), "kafka": deps.publisher.reachable() or "ok"}
    healthy = all(v == "ok" for v in checks.values())
    if not healthy:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if healthy else "unhealthy", checks=checks)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "The Prometheus text format."}})
def metrics(deps: Deps) -> Response:
    """Counters of deploys, starts and messages."""
    return Response(generate_latest(deps.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _database(deps: Deps) -> str:
    try:
        with deps.pool.connection(timeout=2.0) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure is the answer, not a 500
        return f"PostgreSQL did not answer: {type(exc).__name__}: {exc}"
    return "ok"
