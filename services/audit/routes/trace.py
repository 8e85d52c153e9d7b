"""`GET /api/instances/{id}/trace`: the instance's trace, read from the Jaeger query API that
`LANEWAY_TRACES_QUERY_URL` names, for the console's trace view (docs/console.md, "Trace").

The trace's attributes hold what the services wrote about every instance's commands, so it is
read as the history is: with the role `operator` or `auditor` (`admin` holds every role). Only
this one read of Jaeger's API is passed on, for an id that is an instance's, through the app's
`TraceQuery` (`app.state.traces`; None when no query service is set: 503).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status

from laneway.auth.http import require_role
from laneway.trace_query import trace_id_of
from services.audit.traces import TraceQuery, TraceUnavailable, TraceView, shape

__all__ = ["router"]

router = APIRouter(prefix="/api/instances", tags=["traces"],
                   dependencies=[Depends(require_role("auditor", "operator"))])


def _traces(request: Request) -> TraceQuery:
    traces: TraceQuery | None = getattr(request.app.state, "traces", None)
    if traces is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "Expected a traces query service (LANEWAY_TRACES_QUERY_URL, a "
                            "Jaeger query API), but none is set for this service")
    return traces


@router.get(
    "/{instance_id}/trace", summary="An instance's trace",
    responses={404: {"description": "The trace has no span (yet): the services' spans reach "
                                    "the tracing backend in batches, a few seconds late."},
               422: {"description": "The id is not an instance's (a UUID)."},
               502: {"description": "The traces query service answered something unusable."},
               503: {"description": "No traces query service is set, or it does not answer."}})
def get_trace(instance_id: str, traces: Annotated[TraceQuery, Depends(_traces)]) -> TraceView:
    """The spans of the instance's trace (its id is the instance id's 32 hex digits), earliest
    first, at most 2,000, each with its service, parent, attributes, events and links to other
    traces (a call activity's child instance)."""
    trace_id = trace_id_of(instance_id)
    if trace_id is None:
        raise HTTPException(422,
                            "Expected an instance id (a UUID such as "
                            "3f2c…-…), but got something else: its trace id is its 32 hex "
                            "digits")
    try:
        trace = traces.read(trace_id)
    except TraceUnavailable as exc:
        headers = {"Retry-After": "5"} if exc.status == 503 else None
        raise HTTPException(exc.status, exc.detail, headers=headers) from None
    if trace is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected spans of trace {trace_id}, but the traces query service "
                            "has none (yet): spans arrive a few seconds after the work, and an "
                            "instance whose services export no spans has no trace")
    return shape(trace_id, trace)
