"""Which conditional events a process version has, indexed by the element that waits on each
(built once per version by `executable.build`; read by `behaviours.conditions`).

A conditional catch waits on behalf of an element instance, as timers and subscriptions do:
- an intermediate conditional catch event waits on itself;
- a conditional boundary event on its activity (the multi-instance body when the activity has
  multi-instance characteristics);
- a conditional start of an event subprocess on the enclosing scope (the process, keyed by the
  process id, or the subprocess);
- a conditional catch event after an event-based gateway on the gateway.
Conditional starts of the process itself wait on nothing: `EVALUATE_CONDITIONS` evaluates
them (`handlers.conditions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from laneway.expr import ExpressionError, variable_names
from laneway.model import EventKind, Expression, FlowNode, NodeKind, Process


@dataclass(frozen=True, slots=True)
class ConditionalCatch:
    """One catch event's conditions (any of them holding triggers it), the variables they
    read, and whether it fires only on a false-to-true change (a non-interrupting one)."""

    catch: FlowNode
    conditions: tuple[Expression, ...]
    names: frozenset[str]
    edge: bool


def conditions_of(node: FlowNode) -> tuple[Expression, ...]:
    """The conditions of a node's conditional event definitions."""
    return tuple(ed.condition for ed in node.event_definitions
                 if ed.kind == EventKind.CONDITIONAL and ed.condition is not None)


def _names(conditions: tuple[Expression, ...]) -> frozenset[str]:
    out: set[str] = set()
    for expr in conditions:
        try:
            out |= variable_names(expr.text)
        except ExpressionError:
            continue  # refused at deploy; nothing to watch
    return frozenset(out)


def index(
    process: Process, esp_starts: Mapping[str, FlowNode]
) -> Mapping[str, tuple[ConditionalCatch, ...]]:
    """Waiting element id -> the conditional catches it waits on; empty for a process without
    conditional events (which then pays nothing for them)."""
    out: dict[str, list[ConditionalCatch]] = {}
    nodes = process.nodes
    esp_of_start = {start.id: esp_id for esp_id, start in esp_starts.items()}
    for node in nodes.values():
        conditions = conditions_of(node)
        if not conditions:
            continue
        owner: str | None = None
        edge = False
        if node.kind == NodeKind.INTERMEDIATE_CATCH_EVENT:
            gateways = [process.flows[f].source for f in node.incoming if f in process.flows]
            gateway = next((g for g in gateways if g in nodes
                            and nodes[g].kind == NodeKind.EVENT_BASED_GATEWAY), None)
            owner = gateway or node.id
            if gateway is not None:
                # it also waits on itself if a plain flow reaches it (rare, but allowed)
                out.setdefault(node.id, []).append(
                    ConditionalCatch(node, conditions, _names(conditions), False))
        elif node.kind == NodeKind.BOUNDARY_EVENT and node.attached_to:
            owner = node.attached_to
            edge = not node.cancel_activity
        elif node.kind == NodeKind.START_EVENT and node.id in esp_of_start:
            esp = nodes[esp_of_start[node.id]]
            owner = esp.parent or process.id
            edge = not node.interrupting
        if owner is not None:
            out.setdefault(owner, []).append(
                ConditionalCatch(node, conditions, _names(conditions), edge))
    return MappingProxyType({k: tuple(v) for k, v in out.items()})
