"""Work the engine hands out and waits on: jobs (user tasks are `processors/user_task.py`'s);
and incidents when it is stuck."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.engine.user_tasks import node_lane, resolve_persona
from laneway.model import FlowNode
from laneway.records import Event, IncidentType

DEFAULT_RETRIES = 3


def raise_incident(
    ctx: Processing,
    elem: ElementInstance,
    error_type: IncidentType,
    message: str,
    *,
    job_key: int = 0,
    stage: str = "activate",
) -> None:
    """Park the element with an incident; resolving it picks up again at `stage`."""
    key = ctx.new_key()
    ctx.write_element(Event.INCIDENT_CREATED, elem, {
        "key": key, "errorType": error_type.value, "message": message, "jobKey": job_key,
        "stage": stage,
    })


def element_context(ctx: Processing, node: FlowNode) -> dict[str, Any]:
    """What a handler of the element needs besides variables: its name, attribute bag, lane
    and persona (the review's mapping or the innermost lane's `laneway:persona`)."""
    proc = ctx.proc
    statics = proc.statics
    cached = statics.get(("context", node.id))
    if cached is None:
        # the same for every instance of this version: worked out once
        lane_id = node_lane(proc.process.nodes, node)
        lane = proc.lane(lane_id) if lane_id else None
        cached = statics[("context", node.id)] = (
            dict(node.attrs),
            None if lane is None else {
                "lane": lane.name or lane.id, "laneId": lane.id,
                "persona": resolve_persona(proc.lanes, lane.id, proc.personas)})
    attributes, lane_part = cached
    # copies: a record's value is its own
    out: dict[str, Any] = {"elementName": node.name, "attributes": attributes.copy()}
    if lane_part is not None:
        out.update(lane_part)
    return out


def create_job(
    ctx: Processing,
    elem: ElementInstance,
    node: FlowNode,
    job_type: str,
    extra: dict[str, Any] | None = None,
    retries: int | None = None,
) -> None:
    """Hand the element to a connector of `job_type`; the element waits for its answer."""
    value: dict[str, Any] = {
        "key": elem.key,
        "type": job_type,
        "retries": retries if retries is not None else job_retries(node),
        "variables": dict(vars_.visible(ctx.inst, elem.key)),
        "headers": dict(node.task_headers),
    }
    value.update(element_context(ctx, node))
    if extra:
        value.update(extra)
    ctx.write_element(Event.JOB_CREATED, elem, value)


def job_retries(node: FlowNode) -> int:
    """The retries a job starts with: `laneway:retries`, the vendor's retries (both in
    `FlowNode.job_retries`), or 3."""
    raw = node.job_retries
    try:
        return max(int(str(raw).strip().lstrip("=")), 1) if raw else DEFAULT_RETRIES
    except ValueError:
        return DEFAULT_RETRIES
