"""Semantic checks: what a modeler should fix before a diagram can run as meant.

`parse` already refused what cannot be read consistently; these are rules of BPMN (and of
executable BPMN as Camunda, Flowable and SpiffWorkflow apply them) that a readable diagram can
still break. Each check is a small function over one process so they stay independent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator

from laneway.model import Definitions, EventKind, FlowNode, NodeKind, Process
from laneway.model._elements import ACTIVITY_KINDS
from laneway.problems import Problem

_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
# Nodes that start a path by themselves, so having no incoming flow is right for them.
_SOURCE_KINDS = frozenset({NodeKind.START_EVENT, NodeKind.BOUNDARY_EVENT})
_GATEWAY_KINDS = frozenset({NodeKind.EXCLUSIVE_GATEWAY, NodeKind.INCLUSIVE_GATEWAY,
                            NodeKind.PARALLEL_GATEWAY, NodeKind.EVENT_BASED_GATEWAY,
                            NodeKind.COMPLEX_GATEWAY})

_Finding = tuple[int, str | None, str]
_Check = Callable[[Process], Iterator[_Finding]]


def _count(n: int) -> str:
    return _WORDS[n] if n < len(_WORDS) else str(n)


def _at(node: FlowNode, message: str) -> _Finding:
    return (node.line, node.id, message)


def _is_link_catch(node: FlowNode) -> bool:
    return node.kind is NodeKind.INTERMEDIATE_CATCH_EVENT and node.event_kind is EventKind.LINK


def _scopes_with_start(process: Process) -> set[str | None]:
    return {n.parent for n in process.nodes.values() if n.kind is NodeKind.START_EVENT}


def _check_start_events(process: Process) -> Iterator[_Finding]:
    # BPMN lets a process without start events start at every node without incoming flows,
    # and bpmn-engine runs such partner pools; an executable process needs a start event.
    executable = process.is_executable is not False
    if process.nodes and executable and None not in _scopes_with_start(process):
        yield (
            process.line,
            process.id,
            "Expected a start event in the process, but it has none",
        )


def _check_incoming(process: Process) -> Iterator[_Finding]:
    nodes = process.nodes
    # In a scope without a start event, the nodes without incoming flows are its implicit
    # starts (BPMN 2.0, 10.5.2), so only scopes with a start event are checked.
    started = _scopes_with_start(process)
    for node in nodes.values():
        if node.incoming or node.parent not in started:
            continue
        if node.kind in _SOURCE_KINDS or _is_link_catch(node):
            continue
        # activities and gateways without incoming flows start with their scope, next to its
        # start events (BPMN 2.0.2, 13.4.1 / 10.5.2); events in the flow need one
        if node.kind in ACTIVITY_KINDS or node.kind in _GATEWAY_KINDS:
            continue
        if node.triggered_by_event or node.is_for_compensation:
            continue
        parent = nodes.get(node.parent or "")
        # Activities of an ad-hoc subprocess are started by whoever works on it, not by flows.
        if parent is not None and parent.kind is NodeKind.AD_HOC_SUB_PROCESS:
            continue
        yield _at(node, f"Expected an incoming sequence flow on this {node.kind}, but it has none")


def _check_start_and_end(process: Process) -> Iterator[_Finding]:
    for node in process.nodes.values():
        if node.kind is NodeKind.END_EVENT and node.outgoing:
            n = _count(len(node.outgoing))
            yield _at(node, f"Expected no outgoing flows on an end event, but it has {n}")
        if node.kind in _SOURCE_KINDS and node.incoming:
            n = _count(len(node.incoming))
            yield _at(node, f"Expected no incoming flows on a {node.kind}, but it has {n}")


def _check_exclusive_gateways(process: Process) -> Iterator[_Finding]:
    flows = process.flows
    for node in process.nodes.values():
        if node.kind is not NodeKind.EXCLUSIVE_GATEWAY or node.default_flow is not None:
            continue
        # a gateway handed to a decision handler needs no conditions (docs/engine.md)
        if node.decision_handler:
            continue
        bare = [f for f in node.outgoing if f in flows and flows[f].condition is None]
        # with no condition at all, a decision job decides (docs/engine.md "Gateways"); next
        # to conditions, several bare flows leave no way to tell which one is meant
        if len(bare) >= 2 and len(bare) < len(node.outgoing):
            yield _at(
                node,
                f"exclusive gateway has {_count(len(bare))} outgoing flows without condition "
                "and no default; add conditions, a default flow, or "
                'laneway:decision="handler" to ask a decision handler',
            )


_DECIDING = frozenset({NodeKind.EXCLUSIVE_GATEWAY, NodeKind.INCLUSIVE_GATEWAY,
                       NodeKind.AD_HOC_SUB_PROCESS})


def _check_decision_connectors(process: Process) -> Iterator[_Finding]:
    # `laneway:decision="llm"` names the connector that decides; only a gateway that chooses
    # among its flows has a decision to hand over (the mark elsewhere would be ignored
    # silently, and the modeler would wait for a model that is never asked)
    for node in process.nodes.values():
        if node.decision_type is not None and node.kind not in _DECIDING:
            yield _at(
                node,
                f"laneway:decision names the connector {node.decision_type[:60]!r}, but only "
                "an exclusive or inclusive gateway or an ad-hoc subprocess hands its choice "
                "to a decision handler",
            )


def _check_default_flows(process: Process) -> Iterator[_Finding]:
    for node in process.nodes.values():
        if node.default_flow is not None and node.default_flow not in node.outgoing:
            yield _at(
                node,
                f"Expected the default flow '{node.default_flow}' to leave this {node.kind}, "
                "but it does not",
            )


def _check_boundary_events(process: Process) -> Iterator[_Finding]:
    nodes = process.nodes
    for node in nodes.values():
        if node.kind is not NodeKind.BOUNDARY_EVENT:
            continue
        if not node.attached_to:
            yield _at(node, "Expected attachedToRef on a boundary event, but it has none")
            continue
        host = nodes.get(node.attached_to)
        if host is None or host.kind not in ACTIVITY_KINDS:
            yield _at(
                node,
                f"Expected the boundary event to be attached to an activity of this process, "
                f"but '{node.attached_to}' is not one",
            )
        elif node.event_kind is EventKind.CANCEL and host.kind is not NodeKind.TRANSACTION:
            yield _at(
                node,
                f"Expected a cancel boundary event to be attached to a transaction, "
                f"but '{host.id}' is a {host.kind}",
            )


def _check_cancel_end_events(process: Process) -> Iterator[_Finding]:
    nodes = process.nodes
    for node in nodes.values():
        if node.kind is not NodeKind.END_EVENT or node.event_kind is not EventKind.CANCEL:
            continue
        parent = nodes.get(node.parent or "")
        if parent is None or parent.kind is not NodeKind.TRANSACTION:
            yield _at(node, "Expected a cancel end event inside a transaction, but it is not")


def _check_flows(process: Process) -> Iterator[_Finding]:
    nodes = process.nodes
    for flow in process.flows.values():
        source, target = nodes.get(flow.source), nodes.get(flow.target)
        for end, ref, node in (("source", flow.source, source), ("target", flow.target, target)):
            if node is None:
                yield (
                    flow.line,
                    flow.id,
                    f"Expected the {end} '{ref}' to be a flow node of process '{process.id}', "
                    "but it is not",
                )
        if source is not None and target is not None and source.parent != target.parent:
            yield (
                flow.line,
                flow.id,
                f"Expected a sequence flow to stay within one (sub)process, but it goes from "
                f"'{source.id}' in {_scope(source)} to '{target.id}' in {_scope(target)}",
            )


def _scope(node: FlowNode) -> str:
    return f"subprocess '{node.parent}'" if node.parent else "the process"


def _check_loops(process: Process) -> Iterator[_Finding]:
    for node in process.nodes.values():
        loop = node.loop
        if loop is None or loop.multi_instance:
            continue
        if loop.loop_condition is None and loop.loop_maximum is None:
            yield _at(
                node,
                "Expected a loopCondition or loopMaximum on a standard loop, but it has neither "
                "(it would never end)",
            )


def _check_links(process: Process) -> Iterator[_Finding]:
    catches: dict[tuple[str | None, str | None], list[FlowNode]] = defaultdict(list)
    throws: list[FlowNode] = []
    for node in process.nodes.values():
        if node.event_kind is not EventKind.LINK:
            continue
        if node.kind is NodeKind.INTERMEDIATE_CATCH_EVENT:
            catches[(node.parent, _link_name(node))].append(node)
        elif node.kind is NodeKind.INTERMEDIATE_THROW_EVENT:
            throws.append(node)
    for (_, name), targets in catches.items():
        for extra in targets[1:]:
            yield _at(
                extra,
                f"Expected one catching link event named '{name}' in its scope, "
                f"but '{targets[0].id}' has that name too",
            )
    for node in throws:
        name = _link_name(node)
        if (node.parent, name) not in catches:
            yield _at(
                node,
                f"Expected a catching link event named '{name}' in the same scope, but none",
            )


def _link_name(node: FlowNode) -> str | None:
    definition = node.event_definition
    return (definition.link_name if definition else None) or node.name


def _check_event_gateways(process: Process) -> Iterator[_Finding]:
    nodes = process.nodes
    flows = process.flows
    allowed = (NodeKind.INTERMEDIATE_CATCH_EVENT, NodeKind.RECEIVE_TASK)
    for node in nodes.values():
        if node.kind is not NodeKind.EVENT_BASED_GATEWAY:
            continue
        for flow_id in node.outgoing:
            target = nodes.get(flows[flow_id].target) if flow_id in flows else None
            if target is not None and target.kind not in allowed:
                yield _at(
                    node,
                    f"Expected an event-based gateway to lead to catching events or receive "
                    f"tasks, but '{target.id}' is a {target.kind}",
                )


def _check_event_subprocesses(process: Process) -> Iterator[_Finding]:
    nodes = process.nodes
    for node in nodes.values():
        if node.kind is not NodeKind.START_EVENT or node.parent is None:
            continue
        parent = nodes.get(node.parent)
        if parent is not None and parent.triggered_by_event and not node.event_definitions:
            yield _at(
                node,
                "Expected the start event of an event subprocess to have a trigger "
                "(message, timer, error, ...), but it has none",
            )


_CHECKS: tuple[_Check, ...] = (
    _check_start_events,
    _check_incoming,
    _check_start_and_end,
    _check_exclusive_gateways,
    _check_decision_connectors,
    _check_default_flows,
    _check_boundary_events,
    _check_cancel_end_events,
    _check_flows,
    _check_loops,
    _check_links,
    _check_event_gateways,
    _check_event_subprocesses,
)


def validate(defs: Definitions) -> list[Problem]:
    """Problems a modeler should fix before running the diagram, in file order.

    An empty list means none of the checks found anything; it does not promise the engine
    supports every element used.
    """
    problems = [
        Problem(defs.file, line, element_id, message)
        for process in defs.processes
        for check in _CHECKS
        for line, element_id, message in check(process)
    ]
    return sorted(problems, key=lambda p: p.line)
