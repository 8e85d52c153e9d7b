"""The worklist service's HTTP app: `create_app(...)` builds it (never at import time).

Served by `__main__` on the service's own port beside the projection and the SLA loop; behind
the public URL the edge sends it `/api/tasks` (edge/routes.toml).
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry

from laneway.auth import TokenVerifier
from laneway.health import HealthChecks
from laneway.service.http import health_router
from laneway.web import guard, problems
from services.worklist import routes
from services.worklist.deps import WorklistDeps

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
                  docs_url="/docs/worklist", openapi_url="/openapi/worklist.json",
                  redoc_url=None)
    problems.install(app)
    guard.install(app)
    app.state.verifier = verifier
    app.state.deps = deps
    app.include_router(routes.router)
    app.include_router(health_router(checks, registry))
    return app
