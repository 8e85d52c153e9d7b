"""What exclusive and inclusive gateways share: asking a decision handler instead of evaluating
conditions themselves (a `decision` job with every outgoing flow, or a job of the connector
type `laneway:decision` names, e.g. `llm`; `SUBMIT_DECISION` names the flows to take), and
passing a merge or a single unconditional flow straight on.

A job is a decision job when its element is a gateway: only a decision creates a job there, so
the engine's state needs no mark of its own; the JOB_CREATED value says so to the connector
(`decision: true`, with `flows` and `gatewayType`)."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import flow, work
from laneway.engine.context import Processing
from laneway.engine.expressions import compiles, is_opaque
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode, NodeKind

DECISION_JOB_TYPE = "decision"
DECIDING_KINDS = frozenset({NodeKind.EXCLUSIVE_GATEWAY, NodeKind.INCLUSIVE_GATEWAY,
                            NodeKind.COMPLEX_GATEWAY})
"""The gateways that hand their choice to a decision handler: a job on one is a decision."""


def is_decision_job(elem: ElementInstance, job_type: str) -> bool:
    """Whether a job answers with SUBMIT_DECISION: its element is a deciding gateway or an
    ad-hoc subprocess (which activities to start, `adhoc_subprocess.py`), or it is of the
    `decision` type."""
    return (elem.kind in DECIDING_KINDS or elem.kind == NodeKind.AD_HOC_SUB_PROCESS
            or job_type == DECISION_JOB_TYPE)


def asks_handler(ctx: Processing, node: FlowNode) -> bool:
    """Marked with `laneway:decision="handler"`, or its flows carry no condition the engine can
    evaluate (none at all and no default, or ones in a language it does not run)."""
    if node.decision_handler:
        return True
    proc = ctx.proc
    conditional = [proc.flow(f) for f in node.outgoing if f != node.default_flow]
    if len(conditional) < 2 and node.default_flow is None:
        return False
    if all(f.condition is None for f in conditional) and node.default_flow is None:
        return True
    return any(
        f.condition is not None and (is_opaque(f.condition) or not compiles(f.condition))
        for f in conditional
    )


def request(ctx: Processing, elem: ElementInstance, node: FlowNode,
            retries: int | None = None) -> None:
    """A decision job (of type `decision`, or the connector type `laneway:decision` names)
    carrying every outgoing flow with its id, name, target (and the target's name), condition
    and bag."""
    flows: list[dict[str, Any]] = []
    for fid in node.outgoing:
        f = ctx.proc.flow(fid)
        target = ctx.proc.process.nodes.get(f.target)
        flows.append({
            "id": f.id, "name": f.name, "target": f.target,
            "targetName": target.name if target is not None else None,
            "condition": f.condition.raw if f.condition else None,
            "default": fid == node.default_flow, "attributes": dict(f.attrs)})
    work.create_job(ctx, elem, node, node.decision_type or DECISION_JOB_TYPE, {
        "flows": flows, "gatewayType": node.kind.value, "decision": True}, retries=retries)


def settled_without_conditions(ctx: Processing, elem: ElementInstance, node: FlowNode) -> bool:
    """The steps an exclusive and an inclusive gateway share before evaluating conditions:
    a merge or a single unconditional flow just passes the token on, and a gateway handed to a
    decision handler creates its job. True when one of them took care of the gateway."""
    outgoing = node.outgoing
    if not outgoing or (len(outgoing) == 1 and ctx.proc.flow(outgoing[0]).condition is None):
        flow.complete(ctx, elem, flows=list(outgoing))
        return True
    if asks_handler(ctx, node):
        request(ctx, elem, node)
        return True
    return False
