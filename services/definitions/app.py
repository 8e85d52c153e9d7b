"""The definitions service's HTTP app: `create_app(settings, deps)` builds it (never at import
time). Behind the public URL the edge sends it what it owns (edge/routes.toml)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY

from laneway.auth import TokenVerifier
from laneway.codec import EncodeError
from laneway.health import HealthChecks
from laneway.problems import DiagramError
from laneway.publisher import PublishError
from laneway.service.http import health_router
from laneway.service.shared_metrics import HttpTiming, ServiceMetrics
from laneway.web import docs, guard, problems
from laneway.web.problems import problem
from services.definitions.deps import ServiceDeps
from services.definitions.lifecycle import TransitionRefused
from services.definitions.models import DiagramErrors, ErrorItem
from services.definitions.routes import (
    conditions,
    console,
    definitions,
    dev,
    incidents,
    messages,
    operations,
    starts,
)
from services.definitions.routes import forms as form_routes
from services.definitions.routes import lifecycle as lifecycle_routes
from services.definitions.settings import DefinitionsSettings

_log = logging.getLogger(__name__)

DESCRIPTION = """\
Laneway's definitions service: deploy BPMN definitions and take them through their lifecycle,
form schemas and public start forms, start instances, publish messages, resolve incidents;
how the browser console signs in (and, in development, its sign-in).
Every write is a record on Kafka; the engine acts on it asynchronously. See docs/api.md.
"""


def create_app(settings: DefinitionsSettings, deps: ServiceDeps | None,
               verifier: TokenVerifier | None = None, checks: HealthChecks | None = None
               ) -> FastAPI:
    """The API over the given parts; the caller owns their lifecycle (open and close).
    `verifier` checks bearer tokens (built from `settings.auth` when not given); /health runs
    `checks` (the service's, from `run_service`) with the database and Kafka checks added.
    `deps` is None only where the routes are listed, never called."""
    app = FastAPI(title="Laneway definitions", version="0.1.0", description=DESCRIPTION,
                  docs_url=None, openapi_url="/openapi/definitions.json",
                  redoc_url=None)
    app.state.deps = deps
    app.state.console = settings.console
    app.state.verifier = verifier if verifier is not None else TokenVerifier(settings.auth)
    for router in (definitions.router, starts.router, incidents.router, messages.router,
                   operations.instances, operations.migrations, conditions.router):
        app.include_router(router)
    checks = checks if checks is not None else HealthChecks("definitions")
    if deps is not None:
        checks.add_check("database", _database_check(deps))
        checks.add_check("kafka", deps.publisher.reachable)
    registry = deps.metrics.registry if deps is not None else REGISTRY
    app.include_router(health_router(checks, registry, with_service=False))
    app.add_middleware(HttpTiming,
                       metrics=ServiceMetrics.of("definitions", registry, consumers=False))
    app.include_router(form_routes.router)
    app.include_router(lifecycle_routes.router)
    app.include_router(console.router)
    app.include_router(dev.router)
    docs.install(app, "/docs/definitions")  # its page without a CDN
    problems.install(app)
    guard.install(app)
    app.add_exception_handler(DiagramError, _diagram_refused)
    app.add_exception_handler(PublishError, _not_published)
    app.add_exception_handler(EncodeError, _not_encodable)
    app.add_exception_handler(TransitionRefused, _transition_refused)
    return app


def _database_check(deps: ServiceDeps) -> Callable[[], str | None]:
    def database() -> str | None:
        try:
            with deps.pool.connection(timeout=2.0) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:  # any failure is the answer, not a 500
            return f"PostgreSQL did not answer: {type(exc).__name__}: {exc}"
        return None
    return database


async def _diagram_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DiagramError)
    deps: ServiceDeps = request.app.state.deps
    deps.metrics.deploys.labels("refused").inc()
    body = DiagramErrors(errors=[
        ErrorItem(file=p.file, line=p.line, element_id=p.element_id, message=p.message)
        for p in exc.problems])
    return problem(status.HTTP_422_UNPROCESSABLE_CONTENT,
                   f"Expected a diagram the engine can run, but {len(exc.problems)} "
                   f"problem(s) were found; first: {exc.problems[0] if exc.problems else '-'}",
                   **body.model_dump(by_alias=True))


async def _not_published(request: Request, exc: Exception) -> JSONResponse:
    deps: ServiceDeps = request.app.state.deps
    deps.metrics.publish_failures.inc()
    # the error names the topic and the key: logged for the operators, not the caller's
    _log.error("%s %s: %s", request.method, request.url.path, exc)
    return problem(status.HTTP_503_SERVICE_UNAVAILABLE,
                   "Expected Kafka to acknowledge the record, but it did not. Retry the "
                   "request: what was stored is kept and is published again.",
                   headers={"Retry-After": "5"})


async def _not_encodable(request: Request, exc: Exception) -> JSONResponse:
    return problem(status.HTTP_422_UNPROCESSABLE_CONTENT,
                   f"Expected values a record can carry, but {exc}")


async def _transition_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TransitionRefused)
    return problem(exc.status, exc.message)
