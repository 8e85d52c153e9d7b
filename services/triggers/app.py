"""The triggers service's HTTP app: `create_app(...)` builds it (never at import time).

Behind the public URL the edge sends it `/api/schedules` and `/api/hooks` (edge/routes.toml).
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry

from laneway.auth import TokenVerifier
from laneway.health import HealthChecks
from laneway.service.http import health_router
from laneway.service.shared_metrics import HttpTiming, ServiceMetrics
from laneway.web import docs, guard, problems
from services.triggers import respond, routes
from services.triggers.deps import TriggersDeps

DESCRIPTION = """\
Laneway's triggers: the schedules made from the triggers that running process versions declare
on their start events (timers, mailboxes, folders, feeds, webhooks, topics, AI listeners); pause,
resume, credentials, fire now; the webhook calls; and the answers to the `response`
connector's one-time links (`/respond/{token}`, `/api/respond/{token}`). See docs/triggers.md.
"""


def create_app(verifier: TokenVerifier, checks: HealthChecks,
               registry: CollectorRegistry = REGISTRY, deps: TriggersDeps | None = None
               ) -> FastAPI:
    """The app; `deps` may be set later on `app.state.deps` (routes answer 503 until then)."""
    app = FastAPI(title="Laneway triggers", version="0.1.0", description=DESCRIPTION,
                  docs_url=None, openapi_url="/openapi/triggers.json",
                  redoc_url=None)
    docs.install(app, "/docs/triggers")  # its page without a CDN
    problems.install(app)
    guard.install(app)
    app.state.verifier = verifier
    app.state.deps = deps
    app.include_router(routes.router)
    app.include_router(routes.hooks)
    app.include_router(respond.page)
    app.include_router(respond.api)
    app.include_router(health_router(checks, registry))
    app.add_middleware(HttpTiming, metrics=ServiceMetrics.of("triggers", registry))
    return app
