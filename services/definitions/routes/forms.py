"""Form schemas (the registry) and the public start form (docs/forms.md)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from opentelemetry.trace import SpanKind
from pydantic import Field
from redis import RedisError

from laneway.auth.http import Authenticated, MaybeAuthenticated
from laneway.forms import FormSchemaError, check_schema, validate
from laneway.records import ANONYMOUS_ID, Command, Principal, PrincipalKind, command
from laneway.telemetry import instance_span
from laneway.web import guard
from laneway.web.problems import problem
from services.definitions.deps import Deps, Modeler, ServiceDeps, VersionNumber, read_capped
from services.definitions.forms_store import StartTarget
from services.definitions.models import ApiModel, Detail, StartedInstance
from services.definitions.ratelimit import RateLimiter
from services.definitions.store import missing_version

router = APIRouter(tags=["forms"])

_log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
"""Largest form schema or submission accepted (1 MiB): the start form is public."""
ANONYMOUS = ANONYMOUS_ID
"""The principal id of a submission sent without a token (never a participant of the
instance it starts: docs/people.md)."""



class StoredSchema(ApiModel):
    """A form schema was stored."""

    form_id: str = Field(description="The form id, as diagrams name it.")
    new: bool = Field(description="True when the id is new (201), False when its schema was "
                                  "replaced (200).")


class FieldProblem(ApiModel):
    """One field of a submission that does not fit the form."""

    field: str = Field(description="`applicant.email` for a plain property path, a JSON pointer "
                                   "(`/items/0`) when it holds an array index or an unusual "
                                   "name, `\"\"` for the whole submission.")
    message: str = Field(description="What is wrong, and what was expected.")


class SubmissionErrors(ApiModel):
    """The submission was refused: every field that does not fit the form."""

    errors: list[FieldProblem]


class SchemaProblems(ApiModel):
    """The uploaded document is not a usable form schema."""

    detail: str
    problems: list[str] = Field(description="One `/pointer: message` line per problem.")


class StartForm(ApiModel):
    """The form a version's none start event names, and its JSON Schema."""

    process_id: str = Field(description="The BPMN process id.")
    version: int = Field(description="The version.")
    form_id: str = Field(description="The form id (`laneway:form` / `camunda:formKey`).")
    schema_: dict[str, Any] = Field(alias="schema", description="The form's JSON Schema, as "
                                                                "uploaded.")


class PublicStartForm(StartForm):
    """The public start form: the newest AUTHORIZED version's."""

    title: str = Field(description="The schema's `title`, else the process's name, else its "
                                   "id.")


def _json_body_doc(description: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": {"type": "object"}}}}}


async def json_body(request: Request) -> Any:
    """The request body as JSON, cut off after 1 MiB: 413 over it, 400 when it is not JSON,
    422 for what no store keeps. Read whatever the content type says, so held here to what
    the input guard holds a JSON body to (it only reads what says it is JSON)."""
    body = await read_capped(request, MAX_BODY_BYTES, _too_large)
    reason = guard.refusal(body)
    if reason is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"Expected a JSON body every store can keep, but {reason}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            f"Expected a JSON body, but it does not parse: {exc}") from None


JsonBody = Annotated[Any, Depends(json_body)]


def _too_large() -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                         f"Expected a JSON body of at most {MAX_BODY_BYTES // 1024} KiB, but "
                         "the request is larger")


# --- the registry ------------------------------------------------------------------------------


@router.put(
    "/api/form-schemas/{form_id:path}",
    status_code=status.HTTP_201_CREATED,
    response_model=StoredSchema,
    summary="Upload a form schema",
    description="Stores a JSON Schema (Draft 2020-12 unless `$schema` names another) under "
                "the id diagrams name with `laneway:form` or `camunda:formKey`. Role "
                "`modeler`. References must stay inside the document.",
    responses={200: {"model": StoredSchema, "description": "The id's schema was replaced."},
               413: {"model": Detail, "description": "The schema is over 1 MiB."},
               422: {"model": SchemaProblems, "description": "Not a usable JSON Schema."}},
    openapi_extra=_json_body_doc("The JSON Schema of the form."),
)
def put_form_schema(form_id: str, principal: Modeler, deps: Deps, schema: JsonBody,
                    response: Response) -> StoredSchema | JSONResponse:
    """Create or replace a form schema."""
    problems = check_schema(schema)
    if problems:
        return problem(status.HTTP_422_UNPROCESSABLE_CONTENT,
                       f"Expected a JSON Schema for form '{form_id}', but found "
                       f"{len(problems)} problem(s); nothing was stored", problems=problems)
    new = deps.forms.put(form_id, schema, principal)
    _log.info("form schema %r %s by %s", form_id, "created" if new else "replaced",
              principal.id)
    if not new:
        response.status_code = status.HTTP_200_OK
    return StoredSchema(form_id=form_id, new=new)


@router.get("/api/form-schemas", summary="List form ids")
def list_form_schemas(_principal: Authenticated, deps: Deps) -> list[str]:
    """Every stored form id, sorted."""
    return deps.forms.ids()


@router.get("/api/form-schemas/{form_id:path}", summary="A form schema",
            responses={200: {"content": {"application/json": {"schema": {"type": "object"}}},
                             "description": "The schema as uploaded."},
                       404: {"model": Detail, "description": "No schema has this id."}})
def get_form_schema(form_id: str, _principal: Authenticated, deps: Deps) -> JSONResponse:
    """The schema stored under the id, as uploaded (feed it to a form renderer)."""
    stored = deps.forms.get_stored(form_id)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _no_form(form_id))
    return JSONResponse(stored.schema, headers={
        "Last-Modified": stored.updated_at.strftime("%a, %d %b %Y %H:%M:%S GMT")})


# --- the public start form ---------------------------------------------------------------------


def rate_limited(process_id: str, request: Request, deps: Deps) -> None:
    """Count the submission against its client address and process; 429 past the limit,
    503 when Redis does not answer (fail closed: an unguarded public form invites floods)."""
    if deps.redis is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "Public forms are closed: the service has no Redis client for "
                            "their rate limit (set REDIS_URL)")
    limiter = RateLimiter(deps.redis, deps.form_rate_limit, "laneway:ratelimit:form")
    try:
        decision = limiter.hit(process_id, _client(request))
    except RedisError as exc:
        _log.error("public form %r refused: Redis does not answer for the rate limit: %s",
                   process_id, type(exc).__name__)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "Public forms are closed while Redis, which keeps their rate "
                            "limit, does not answer. Retry later.",
                            headers={"Retry-After": "5"}) from None
    if not decision.allowed:
        limit = deps.form_rate_limit
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"Expected at most {limit.count} submissions per "
                            f"{limit.window_s} s from one address to process '{process_id}', "
                            f"but this is more. Retry in {decision.retry_after_s} s.",
                            headers={"Retry-After": str(decision.retry_after_s)})


@router.post(
    "/api/forms/{process_id}",
    status_code=status.HTTP_201_CREATED,
    response_model=StartedInstance,
    summary="Submit a public start form",
    description="Public: no token needed (one that is sent must be valid, and starts the "
                "instance as its principal; otherwise the principal is `human`/`anonymous` "
                "with the client address). Validates the submission against the form named "
                "by the none start event of the newest AUTHORIZED version, then produces "
                "START_INSTANCE with the submission as variables. Rate limited per client "
                "address and process (`LANEWAY_FORM_RATE_LIMIT`).",
    dependencies=[Depends(rate_limited)],
    responses={
        400: {"model": Detail, "description": "The body is not JSON."},
        401: {"model": Detail, "description": "A token was sent and is not valid."},
        404: {"model": Detail, "description": "No AUTHORIZED version, or its start event "
                                              "names no form."},
        409: {"model": Detail, "description": "The form is not in the registry."},
        413: {"model": Detail, "description": "The submission is over 1 MiB."},
        422: {"model": SubmissionErrors, "description": "The submission does not fit the "
                                                        "form."},
        429: {"model": Detail, "description": "Too many submissions from this address; see "
                                              "Retry-After."},
        503: {"model": Detail, "description": "Redis (rate limit) or Kafka did not answer."},
    },
    # the route is public: no security requirement, whatever the API's default is
    openapi_extra={"security": [], **_json_body_doc("The submission: a JSON object that "
                                                    "fits the start event's form.")},
)
def submit_start_form(process_id: str, principal: MaybeAuthenticated, request: Request,
                      deps: Deps, submission: JsonBody) -> StartedInstance | JSONResponse:
    """Start an instance from a public form submission."""
    target = _newest_authorized(deps, process_id)
    form_id, schema = _start_form(deps, process_id, target, public=True)
    if not isinstance(submission, dict):
        return _refused([{"field": "", "message": "Expected a JSON object, but got "
                                                  f"{_JSON_TYPES.get(type(submission), 'null')}"}])
    deps.publisher.check_variables(submission)  # 413 before the form check
    refused = _misfits(form_id, schema, submission)
    if refused is not None:
        return refused
    instance_id = str(uuid.uuid4())
    # the first span of the instance's trace, as for POST /api/instances
    with instance_span("laneway.api.submit_start_form", instance_id, kind=SpanKind.SERVER,
                       attributes={"laneway.process_id": process_id,
                                   "laneway.process_version": target.version}):
        deps.publisher.send_command(command(
            Command.START_INSTANCE, instance_id,
            {"processId": process_id, "version": target.version, "variables": submission},
            record_id=str(uuid.uuid4()), timestamp=deps.clock_ms(),
            principal=principal or _anonymous(request)))
    deps.metrics.starts.inc()
    return StartedInstance(instance_id=instance_id)


@router.get(
    "/api/forms/{process_id}",
    response_model=PublicStartForm,
    summary="The public start form",
    description="Public: no token needed. The form that `POST /api/forms/{processId}` "
                "checks a submission against: the one the none start event of the newest "
                "AUTHORIZED version names, with its JSON Schema (render it, then POST the "
                "submission).",
    responses={
        404: {"model": Detail, "description": "No AUTHORIZED version, or its start event "
                                              "names no form."},
        409: {"model": Detail, "description": "The form is not in the registry."},
    },
    openapi_extra={"security": []},
)
def get_public_start_form(process_id: str, deps: Deps) -> PublicStartForm:
    """The public start form of a process."""
    target = _newest_authorized(deps, process_id)
    form_id, schema = _start_form(deps, process_id, target, public=True)
    title = schema.get("title")
    return PublicStartForm.model_validate({
        "processId": process_id, "version": target.version, "formId": form_id,
        "title": title if isinstance(title, str) and title.strip()
        else target.name or process_id, "schema": schema})


@router.get(
    "/api/definitions/{process_id}/versions/{version}/start-form",
    response_model=StartForm,
    summary="A version's start form",
    description="The form the none start event of a version names (`laneway:form` or "
                "`camunda:formKey`), with its JSON Schema: what starting the version asks "
                "for. Any valid token; the version may be in any state.",
    responses={
        404: {"model": Detail, "description": "No such version, or its none start event "
                                              "names no form."},
        409: {"model": Detail, "description": "The form is not in the registry."},
    },
)
def get_start_form(process_id: str, version: VersionNumber, _principal: Authenticated,
                   deps: Deps) -> StartForm:
    """The start form of one version."""
    target = deps.start_forms.of_version(process_id, version)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            missing_version(process_id, version,
                                            deps.definitions.versions(process_id)))
    form_id, schema = _start_form(deps, process_id, target, public=False)
    return StartForm.model_validate({"processId": process_id, "version": version,
                                     "formId": form_id, "schema": schema})


def _newest_authorized(deps: ServiceDeps, process_id: str) -> StartTarget:
    target = deps.start_forms.newest_authorized(process_id)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected an AUTHORIZED version of process '{process_id}', but "
                            "there is none: deploy it and take it through review and "
                            "authorization")
    return target


def _start_form(deps: ServiceDeps, process_id: str, target: StartTarget, *, public: bool
                ) -> tuple[str, dict[str, Any]]:
    """The form id and schema the version's none start event names; 404 when it names none,
    409 when the registry lacks it."""
    if target.form_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"process {process_id} has no {'public ' if public else ''}start "
                            f"form: its none start event (version {target.version}) names no "
                            "form (laneway:form)")
    schema = deps.forms.get(target.form_id)
    if schema is None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"Expected form '{target.form_id}' (named by the start event of "
                            f"process '{process_id}' version {target.version}) in the form "
                            f"registry, but it is not there: "
                            f"PUT /api/form-schemas/{target.form_id}")
    return target.form_id, schema


def start_form_refusal(deps: ServiceDeps, process_id: str, target: StartTarget,
                       variables: dict[str, Any]) -> JSONResponse | None:
    """What the start form of a version says about the variables an instance would start
    with: None when its none start event names no form or they fit it, else the 422 naming
    each field; 409 when the form is not in the registry (as the public form)."""
    if target.form_id is None:
        return None
    form_id, schema = _start_form(deps, process_id, target, public=False)
    return _misfits(form_id, schema, variables)


def _misfits(form_id: str, schema: dict[str, Any], submission: Any) -> JSONResponse | None:
    try:
        errors = validate(schema, submission)
    except FormSchemaError as exc:
        # stored schemas were checked at upload; this one predates a stricter check
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"Expected form '{form_id}' to be a usable schema, but "
                            f"{exc}: upload it again") from None
    return _refused([e.to_dict() for e in errors]) if errors else None


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean"}


def _refused(errors: list[dict[str, str]]) -> JSONResponse:
    return problem(status.HTTP_422_UNPROCESSABLE_CONTENT,
                   f"Expected a submission that fits the form, but {len(errors)} field(s) do "
                   "not; nothing was started", errors=errors)


def _client(request: Request) -> str:
    # the peer address; behind a proxy, uvicorn's --forwarded-allow-ips makes it the client's
    return request.client.host if request.client is not None else "unknown"


def _anonymous(request: Request) -> Principal:
    return Principal(PrincipalKind.HUMAN, ANONYMOUS, (), {"client": _client(request)})


def _no_form(form_id: str) -> str:
    return (f"Expected a form schema '{form_id}', but there is none: upload it with "
            f"PUT /api/form-schemas/{form_id}")
