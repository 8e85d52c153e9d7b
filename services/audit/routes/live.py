"""`GET /api/instances/{instanceId}/live`: an instance's events as server-sent events, as the
engine commits them (the console's instance page moves by them).

Who may watch is who may read the instance (`routes.instances`): operator and auditor every
instance, anyone else the ones they take part in; another instance, or one not projected yet,
is 404. The stream (docs/console.md, "Live feed"):

    event: ready                       once subscribed: nothing committed from now on is
    data: {"instanceId", "processId", "version", "status"}    missed; fetch the instance now

    id: <partition>:<offset>           each event of the instance (`services.audit.live`)
    data: {...}

    : keepalive                        every LANEWAY_LIVE_KEEPALIVE_S (15 s)

    event: end                         the instance ended (or had when the stream opened);
    data: {"instanceId", "reason": "ended"}   the stream closes: do not reconnect

The stream also closes after LANEWAY_LIVE_MAX_S (an hour) and when the service stops; the page
reconnects then. Past LANEWAY_LIVE_MAX_STREAMS open streams in the process, and while Redis is
away, 503 with Retry-After.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import redis
from fastapi import APIRouter, HTTPException, status
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from laneway.auth.http import TOKEN_REQUIRED, Authenticated
from services.audit.deps import Deps
from services.audit.instances import InstanceRow
from services.audit.live import LIVE_ENDS
from services.audit.live_streams import (
    KEEPALIVE,
    LiveUnavailable,
    Subscription,
    event_frame,
    event_head,
    sse,
)
from services.audit.routes.instances import not_found, reader

router = APIRouter(prefix="/api/instances", tags=["instances"], dependencies=TOKEN_REQUIRED)

_log = logging.getLogger(__name__)
_ENDED = frozenset({"COMPLETED", "TERMINATED"})
RETRY_AFTER_S = 5
_EVENT_STREAM = "text/event-stream"


@router.get(
    "/{instance_id}/live", summary="An instance's events as they happen (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {_EVENT_STREAM: {}},
                     "description": "`event: ready`, then each event of the instance."},
               404: {"description": "No such instance you may read (yet)."},
               503: {"description": "Too many streams open, or Redis is away: retry after "
                                    "`Retry-After`."}})
async def live(instance_id: str, deps: Deps, principal: Authenticated) -> StreamingResponse:
    """Each event of the instance as the engine commits it, as `text/event-stream`; who may
    watch is who may read the instance."""
    row = await run_in_threadpool(deps.instances.get, instance_id, reader(principal))
    if row is None:
        raise not_found(instance_id)
    streams = deps.live
    if streams is None:
        raise _unavailable("Expected the live feed to be on, but this audit service runs "
                           "without it (LANEWAY_LIVE=off)")
    if not streams.acquire():
        raise _unavailable(f"Expected a free live stream, but all {streams.max_streams} of "
                           "this process are open: retry later")
    try:
        subscription = await streams.subscribe(instance_id)
    except LiveUnavailable as exc:
        streams.release()
        _log.warning("live stream refused: Redis did not answer: %s", exc)
        raise _unavailable("Expected Redis to carry the live feed, but it did not answer: "
                           "retry later") from None
    except BaseException:
        streams.release()
        raise

    async def closed() -> None:
        await subscription.close()
        streams.release()

    return _LiveResponse(_events(row, subscription), closed, headers={
        "Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _unavailable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail,
                         headers={"Retry-After": str(RETRY_AFTER_S)})


class _LiveResponse(StreamingResponse):
    """A stream whose subscription is closed and place released however it ends: the events
    sent, the client gone (Starlette cancels the stream), or the server shutting down."""

    def __init__(self, content: AsyncIterator[bytes], on_close: Callable[[], Awaitable[None]],
                 headers: dict[str, str]) -> None:
        super().__init__(content, media_type=_EVENT_STREAM, headers=headers)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled stream still cleans up
                iterator: Any = self.body_iterator
                with contextlib.suppress(RuntimeError):  # it never started, or it runs
                    await iterator.aclose()
                await self._on_close()


async def _events(row: InstanceRow, subscription: Subscription) -> AsyncIterator[bytes]:
    iid = row.instance_id
    ready = {"instanceId": iid, "processId": row.process_id, "version": row.version,
             "status": row.status}
    yield sse(json.dumps(ready, separators=(",", ":")), event="ready")
    if row.status in _ENDED:
        yield _end(iid)
        return
    head = event_head(row.process_id, row.version)
    try:
        async for item in subscription.items():
            if item is None:  # a keepalive is due: say so, and that the page still watches
                yield KEEPALIVE
                await subscription.watch()
                continue
            frame = event_frame(item, head)
            if frame is None:
                continue
            yield frame
            if item.endswith(LIVE_ENDS):
                yield _end(iid)
                return
    except (redis.RedisError, OSError) as exc:
        _log.info("live stream of %s ended: Redis went away: %s", iid, exc)


def _end(instance_id: str) -> bytes:
    return sse(json.dumps({"instanceId": instance_id, "reason": "ended"},
                          separators=(",", ":")), event="end")
