"""The audit service's HTTP app: `create_app(...)` builds it (never at import time).

Served by `__main__` on the service's own port beside the sink and the instance projection;
behind the public URL the edge sends it `/api/instances/...` (edge/routes.toml).
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry

from laneway.auth import TokenVerifier
from laneway.health import HealthChecks
from laneway.service.http import health_router
from laneway.service.shared_metrics import HttpTiming, ServiceMetrics
from laneway.web import docs, guard, problems
from services.audit.deps import AuditDeps
from services.audit.routes import commands, history, instances, live, trace
from services.audit.traces import TraceQuery

DESCRIPTION = """\
Laneway's audit service: each instance's hash-chained history with the principals who acted,
its verification and replay, and the instance projection (the `state` topic as queryable
instances). See docs/api.md and docs/audit.md.
"""


def create_app(verifier: TokenVerifier, checks: HealthChecks,
               registry: CollectorRegistry = REGISTRY, deps: AuditDeps | None = None,
               traces: TraceQuery | None = None) -> FastAPI:
    """The app; `deps` may be set later on `app.state.deps` (routes answer 503 until then).
    /health runs `checks`; /metrics serves `registry`; `traces` is the Jaeger query API the
    trace route reads (None: it answers 503)."""
    app = FastAPI(title="Laneway audit", version="0.1.0", description=DESCRIPTION,
                  docs_url=None, openapi_url="/openapi/audit.json", redoc_url=None)
    docs.install(app, "/docs/audit")  # its page without a CDN
    problems.install(app)
    guard.install(app)
    app.state.verifier = verifier
    app.state.deps = deps
    app.state.traces = traces
    app.include_router(instances.router)
    app.include_router(live.router)
    app.include_router(history.router)
    app.include_router(commands.router)
    app.include_router(trace.router)
    app.include_router(health_router(checks, registry))
    app.add_middleware(HttpTiming, metrics=ServiceMetrics.of("audit", registry))
    return app
