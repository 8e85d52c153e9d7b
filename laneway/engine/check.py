"""What the engine core can run: anything else is refused when a definition is loaded.

Every refusal names the element and its line, so a modeler sees at deploy time what would
otherwise park an instance at run time.
"""

from __future__ import annotations

from collections.abc import Mapping

from laneway.engine.expressions import compiles
from laneway.engine.user_tasks import lane_chain, node_lane, resolve_persona, sla_minutes
from laneway.model import Definitions, EventKind, FlowNode, NodeKind, Process
from laneway.problems import Problem

_UNSUPPORTED_KINDS = {
    NodeKind.COMPLEX_GATEWAY: "complex gateways are not supported; use an inclusive gateway",
    NodeKind.AD_HOC_SUB_PROCESS: "ad-hoc subprocesses are not supported yet",
    NodeKind.TRANSACTION: "transaction subprocesses (cancel and compensation) are not supported",
    NodeKind.CHOREOGRAPHY_TASK: "choreographies describe, they do not run",
    NodeKind.SUB_CHOREOGRAPHY: "choreographies describe, they do not run",
    NodeKind.CALL_CHOREOGRAPHY: "choreographies describe, they do not run",
}

_ALLOWED_EVENTS: dict[NodeKind, frozenset[EventKind]] = {
    NodeKind.START_EVENT: frozenset(
        {EventKind.NONE, EventKind.MESSAGE, EventKind.TIMER, EventKind.SIGNAL}
    ),
    NodeKind.END_EVENT: frozenset(
        {
            EventKind.NONE,
            EventKind.TERMINATE,
            EventKind.ERROR,
            EventKind.ESCALATION,
            EventKind.MESSAGE,
            EventKind.SIGNAL,
        }
    ),
    NodeKind.INTERMEDIATE_CATCH_EVENT: frozenset(
        {EventKind.TIMER, EventKind.MESSAGE, EventKind.SIGNAL, EventKind.LINK}
    ),
    NodeKind.INTERMEDIATE_THROW_EVENT: frozenset(
        {EventKind.NONE, EventKind.MESSAGE, EventKind.SIGNAL, EventKind.LINK, EventKind.ESCALATION}
    ),
    NodeKind.BOUNDARY_EVENT: frozenset(
        {EventKind.ERROR, EventKind.TIMER, EventKind.MESSAGE, EventKind.SIGNAL,
         EventKind.ESCALATION}
    ),
}
_ESP_START_EVENTS = frozenset(
    {EventKind.MESSAGE, EventKind.TIMER, EventKind.SIGNAL, EventKind.ERROR, EventKind.ESCALATION}
)
_EVENT_GATEWAY_TARGETS = frozenset({EventKind.MESSAGE, EventKind.TIMER, EventKind.SIGNAL})


def check_runnable(definitions: Definitions, process: Process) -> list[Problem]:
    """Every reason the engine core cannot run `process`, empty when it can."""
    problems: list[Problem] = []

    def refuse(node: FlowNode, message: str) -> None:
        problems.append(Problem(definitions.file, node.line, node.id, message))

    links: set[tuple[str | None, str]] = {
        (n.parent, n.event_definition.link_name or n.name or "")
        for n in process.nodes.values()
        if n.kind == NodeKind.INTERMEDIATE_CATCH_EVENT
        and n.event_kind == EventKind.LINK
        and n.event_definition is not None
    }
    for node in process.nodes.values():
        if node.kind in _UNSUPPORTED_KINDS:
            refuse(node, _UNSUPPORTED_KINDS[node.kind])
            continue
        if node.is_for_compensation:
            refuse(node, "compensation handlers are not supported")
        if len(node.event_definitions) > 1:
            refuse(node, "events with several event definitions (multiple) are not supported")
            continue
        allowed = _ALLOWED_EVENTS.get(node.kind)
        kind = node.event_kind
        if allowed is not None:
            parent = process.nodes.get(node.parent) if node.parent else None
            in_esp = parent is not None and parent.triggered_by_event
            if node.kind == NodeKind.START_EVENT and in_esp:
                if kind not in _ESP_START_EVENTS:
                    refuse(node, f"an event subprocess cannot start on a {kind.value} event")
            elif kind not in allowed:
                refuse(node, f"{kind.value} {_words(node.kind)}s are not supported")
        if kind == EventKind.LINK and node.kind == NodeKind.INTERMEDIATE_THROW_EVENT:
            ed = node.event_definition
            name = (ed.link_name if ed else None) or node.name or ""
            if (node.parent, name) not in links:
                refuse(node, f"link throw event names link '{name}', but no link catch event "
                             "in the same scope has that name")
        if kind == EventKind.TIMER and node.event_definition and not node.event_definition.timer:
            refuse(node, "timer event has no timeDate, timeDuration or timeCycle")
        if node.kind == NodeKind.USER_TASK:
            try:
                sla_minutes(node.sla_minutes)
            except ValueError as exc:
                refuse(node, str(exc))
        if node.kind == NodeKind.CALL_ACTIVITY and not node.called_element:
            refuse(node, "call activity names no called element (calledElement)")
        if node.kind == NodeKind.BOUNDARY_EVENT and not node.attached_to:
            refuse(node, "boundary event is attached to nothing (attachedToRef)")
        host = (
            process.nodes.get(node.attached_to or "")
            if node.kind == NodeKind.BOUNDARY_EVENT else None
        )
        if host is not None and host.triggered_by_event:
            refuse(node, f"boundary event is attached to event subprocess '{host.id}', which "
                         "BPMN does not allow; catch the event in the subprocess instead")
        if node.kind == NodeKind.EVENT_BASED_GATEWAY:
            for fid in node.outgoing:
                target = process.nodes.get(process.flows[fid].target)
                if target is None:
                    continue
                ok = target.kind == NodeKind.RECEIVE_TASK or (
                    target.kind == NodeKind.INTERMEDIATE_CATCH_EVENT
                    and target.event_kind in _EVENT_GATEWAY_TARGETS
                )
                if not ok:
                    refuse(node, f"Expected an event-based gateway to lead to catch events or "
                                 f"receive tasks, but it leads to '{target.id}'")
        loop = node.loop
        if loop is not None and loop.multi_instance and not (loop.collection or loop.cardinality):
            refuse(node, "multi-instance activity has neither an input collection nor a "
                         "loop cardinality")
        if (
            loop is not None
            and not loop.multi_instance
            and loop.loop_condition is not None
            and not compiles(loop.loop_condition)
        ):
            refuse(node, f"loop condition '{loop.loop_condition.raw}' cannot be evaluated")
        if node.kind not in (NodeKind.EXCLUSIVE_GATEWAY, NodeKind.INCLUSIVE_GATEWAY):
            for fid in node.outgoing:
                flow = process.flows.get(fid)
                if flow is not None and flow.condition is not None and not compiles(
                    flow.condition
                ):
                    problems.append(Problem(
                        definitions.file, flow.line, flow.id,
                        f"condition '{flow.condition.raw}' cannot be evaluated by the engine; "
                        "only a gateway can hand conditions to a decision handler"))
    return problems


def missing_personas(
    process: Process, mapping: Mapping[str, str], *, file: str = ""
) -> list[Problem]:
    """Lanes that hold user tasks (directly or through nested lanes) which would get no
    persona with `mapping` (`{laneId: persona}`, set at review) and the lanes' own
    `laneway:persona`; and, in a process with lanes, the user tasks in no lane. Empty when
    every user task asks for a persona.

    A process without lanes has nothing to enforce: its tasks ask for no persona, and
    candidate users or groups, if any, are what the engine checks.
    """
    lanes = {lane.id: lane for lane in process.all_lanes()}
    if not lanes:
        return []
    tasks = [n for n in process.nodes.values() if n.kind == NodeKind.USER_TASK]
    # lane id -> the tasks without a persona it holds, itself or through nested lanes
    lacking: dict[str, list[str]] = {}
    outside: list[FlowNode] = []
    for task in tasks:
        lane_id = node_lane(process.nodes, task)
        if not lane_id or lane_id not in lanes:
            outside.append(task)
            continue
        if resolve_persona(lanes, lane_id, mapping) is not None:
            continue
        for lane in lane_chain(lanes, lane_id):
            lacking.setdefault(lane.id, []).append(task.id)
    problems = [
        Problem(file, lane.line, lane.id,
                f"lane '{lane.name or lane.id}' holds user tasks without a persona "
                f"({', '.join(lacking[lane.id])}); give it laneway:persona or map it to a "
                "persona at review")
        for lane in process.all_lanes() if lane.id in lacking
    ]
    problems.extend(
        Problem(file, task.line, task.id,
                "user task is in no lane, so it has no persona; put it in a lane with one")
        for task in outside
    )
    return problems


def _words(kind: NodeKind) -> str:
    out = []
    for ch in kind.value:
        if ch.isupper():
            out.append(" ")
        out.append(ch.lower())
    return "".join(out)
