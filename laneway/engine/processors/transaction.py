"""Transaction subprocesses (BPMN 2.0.2, 10.3.x): an embedded subprocess whose work is undone
when it is cancelled.

A transaction runs as a subprocess (`SubProcessProcessor`): it starts its entry nodes and
completes when no token is left inside; its completed activities stay compensable in it and,
when it completes, go with it (a compensation thrown later in its scope compensates them).

A cancel end event inside it cancels it (`behaviours.compensation.cancel`): every other element
in the transaction is terminated, its completed activities are compensated (last first, the
cancel end event waiting for the handlers), then the cancel boundary event on the transaction
interrupts it and its flow is taken. An error inside caught by an error boundary event on the
transaction (a hazard) terminates it without compensation, as any interrupting boundary event
does.

Deploy (the checks the events involved share, kept here): a cancel end event directly inside a
transaction that has a cancel boundary event; a cancel boundary event only on a transaction; a
compensation boundary event associated with a handler marked `isForCompensation`, and no
sequence flow out of it; cancel, compensation and error boundary events interrupting; a
compensation throw's `activityRef` an activity of its scope.
"""

from __future__ import annotations

from collections.abc import Iterator

from laneway.engine.processors.subprocess import SubProcessProcessor
from laneway.model import EventKind, FlowNode, NodeKind, Process
from laneway.model._elements import ACTIVITY_KINDS


class TransactionProcessor(SubProcessProcessor):
    """A subprocess that a cancel end event inside it cancels (see the module)."""


# boundary events that BPMN lets only interrupt (cancelActivity="false" is invalid)
_ALWAYS_INTERRUPTING = frozenset({EventKind.CANCEL, EventKind.COMPENSATE, EventKind.ERROR})


def _cancel_boundary(process: Process, tx: FlowNode) -> bool:
    return any(n.kind == NodeKind.BOUNDARY_EVENT and n.attached_to == tx.id
               and n.event_kind == EventKind.CANCEL for n in process.nodes.values())


def check_cancel_end(process: Process, node: FlowNode) -> Iterator[str]:
    """A cancel end event is directly inside a transaction with a cancel boundary event."""
    parent = process.nodes.get(node.parent) if node.parent else None
    if parent is None or parent.kind != NodeKind.TRANSACTION:
        yield ("a cancel end event is only allowed directly inside a transaction subprocess "
               "(BPMN 10.5.3)")
    elif not _cancel_boundary(process, parent):
        yield (f"cancel end event cancels transaction '{parent.id}', which has no cancel "
               "boundary event to go on from")


def check_compensation_boundary(
    process: Process, node: FlowNode, host: FlowNode | None
) -> Iterator[str]:
    """A cancel boundary event is on a transaction; a compensation boundary event names its
    handler by an association and has no outgoing flow; cancel, compensation and error
    boundary events interrupt."""
    kind = node.event_kind
    if kind in _ALWAYS_INTERRUPTING and not node.cancel_activity:
        yield (f"{kind.value} boundary events always interrupt their activity (BPMN 10.5.4); "
               "remove cancelActivity=\"false\"")
    if kind == EventKind.CANCEL and (host is None or host.kind != NodeKind.TRANSACTION):
        yield ("a cancel boundary event is only allowed on a transaction subprocess "
               "(BPMN 10.5.3)")
    elif kind == EventKind.COMPENSATE:
        if node.outgoing:
            yield ("compensation boundary event has outgoing sequence flows; its handler is "
                   "joined to it by an association")
        linked = {t for s, t in process.associations if s == node.id} | {
            s for s, t in process.associations if t == node.id}
        if not any(h in process.nodes and process.nodes[h].is_for_compensation
                   and process.nodes[h].kind in ACTIVITY_KINDS for h in linked):
            yield ("compensation boundary event has no handler: associate it with an activity "
                   "marked isForCompensation=\"true\"")


def check_activity_ref(process: Process, node: FlowNode) -> Iterator[str]:
    """The activity a compensation throw names is in its scope (or, in a compensation event
    subprocess, in the subprocess it compensates)."""
    ed = node.event_definition
    ref = ed.ref if ed is not None else None
    if ref is None:
        return
    target = process.nodes.get(ref)
    if target is None or target.kind not in ACTIVITY_KINDS:
        yield f"compensation names activityRef '{ref}', which is no activity of this process"
        return
    scopes = {node.parent}
    holder = process.nodes.get(node.parent) if node.parent else None
    if holder is not None and holder.triggered_by_event:
        scopes.add(holder.parent)
    if target.parent not in scopes:
        yield (f"compensation names activityRef '{ref}', which is not in the same scope; BPMN "
               "compensates only the activities of the throw's own scope")
