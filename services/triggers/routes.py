"""The schedules API (`/api/schedules`) and the webhook route (`/api/hooks/{scheduleId}`).

Roles (docs/people.md): `modeler`, `operator` and `auditor` read schedules; `operator` pauses,
resumes, sets credentials and fires now. A webhook call carries no token: its HMAC signature
with the schedule's secret is its proof (laneway/triggers/builtin/webhook.py).
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from laneway.auth.http import require_role
from laneway.publisher import PublishError
from laneway.records import Principal
from laneway.triggers.builtin.webhook import HookRefused, WebhookTrigger
from laneway.web.problems import problem
from services.triggers import starts
from services.triggers.credentials import CredentialsUnavailable, check_values
from services.triggers.deps import Deps, TriggersDeps
from services.triggers.models import (
    CredentialsIn,
    ErrorOut,
    Fired,
    FireOut,
    HookAccepted,
    ScheduleDetail,
    ScheduleList,
    ScheduleOut,
)
from services.triggers.scheduler import NotPolled
from services.triggers.store import Row

router = APIRouter(prefix="/api/schedules", tags=["schedules"])
hooks = APIRouter(prefix="/api/hooks", tags=["hooks"])

Reader = Annotated[Principal, Depends(require_role("modeler", "operator", "auditor"))]
Operator = Annotated[Principal, Depends(require_role("operator"))]


def _out(row: Row) -> dict[str, object]:
    return {
        "id": row.id, "type": row.type, "process_id": row.process_id, "version": row.version,
        "start_event_id": row.start_event_id, "status": row.status,
        "settings": dict(row.settings), "attributes": dict(row.attributes),
        "timer": list(row.timer) if row.timer else None, "polled": row.polled,
        "cursor": row.cursor,
        "next_poll_at": row.next_poll_at if row.polled and row.status != "retired" else None,
        "last_poll_at": row.last_poll_at, "last_fire_at": row.last_fire_at,
        "fires_total": row.fires_total, "failures": row.failures, "last_error": row.last_error,
        "last_error_at": row.last_error_at, "credential_names": list(row.credential_names),
        "hook_path": None if row.polled else f"/api/hooks/{row.id}",
    }


def _row(deps: TriggersDeps, schedule_id: str) -> Row:
    try:
        uuid.UUID(schedule_id)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected a schedule id (a UUID), but got {schedule_id[:80]!r}"
                            ) from None
    row = deps.store.get(schedule_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No schedule '{schedule_id}'")
    return row


@router.get("", summary="List schedules", response_model=ScheduleList)
def list_schedules(deps: Deps, _: Reader,
                   process_id: Annotated[str | None, Query(alias="processId",
                                                           max_length=255)] = None,
                   type_: Annotated[str | None, Query(alias="type", max_length=100)] = None,
                   include_retired: Annotated[bool, Query(alias="includeRetired")] = False,
                   ) -> ScheduleList:
    """The schedules of the running versions (with `includeRetired`, the retired ones too)."""
    rows = deps.store.schedules(process_id=process_id, type_=type_, include_retired=include_retired)
    return ScheduleList(items=[ScheduleOut.model_validate(_out(r)) for r in rows])


@router.get("/{schedule_id}", summary="One schedule with its recent fires and errors",
            response_model=ScheduleDetail)
def get_schedule(schedule_id: str, deps: Deps, _: Reader) -> ScheduleDetail:
    row = _row(deps, schedule_id)
    fires, errors = deps.store.recent(row.id)
    return ScheduleDetail.model_validate({
        **_out(row),
        "recent_fires": [FireOut.model_validate({
            "dedup_key": f.dedup_key, "instance_id": f.instance_id, "version": f.version,
            "summary": dict(f.summary), "requested_by": f.requested_by, "refused": f.refused,
            "fired_at": f.fired_at}) for f in fires],
        "recent_errors": [ErrorOut(at=at, message=m) for at, m in errors],
    })


@router.post("/{schedule_id}/pause", summary="Pause: no instance starts until resumed",
             response_model=ScheduleOut)
def pause(schedule_id: str, deps: Deps, _: Operator) -> ScheduleOut:
    row = _row(deps, schedule_id)
    deps.store.set_paused(row.id, True)
    return ScheduleOut.model_validate(_out(_row(deps, schedule_id)))


@router.post("/{schedule_id}/resume",
             summary="Resume: polled at once, so what arrived meanwhile starts once",
             response_model=ScheduleOut)
def resume(schedule_id: str, deps: Deps, _: Operator) -> ScheduleOut:
    row = _row(deps, schedule_id)
    deps.store.set_paused(row.id, False)
    deps.scheduler.wake.set()
    return ScheduleOut.model_validate(_out(_row(deps, schedule_id)))


@router.put("/{schedule_id}/credentials", status_code=status.HTTP_204_NO_CONTENT,
            summary="Set the schedule's credentials (write-only: never read back)",
            responses={409: {"description": "No key to encrypt them is configured"}})
def set_credentials(schedule_id: str, body: CredentialsIn, deps: Deps,
                    _: Operator) -> Response:
    row = _row(deps, schedule_id)
    try:
        values = check_values(body.values)
    except ValueError as exc:
        return problem(422, str(exc))
    try:
        sealed = deps.vault.seal(row.id, values) if values else None
    except CredentialsUnavailable as exc:
        return problem(409, str(exc))
    deps.store.set_credentials(row.id, sealed, list(values))
    deps.scheduler.wake.set()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{schedule_id}/fire", summary="Poll now (a timer fires once now); for testing",
             response_model=Fired,
             responses={409: {"description": "Retired, a webhook, or being polled now"}})
def fire_now(schedule_id: str, deps: Deps, principal: Operator) -> Fired | JSONResponse:
    row = _row(deps, schedule_id)
    if not row.polled:
        return problem(409, f"Expected a polled schedule, but a {row.type} schedule starts "
                            f"from its calls: POST /api/hooks/{row.id}")
    try:
        ids = deps.scheduler.fire_now(row.id, principal.id, deps.fire_timeout_s)
    except NotPolled as exc:
        return problem(409, str(exc), headers={"Retry-After": "2"})
    except FutureTimeout:
        return problem(504, "Expected the poll to finish in time, but it did not; it goes on")
    return Fired(instance_ids=ids)


@hooks.post("/{schedule_id}", status_code=status.HTTP_202_ACCEPTED,
            summary="A webhook call: starts one instance per delivery",
            response_model=HookAccepted,
            responses={200: {"model": HookAccepted, "description": "A delivery sent again"},
                       401: {"description": "Signature or timestamp refused"},
                       404: {"description": "No webhook schedule with that id"},
                       410: {"description": "The schedule is retired"},
                       413: {"description": "Body too large"},
                       503: {"description": "Paused, or no secret set"}})
async def hook(schedule_id: str, request: Request, deps: Deps) -> JSONResponse:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > deps.hook_max_bytes:
            deps.metrics.hook_calls.labels("413").inc()
            return problem(413, f"Expected a body of at most {deps.hook_max_bytes} bytes")
    headers = {k.lower(): v for k, v in request.headers.items()}
    answer = await run_in_threadpool(_hook, deps, schedule_id, headers, bytes(body))
    deps.metrics.hook_calls.labels(str(answer.status_code)).inc()
    return answer


def _hook(deps: TriggersDeps, schedule_id: str, headers: dict[str, str],
          body: bytes) -> JSONResponse:
    try:
        row = _row(deps, schedule_id)
    except HTTPException as exc:
        return problem(exc.status_code, str(exc.detail))
    trigger = deps.installed.triggers.get(row.type)
    if row.polled or not isinstance(trigger, WebhookTrigger):
        return problem(404, f"No webhook schedule '{schedule_id}'")
    if row.retired:
        return problem(410, "Expected a running schedule, but its process no longer declares "
                            "it (retired or superseded)")
    if row.paused:
        return problem(503, "The schedule is paused; send the call again later",
                       headers={"Retry-After": "60"})
    try:
        credentials = deps.vault.open(row.id, row.credentials)
        item = trigger.accept(row.settings, credentials, headers, body, time.time())
    except CredentialsUnavailable as exc:
        return problem(503, str(exc))
    except HookRefused as exc:
        if exc.status >= 500:
            deps.store.record_error(row.id, exc.message, 20)
        return problem(exc.status, exc.message)
    started = deps.store.fire_of(row.id, item.dedup_key)
    if started is not None:
        return JSONResponse({"instanceId": started, "duplicate": True}, status_code=200)
    planned = starts.plan(row, item, deps.publisher, deps.clock_ms())
    if planned.refused is not None:
        return problem(422, planned.refused)
    try:
        starts.send(deps.publisher, [planned])
    except PublishError:
        return problem(503, "Expected Kafka to take the start, but it did not. Send the call "
                            "again.", headers={"Retry-After": "5"})
    deps.store.record_push(row, planned.fire())
    return JSONResponse(HookAccepted(instance_id=planned.instance_id, duplicate=False)
                        .model_dump(by_alias=True), status_code=202)
