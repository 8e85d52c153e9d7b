"""The worklist service's HTTP app: `create_app(...)` builds it (never at import time).

Served by `__main__` on the service's own port beside the projection and the SLA loop; behind
the public URL the edge sends it `/api/tasks` (edge/routes.toml).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY, CollectorRegistry

from laneway.auth import TokenVerifier
from laneway.codec import EncodeError
from laneway.health import HealthChecks
from laneway.publisher import PublishError
from laneway.service.http import health_router
from laneway.service.shared_metrics import HttpTiming, ServiceMetrics
from laneway.web import docs, guard, problems
from services.worklist import routes
from services.worklist.deps import WorklistDeps

_log = logging.getLogger(__name__)

DESCRIPTION = """\
Laneway's worklist: the user tasks the engine created, for the people who may work on them;
claim, give back and complete them (completions are checked against the task's form). See
docs/worklist.md.
"""


def create_app(verifier: TokenVerifier, checks: HealthChecks,
               registry: CollectorRegistry = REGISTRY, deps: WorklistDeps | None = None
               ) -> FastAPI:
    """The app; `deps` may be set later on `app.state.deps` (routes answer 503 until then).
    /health runs `checks`; /metrics serves `registry`."""
    app = FastAPI(title="Laneway worklist", version="0.1.0", description=DESCRIPTION,
                  docs_url=None, openapi_url="/openapi/worklist.json",
                  redoc_url=None)
    docs.install(app, "/docs/worklist")  # its page without a CDN
    problems.install(app)
    guard.install(app)
    app.state.verifier = verifier
    app.state.deps = deps
    app.include_router(routes.router)
    app.include_router(health_router(checks, registry))
    app.add_middleware(HttpTiming, metrics=ServiceMetrics.of("worklist", registry))
    app.add_exception_handler(PublishError, _not_published)
    app.add_exception_handler(EncodeError, _not_encodable)
    return app


async def _not_encodable(request: Request, exc: Exception) -> JSONResponse:
    # variables the form let through that no record can carry (an integer past 2^63)
    return problems.problem(422, f"Expected values a record can carry, but {exc}")


async def _not_published(request: Request, exc: Exception) -> JSONResponse:
    # a task command Kafka did not take: the caller may send it again (nothing was done); the
    # error names the topic, which is logged, not answered
    _log.error("%s %s: %s", request.method, request.url.path, exc)
    return problems.problem(503, "Expected Kafka to take the task's command, but it did not. "
                                 "Retry the request.", headers={"Retry-After": "5"})
