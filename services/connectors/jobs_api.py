"""The job-activation API: outside workers take jobs of `jobs.<type>` over HTTP (docs/workers.md).

    POST /api/jobs/activate       {type, maxJobs, timeoutMs, requestTimeoutMs, worker}
    POST /api/jobs/{key}/complete {variables}
    POST /api/jobs/{key}/fail     {retries, errorMessage, retryBackOffMs}
    POST /api/jobs/{key}/error    {errorCode, errorMessage, variables}

Every route needs a bearer token with the role `worker` (or `admin`); its principal is the
principal of the command the engine receives, so the audit log names the worker. Only the
principal that activated a job's lease answers it (409 for another). The routes
are `async`: the gateway lives in the server's event loop (started by the app's lifespan).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY, CollectorRegistry
from pydantic import BaseModel, ConfigDict, Field

from laneway.auth import TokenVerifier
from laneway.auth.http import require_role
from laneway.codec import EncodeError
from laneway.health import HealthChecks
from laneway.limits import variables_too_large
from laneway.records import Command, Principal
from laneway.service.http import health_router
from laneway.service.shared_metrics import HttpTiming, ServiceMetrics
from laneway.web import docs, guard, problems
from laneway.web.bounds import keyed_id
from laneway.web.problems import problem
from laneway.worker import MAX_ERROR_MESSAGE
from services.connectors.gateway import Gateway, JobAnswered, NotLessee, UnknownJob
from services.connectors.settings import (
    MAX_ACTIVATE,
    MAX_BACKOFF_MS,
    MAX_LEASE_MS,
    MAX_REQUEST_TIMEOUT_MS,
)

_log = logging.getLogger(__name__)

WORKER_ROLE = "worker"
DESCRIPTION = """\
Laneway's job-activation API: a worker in any language takes the jobs of a service task's
type (`laneway:type`) with a long poll, and answers each with a completion, a failure or a
BPMN error. Needs a bearer token with the role `worker`; the token's subject is the principal
the audit log shows. See docs/workers.md.
"""
_MAX_TEXT = MAX_ERROR_MESSAGE  # the Python client cuts its messages to this
Worker = Annotated[Principal, Depends(require_role(WORKER_ROLE))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Activate(_Body):
    """Which jobs to lease, how many and for how long."""

    type: str = Field(min_length=1, max_length=255, description="The job type.")
    maxJobs: int = Field(1, ge=1, le=MAX_ACTIVATE, description="At most this many jobs.")
    timeoutMs: int = Field(300_000, ge=1_000, le=MAX_LEASE_MS,
                           description="The lease: a job not answered by then is offered "
                                       "again.")
    requestTimeoutMs: int = Field(10_000, ge=0, le=MAX_REQUEST_TIMEOUT_MS,
                                  description="The long poll: wait this long for a first job.")
    worker: str = Field("", max_length=255, description="The worker's name, for the logs.")


class Complete(_Body):
    """The element's result."""

    variables: dict[str, Any] = Field(default_factory=dict)


class Fail(_Body):
    """A failure: `retries` left (0 raises an incident), and when to offer the job again."""

    retries: int = Field(ge=0, le=1_000_000)
    errorMessage: str = Field("", max_length=_MAX_TEXT)
    retryBackOffMs: int = Field(0, ge=0, le=MAX_BACKOFF_MS)


class ThrowError(_Body):
    """A BPMN error, caught by a boundary event or event subprocess with the code."""

    errorCode: str = Field(min_length=1, max_length=255)
    errorMessage: str = Field("", max_length=_MAX_TEXT)
    variables: dict[str, Any] = Field(default_factory=dict)


router = APIRouter(prefix="/api/jobs", tags=["jobs"])


def _gateway(request: Request) -> Gateway | None:
    gateway = getattr(request.app.state, "gateway", None)
    return gateway if isinstance(gateway, Gateway) else None


def _not_ready() -> JSONResponse:
    return problem(503, "Expected the job gateway to be running, but it is starting or "
                        "stopping. Retry the request.", headers={"Retry-After": "1"})


@router.post("/activate", summary="Lease jobs of a type (long poll)",
             responses={200: {"description": "`{jobs: [...]}`, empty after the long poll"},
                        404: {"description": "The type is not served by this gateway"}})
async def activate(body: Activate, request: Request, principal: Worker) -> Any:
    gateway = _gateway(request)
    if gateway is None:
        return _not_ready()
    queue = gateway.queues.get(body.type)
    if queue is None:
        return problem(404, f"Expected a job type served to outside workers "
                            f"({', '.join(sorted(gateway.queues))}), but got {body.type!r}")
    taken = await queue.activate(body.maxJobs, body.timeoutMs / 1000, body.worker or principal.id,
                                 principal, body.requestTimeoutMs / 1000)
    return {"jobs": [held.view() for held in taken]}


async def _answer(request: Request, key: str, intent: Command, value: dict[str, Any],
                  principal: Principal, retry_after_s: float = 0.0) -> Any:
    gateway = _gateway(request)
    if gateway is None:
        return _not_ready()
    if keyed_id(key) is None:
        return problem(404, f"Expected a job key '<instanceId>:<key>', but got {key[:100]!r}")
    too_large = variables_too_large(value, gateway.settings.common.max_variables_bytes)
    if too_large is not None:
        return problem(413, f"Expected variables that fit in a command, but {too_large}")
    shown = key[:100]  # from the path: a problem document does not echo it whole
    try:
        await gateway.answer(key, intent, value, principal, retry_after_s=retry_after_s)
    except NotLessee:
        # 409, not 403: the principal may answer jobs (it has the role) and may lease this one
        # later; what refuses it is the job's state, a lease held by another (the worker
        # client drops a job on 409 as on 404)
        return problem(409, f"Expected a job leased to you, but job {shown} is leased to "
                            "another worker (or your lease ran out and it was offered again)")
    except JobAnswered as exc:
        return problem(409, f"Expected a job that is not answered yet, but job {shown} was "
                            f"answered ({exc.args[0]})")
    except UnknownJob:
        return problem(404, f"Expected a job leased to a worker, but job {shown} is not: never "
                            "activated, or its lease ran out")
    except EncodeError as exc:
        return problem(422, f"Expected values a record can carry, but {exc}")
    except TimeoutError:
        return problem(503, f"Expected Kafka to take the answer to job {shown} in time, but it "
                            "has not yet; it is still being sent, so do not answer again (a "
                            "second answer is 409)", headers={"Retry-After": "5"})
    return {"key": key, "answered": intent.value}


@router.post("/{job_key}/complete", summary="Complete a leased job with variables")
async def complete(job_key: str, body: Complete, request: Request, principal: Worker) -> Any:
    return await _answer(request, job_key, Command.COMPLETE_JOB, {"variables": body.variables},
                         principal)


@router.post("/{job_key}/fail", summary="Fail a leased job (retries left, or an incident at 0)")
async def fail(job_key: str, body: Fail, request: Request, principal: Worker) -> Any:
    return await _answer(request, job_key, Command.FAIL_JOB,
                         {"retries": body.retries, "errorMessage": body.errorMessage},
                         principal, retry_after_s=body.retryBackOffMs / 1000)


@router.post("/{job_key}/error", summary="Throw a BPMN error from a leased job")
async def throw_error(job_key: str, body: ThrowError, request: Request, principal: Worker) -> Any:
    return await _answer(request, job_key, Command.THROW_ERROR,
                         {"errorCode": body.errorCode, "errorMessage": body.errorMessage,
                          "variables": body.variables}, principal)


def create_app(verifier: TokenVerifier, checks: HealthChecks,
               gateway_factory: Callable[[], Gateway] | None = None,
               registry: CollectorRegistry = REGISTRY) -> FastAPI:
    """The app. `gateway_factory` builds the gateway in the server's event loop at start
    (routes answer 503 until then, and without one); /health runs `checks`."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway = gateway_factory() if gateway_factory is not None else None
        if gateway is not None:
            gateway.start()
            checks.add_check("consumers", gateway.check_consumers)
            checks.add_check("producer", gateway.check_producer)
            checks.add_liveness("consumers", gateway.check_consumers_live)
            app.state.gateway = gateway
        try:
            yield
        finally:
            app.state.gateway = None
            if gateway is not None:
                # the checks outlive the app: holding the gateway, they would keep its
                # Kafka clients alive (and retrying) after it stopped
                checks.remove_check("consumers")
                checks.remove_check("producer")
                checks.remove_liveness("consumers")
                await gateway.stop()

    app = FastAPI(title="Laneway jobs", version="0.1.0", description=DESCRIPTION,
                  docs_url=None, openapi_url="/openapi/connectors.json",
                  redoc_url=None,
                  lifespan=lifespan)
    docs.install(app, "/docs/connectors")  # its page without a CDN
    problems.install(app)
    guard.install(app)
    app.state.verifier = verifier
    app.state.gateway = None
    app.include_router(router)
    app.include_router(health_router(checks, registry))
    app.add_middleware(HttpTiming, metrics=ServiceMetrics.of("connectors", registry))
    return app
