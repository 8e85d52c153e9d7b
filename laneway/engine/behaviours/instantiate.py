"""Elements that start a process instance without a start event (BPMN 2.0.2 10.5.6
"Event-Based Gateway to start a Process", 10.3.3 receive task `instantiate`).

- An event-based gateway with `instantiate="true"` and no incoming flow (exclusive type): a
  message or signal on one of the catch events (or receive tasks) after it starts an instance,
  which passes the gateway toward that event and goes on with the event's variables.
- A receive task with `instantiate="true"` and no incoming flow: its message starts an
  instance there, and the task completes with the message's variables.

The message side and signal broadcasts find them through `ExecutableProcess.instantiating`
(`DefinitionRepository.start_events`) and send `START_INSTANCE` naming the catch; the
triggers service declares a timer after such a gateway as a timer trigger, as it does a timer
start event, and names the catch the same way. A plain `START_INSTANCE` (the API, `laneway
run`) still starts such a process at the gateway or the receive task, which then waits as
usual.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from laneway.engine.behaviours import flow, waits
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode, NodeKind, Process
from laneway.records import Event


def index(process: Process) -> Mapping[str, FlowNode]:
    """Catch id -> the element an instance starts at when its event arrives (the
    instantiating gateway before it, or the receive task itself)."""
    out: dict[str, FlowNode] = {}
    for node in process.nodes.values():
        if not node.instantiate or node.incoming or node.parent:
            continue
        if node.kind == NodeKind.RECEIVE_TASK:
            out[node.id] = node
        elif node.kind == NodeKind.EVENT_BASED_GATEWAY:
            for fid in node.outgoing:
                flow_ = process.flows.get(fid)
                if flow_ is not None and flow_.target in process.nodes:
                    out[flow_.target] = node
    return out


def start_at(ctx: Processing, root: ElementInstance, catch: FlowNode) -> None:
    """Start a new instance at an instantiating catch whose event arrived (its variables are
    the instance's already)."""
    waits.open_event_subprocesses(ctx, root, "")
    entry = ctx.proc.instantiating[catch.id]
    if entry.id == catch.id:
        flow.activate(ctx, root.key, catch, trigger={})
        return
    key = ctx.new_key()
    ctx.write(Event.ELEMENT_ACTIVATED, {"key": key}, element_id=entry.id,
              element_type=entry.kind.value, token_id=key, scope_id=root.key)
    gateway = ctx.inst.elements[key]
    chosen = [f for f in entry.outgoing if ctx.proc.flow(f).target == catch.id]
    flow.complete(ctx, gateway, flows=chosen[:1], trigger={})


def problems(process: Process, node: FlowNode) -> Iterator[str]:
    """What keeps an `instantiate="true"` element from starting instances."""
    if not node.instantiate:
        return
    if node.kind == NodeKind.EVENT_BASED_GATEWAY and (
            node.event_gateway_type or "Exclusive") != "Exclusive":
        yield ("a parallel instantiating event-based gateway (every event before the "
               "instance goes on) is not supported; use eventGatewayType=\"Exclusive\"")
    if node.incoming:
        yield (f"an instantiating {node.kind.value} starts the process, so it cannot have "
               "incoming sequence flows (BPMN 10.5.6)")
    if node.parent:
        yield f"an instantiating {node.kind.value} must be at the top level of the process"
