"""A process prepared for running: the indexes the processors need, built once per version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from laneway.engine import conditionals
from laneway.engine.conditionals import ConditionalCatch
from laneway.model import Definitions, EventKind, FlowNode, Lane, NodeKind, Process, SequenceFlow
from laneway.model._elements import ACTIVITY_KINDS, SUBPROCESS_KINDS

JOINING_KINDS = frozenset(
    {NodeKind.PARALLEL_GATEWAY, NodeKind.INCLUSIVE_GATEWAY, NodeKind.COMPLEX_GATEWAY})
NO_SCOPE = ""
GATEWAY_KINDS = frozenset({NodeKind.EXCLUSIVE_GATEWAY, NodeKind.INCLUSIVE_GATEWAY,
                           NodeKind.PARALLEL_GATEWAY, NodeKind.EVENT_BASED_GATEWAY,
                           NodeKind.COMPLEX_GATEWAY})
# how many targets' upstream sets a version keeps (`ExecutableProcess.reaches`)
_UPSTREAM_CACHED = 64


@dataclass(frozen=True, slots=True)
class CompensationIndex:
    """Who compensates what, in a process that uses compensation (`behaviours.compensation`).
    """

    # activity id -> its compensation handler (the activity a compensation boundary event on
    # it is associated with)
    handlers: Mapping[str, str]
    # subprocess id -> its compensation event subprocess
    event_subprocesses: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ExecutableProcess:
    """One version of a process with the lookups the engine needs.

    Scopes are named by the id of their subprocess, `NO_SCOPE` ("") for the process itself.
    """

    process: Process
    definitions: Definitions
    version: int
    # scope -> nodes that start when the scope starts (none start event, or nodes without
    # incoming flows when the scope has no start event)
    entry_nodes: Mapping[str, tuple[FlowNode, ...]]
    # activity id -> boundary events attached to it
    boundaries: Mapping[str, tuple[FlowNode, ...]]
    # scope -> its event subprocesses
    event_subprocesses: Mapping[str, tuple[FlowNode, ...]]
    # event subprocess id -> its start event
    esp_starts: Mapping[str, FlowNode]
    # catch id -> the node whose processor handles its event, for catches that wait on behalf
    # of another element: a boundary event (for its activity) handles its own, an event
    # subprocess handles its start's (which waits for the enclosing scope)
    handled_by: Mapping[str, FlowNode]
    # (scope, link name) -> the link catch event
    link_targets: Mapping[tuple[str, str], FlowNode]
    # node id -> the nodes a token comes to it from: its flows' sources and, for a boundary
    # event, its activity
    predecessors: Mapping[str, tuple[str, ...]]
    # gateways that join: parallel, inclusive or complex with more than one incoming flow;
    # and activities with a startQuantity above 1 (`behaviours.quantities`)
    joining: frozenset[str]
    # start events of the process itself by kind of trigger
    start_events: tuple[FlowNode, ...]
    # lane id -> lane (nested lanes included)
    lanes: Mapping[str, Lane]
    # lane id -> persona, set when the version was reviewed (the definition record's
    # `persona:<laneId>` metadata); it wins over the lane's `laneway:persona`
    personas: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # complex gateways that join (on_quiet looks at them only when there are any)
    complex_joins: frozenset[str] = frozenset()
    # waiting element id -> the conditional catches it waits on (`conditionals.index`); empty
    # when the process has no conditional event
    conditions: Mapping[str, tuple[ConditionalCatch, ...]] = field(
        default_factory=lambda: MappingProxyType({}))
    # catch id -> the instantiating event-based gateway before it, or the instantiating
    # receive task itself: its message or signal starts an instance (`behaviours.instantiate`)
    instantiating: Mapping[str, FlowNode] = field(default_factory=lambda: MappingProxyType({}))
    # None when the process has no compensation and no transaction cancel: then completing an
    # element costs nothing more
    compensation: CompensationIndex | None = None
    # target -> the nodes it can be reached from (`reaches`), filled when asked: only inclusive
    # joins ask, and a set per node for every node would be quadratic in the diagram's size
    _upstream: dict[str, frozenset[str]] = field(default_factory=dict, repr=False,
                                                 compare=False)
    # sequence flow id -> its target node, read at every flow a token takes
    flow_targets: Mapping[str, FlowNode] = field(default_factory=lambda: MappingProxyType({}))
    # node id -> its outgoing flows, for nodes whose every outgoing flow is taken (no
    # condition on any, no default flow): choosing them needs no variables
    unconditional: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}))
    # whether the process has an inclusive gateway (the engine looks for inclusive joins to
    # fire after every command only then)
    has_inclusive: bool = True
    # what an element's events repeat whatever the instance (its name, lane, persona; a user
    # task's form and literal assignment), by (what, node id), filled when first asked
    # (`statics`): at most a few entries per node of this version
    _statics: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False,
                                                 compare=False)

    @property
    def statics(self) -> dict[tuple[str, str], Any]:
        """The per-node parts of events that do not depend on the instance, by (what, node
        id), for the processors to fill and read (`behaviours.work.element_context`,
        `processors.user_task`)."""
        return self._statics

    @property
    def id(self) -> str:
        """The process id."""
        return self.process.id

    def reaches(self, source: str, target: str) -> bool:
        """Whether a token at `source` can come to `target` by sequence flows (and boundary
        events), in one step or more."""
        upstream = self._upstream.get(target)
        if upstream is None:
            upstream = _upstream_of(self.predecessors, target)
            if len(self._upstream) >= _UPSTREAM_CACHED:
                # bounded: a diagram with thousands of inclusive joins is answered by a search
                # per question instead of holding a set for each
                self._upstream.clear()
            self._upstream[target] = upstream
        return source in upstream

    def node(self, node_id: str) -> FlowNode:
        """The flow node with this id."""
        return self.process.nodes[node_id]

    def lane(self, lane_id: str) -> Lane | None:
        """The lane with this id."""
        return self.lanes.get(lane_id)

    def flow(self, flow_id: str) -> SequenceFlow:
        """The sequence flow with this id."""
        return self.process.flows[flow_id]

    def message_name(self, ref: str | None) -> str:
        """The name of the message with this id (the id itself when it has no name)."""
        if ref is None:
            return ""
        msg = self.definitions.messages.get(ref)
        return (msg.name or msg.id) if msg else ref

    def signal_name(self, ref: str | None) -> str:
        """The name of the signal with this id (the id itself when it has no name)."""
        if ref is None:
            return ""
        sig = self.definitions.signals.get(ref)
        return (sig.name or sig.id) if sig else ref

    def error_code(self, ref: str | None) -> str | None:
        """The error code of the error with this id; None for a catch-all."""
        if ref is None:
            return None
        err = self.definitions.errors.get(ref)
        return (err.code or err.name or err.id) if err else ref

    def escalation_code(self, ref: str | None) -> str | None:
        """The escalation code of the escalation with this id; None for a catch-all."""
        if ref is None:
            return None
        esc = self.definitions.escalations.get(ref)
        return (esc.code or esc.name or esc.id) if esc else ref


def scope_of(node: FlowNode) -> str:
    """The scope a node lives in."""
    return node.parent or NO_SCOPE


def build(
    definitions: Definitions,
    process: Process,
    version: int,
    personas: Mapping[str, str] | None = None,
) -> ExecutableProcess:
    """Index a process for running (the caller has checked it is runnable); `personas` maps
    lane ids to the personas set at review."""
    nodes = process.nodes
    by_scope: dict[str, list[FlowNode]] = {}
    boundaries: dict[str, list[FlowNode]] = {}
    esps: dict[str, list[FlowNode]] = {}
    esp_starts: dict[str, FlowNode] = {}
    links: dict[tuple[str, str], FlowNode] = {}
    for node in nodes.values():
        scope = scope_of(node)
        by_scope.setdefault(scope, []).append(node)
        if node.kind == NodeKind.BOUNDARY_EVENT and node.attached_to:
            boundaries.setdefault(node.attached_to, []).append(node)
        if node.kind in SUBPROCESS_KINDS and node.triggered_by_event:
            esps.setdefault(scope, []).append(node)
        if (
            node.kind == NodeKind.INTERMEDIATE_CATCH_EVENT
            and node.event_kind == EventKind.LINK
            and node.event_definition is not None
        ):
            links[(scope, node.event_definition.link_name or node.name or "")] = node
    for esp_list in esps.values():
        for esp in esp_list:
            for child in by_scope.get(esp.id, []):
                if child.kind == NodeKind.START_EVENT:
                    esp_starts[esp.id] = child
    handled_by = {b.id: b for bes in boundaries.values() for b in bes}
    handled_by.update({start.id: nodes[esp_id] for esp_id, start in esp_starts.items()})
    entry: dict[str, tuple[FlowNode, ...]] = {}
    for scope, members in by_scope.items():
        entry[scope] = _entry_nodes(members)
    joining = frozenset(
        n.id for n in nodes.values()
        if (n.kind in JOINING_KINDS and len(n.incoming) > 1) or n.start_quantity > 1
    )
    return ExecutableProcess(
        process=process,
        definitions=definitions,
        version=version,
        entry_nodes=MappingProxyType(entry),
        boundaries=MappingProxyType({k: tuple(v) for k, v in boundaries.items()}),
        event_subprocesses=MappingProxyType({k: tuple(v) for k, v in esps.items()}),
        esp_starts=MappingProxyType(esp_starts),
        handled_by=MappingProxyType(handled_by),
        link_targets=MappingProxyType(links),
        predecessors=MappingProxyType(_predecessors(process, boundaries)),
        joining=joining,
        start_events=tuple(
            n for n in by_scope.get(NO_SCOPE, []) if n.kind == NodeKind.START_EVENT
        ),
        lanes=MappingProxyType({lane.id: lane for lane in process.all_lanes()}),
        personas=MappingProxyType(dict(personas or {})),
        complex_joins=frozenset(
            n for n in joining if nodes[n].kind == NodeKind.COMPLEX_GATEWAY),
        conditions=conditionals.index(process, esp_starts),
        instantiating=MappingProxyType(_instantiating(process)),
        compensation=_compensation(process, boundaries, esp_starts),
        flow_targets=MappingProxyType({
            fid: nodes[f.target] for fid, f in process.flows.items() if f.target in nodes}),
        unconditional=MappingProxyType({
            n.id: n.outgoing for n in nodes.values()
            if n.default_flow is None and all(
                fid in process.flows and process.flows[fid].condition is None
                for fid in n.outgoing)}),
        has_inclusive=any(n.kind == NodeKind.INCLUSIVE_GATEWAY for n in nodes.values()),
    )


_COMPENSATION_KINDS = frozenset({EventKind.COMPENSATE, EventKind.CANCEL})


def _compensation(process: Process, boundaries: Mapping[str, list[FlowNode]],
                  esp_starts: Mapping[str, FlowNode]) -> CompensationIndex | None:
    nodes = process.nodes
    if not any(ed.kind in _COMPENSATION_KINDS
               for n in nodes.values() for ed in n.event_definitions):
        return None
    linked: dict[str, list[str]] = {}
    for source, target in process.associations:
        linked.setdefault(source, []).append(target)
        linked.setdefault(target, []).append(source)
    handlers: dict[str, str] = {}
    for activity, bes in boundaries.items():
        for b in bes:
            if b.event_kind != EventKind.COMPENSATE:
                continue
            handler = next((h for h in linked.get(b.id, ())
                            if h in nodes and nodes[h].is_for_compensation), None)
            if handler is not None:
                handlers[activity] = handler
    esps = {
        scope_of(nodes[esp_id]): esp_id for esp_id, start in esp_starts.items()
        if start.event_kind == EventKind.COMPENSATE and scope_of(nodes[esp_id]) != NO_SCOPE
    }
    return CompensationIndex(MappingProxyType(handlers), MappingProxyType(esps))


def _entry_nodes(members: list[FlowNode]) -> tuple[FlowNode, ...]:
    starts = [n for n in members if n.kind == NodeKind.START_EVENT and not n.event_definitions]
    if starts:
        # with its none start event, a scope also starts every activity and gateway without
        # incoming flows (BPMN 2.0.2, 13.4.1: they are instantiated with the process)
        return (starts[0], *(n for n in _implicit_starts(members)
                             if n.kind in ACTIVITY_KINDS or n.kind in GATEWAY_KINDS))
    return _implicit_starts(members)


def _implicit_starts(members: list[FlowNode]) -> tuple[FlowNode, ...]:
    # A scope without a none start event starts every node that has no incoming flow
    # (BPMN 2.0, 10.5.2 "implicit start"), except boundary events, event subprocesses,
    # compensation handlers and link catches, which are started by their triggers.
    return tuple(
        n
        for n in members
        if not n.incoming
        and n.kind != NodeKind.BOUNDARY_EVENT
        and n.kind != NodeKind.START_EVENT
        and not n.triggered_by_event
        and not n.is_for_compensation
        and not (n.kind == NodeKind.INTERMEDIATE_CATCH_EVENT and n.event_kind == EventKind.LINK)
    )


def _predecessors(
    process: Process, boundaries: Mapping[str, list[FlowNode]]
) -> dict[str, tuple[str, ...]]:
    preds: dict[str, list[str]] = {}
    for flow in process.flows.values():
        if flow.source in process.nodes:
            preds.setdefault(flow.target, []).append(flow.source)
    for activity, bes in boundaries.items():
        if activity in process.nodes:
            for b in bes:
                preds.setdefault(b.id, []).append(activity)
    return {nid: tuple(sources) for nid, sources in preds.items()}


def _upstream_of(predecessors: Mapping[str, tuple[str, ...]], target: str) -> frozenset[str]:
    """Every node from which `target` can be reached in one step or more: one search backwards
    from `target`, linear in the diagram's size."""
    seen: set[str] = set()
    stack = list(predecessors.get(target, ()))
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(predecessors.get(n, ()))
    return frozenset(seen)


def _instantiating(process: Process) -> Mapping[str, FlowNode]:
    # imported here: the behaviours import this module
    from laneway.engine.behaviours import instantiate

    return instantiate.index(process)
