"""Compensation (BPMN 2.0.2, 13.5.7) and the cancel of a transaction (10.3.x).

Only an activity that completed can be compensated. When one that has a compensation handler
completes (an activity with a compensation boundary event whose association names a handler
marked `isForCompensation`, or a subprocess with a compensation event subprocess), it becomes
*compensable* in its scope: `COMPENSATION_SUBSCRIPTION_CREATED` keeps its key, id and local
variables in `InstanceState.compensations[scope key]`, in the order things completed. A
subprocess or multi-instance body that completes takes along what became compensable inside
it (its activities, its iterations), so compensating it later runs their handlers.

A compensation throw or end event (or a cancel end event in a transaction) takes the
compensable activities of its scope (all, or those of its `activityRef`) and writes
`COMPENSATION_STARTED` with the handlers to run, in reverse order of completion: an activity
with its own handler gives that handler; a subprocess with a compensation event subprocess
gives that event subprocess (which starts with what completed inside, so a compensation throw
in it compensates those); a subprocess or body without one gives, in reverse order, what
completed inside it (the default compensation handler). Taken activities are compensable no
more. The handlers then run one after another in the thrower's scope, each with the
compensated activity's variables as local variables (`COMPENSATION_HANDLER_ACTIVATED`, then
the handler's own element events), and `COMPENSATION_COMPLETED` ends the compensation. A
thrower with `waitForCompletion` (the default) completes only then; otherwise at once, and
the handlers run beside the token.

A diagram without compensation has no index (`ExecutableProcess.compensation` is None) and
pays one check per completed element; nothing is kept in its instances' state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from laneway.engine.behaviours import flow, waits
from laneway.engine.behaviours import variables as vars_
from laneway.engine.behaviours.waits import Arrival
from laneway.engine.context import Processing
from laneway.engine.executable import CompensationIndex
from laneway.engine.state import MI_BODY_KIND, CompensationRun, CompensationSub, ElementInstance
from laneway.model import EventKind, FlowNode, NodeKind
from laneway.records import Event

_SUBPROCESSES = frozenset({NodeKind.SUB_PROCESS.value, NodeKind.TRANSACTION.value})


def completing(ctx: Processing, comp: CompensationIndex, elem: ElementInstance) -> None:
    """Before `elem` completes: make it compensable in its scope when it has a handler or
    something inside it is (a handler's own completion never is)."""
    inst = ctx.inst
    if inst.compensation_runs and _run_of_handler(ctx, elem.key) is not None:
        if inst.compensations.get(elem.key):
            # what a compensation event subprocess left uncompensated ends with it
            _drop(ctx, elem)
        return
    own = elem.kind != MI_BODY_KIND and (
        elem.element_id in comp.handlers or elem.element_id in comp.event_subprocesses)
    if not own and not inst.compensations.get(elem.key):
        return
    ctx.write_element(Event.COMPENSATION_SUBSCRIPTION_CREATED, elem, {
        "elementKey": elem.key, "kind": elem.kind,
        "variables": dict(inst.variables.get(elem.key, {}))})


def completed(ctx: Processing, key: int) -> None:
    """After the element `key` completed: when it was a running handler, the next one
    starts (on the agenda, so a long run does not nest)."""
    run = _run_of_handler(ctx, key)
    if run is not None:
        _next_later(ctx, run.thrower_key)


def terminating(ctx: Processing, elem: ElementInstance) -> None:
    """`elem` is terminated: what became compensable inside it ends with it (but for the
    completed iterations of a multi-instance body), and so does a compensation it was
    throwing; a handler of one that is interrupted lets the next handler run."""
    inst = ctx.inst
    if inst.compensations.get(elem.key):
        if elem.kind == MI_BODY_KIND:
            # the iterations that completed stay compensable, each on its own (BPMN 13.5.7
            # compensates every completed instance of a multi-instance activity)
            ctx.write_element(Event.COMPENSATION_SUBSCRIPTION_CREATED, elem, {
                "elementKey": elem.key, "kind": elem.kind,
                "variables": dict(inst.variables.get(elem.key, {}))})
        else:
            _drop(ctx, elem)
    for run in list(inst.compensation_runs.values()):
        if run.thrower_key == elem.key:
            ctx.write(Event.COMPENSATION_COMPLETED,
                      {"throwerKey": run.thrower_key, "aborted": True},
                      element_id=run.thrower_id, element_type=run.thrower_kind,
                      token_id=run.thrower_key, scope_id=run.scope_key)
        elif run.handler_key == elem.key:
            # a handler interrupted (by its own boundary event) is over: the next one runs;
            # if its scope is being terminated, the run ends with it instead (`_next`)
            _next_later(ctx, run.thrower_key)


def ended(ctx: Processing, scope: ElementInstance) -> None:
    """The process completes: what is still compensable in it never will be compensated."""
    if ctx.inst.compensations.get(scope.key):
        _drop(ctx, scope)


def _next_later(ctx: Processing, thrower: int) -> None:
    ctx.later(lambda: _next(ctx, thrower))


def _drop(ctx: Processing, elem: ElementInstance) -> None:
    ctx.write_element(Event.COMPENSATION_SUBSCRIPTIONS_DELETED, elem, {"scopeKey": elem.key})


def _run_of_handler(ctx: Processing, key: int) -> CompensationRun | None:
    for run in ctx.inst.compensation_runs.values():
        if run.handler_key == key:
            return run
    return None


# -- throwing -----------------------------------------------------------------------------------

def throw(ctx: Processing, thrower: ElementInstance, node: FlowNode) -> bool:
    """A compensation throw or end event: compensate its scope's compensable activities (or
    those of its `activityRef`). True when the thrower waits for the handlers (it completes
    when they are done); False when it goes on now."""
    ed = node.event_definition
    ref = ed.ref if ed is not None else None
    wait = ed.wait_for_completion if ed is not None else True
    return start(ctx, thrower, _compensated_scope(ctx, thrower), ref, wait=wait)


def _compensated_scope(ctx: Processing, thrower: ElementInstance) -> int:
    """The scope whose activities a throw compensates: its own, but for a throw in an event
    subprocess (not a compensation one, which has its subprocess's activities as its own),
    that of the scope the event subprocess runs in (BPMN 10.5.6)."""
    scope = ctx.inst.elements.get(thrower.scope_key)
    if scope is None or scope.kind not in _SUBPROCESSES:
        return thrower.scope_key
    node = ctx.proc.node(scope.element_id)
    start = ctx.proc.esp_starts.get(node.id)
    if node.triggered_by_event and start is not None and start.event_kind != EventKind.COMPENSATE:
        return scope.scope_key
    return thrower.scope_key


def start(ctx: Processing, thrower: ElementInstance, scope_key: int, activity_ref: str | None,
          *, wait: bool) -> bool:
    """Start compensating the compensable activities of `scope_key` (those of `activity_ref`,
    or all), their handlers running in the thrower's scope. True when the thrower must wait."""
    inst = ctx.inst
    comp = ctx.proc.compensation
    subs = inst.compensations.get(scope_key, [])
    chosen = [s for s in subs if activity_ref is None or s.element_id == activity_ref]
    if comp is None or not chosen:
        return False
    steps = [step for sub in reversed(chosen) for step in _steps(comp, sub, ())]
    value: dict[str, Any] = {
        "scopeKey": scope_key, "compensated": [s.key for s in chosen], "handlers": steps,
        "wait": wait}
    if activity_ref is not None:
        value["activityRef"] = activity_ref
    ctx.write_element(Event.COMPENSATION_STARTED, thrower, value)
    key = thrower.key
    # on the agenda: the caller first sees the run under way, whatever the handlers do
    ctx.later(lambda: _next(ctx, key))
    return wait


def _steps(comp: CompensationIndex, sub: CompensationSub,
           outer: tuple[int, ...]) -> Iterator[dict[str, Any]]:
    """The handlers that compensate `sub`, in the order they run: each names the compensated
    activity by its `path` of keys from the scope's compensable activities down (the applier
    finds its variables there, so the event does not copy them), its `handler` and, for a
    compensation event subprocess, `scoped` (it takes what completed inside)."""
    path = (*outer, sub.key)
    if sub.kind != MI_BODY_KIND:
        handler = comp.handlers.get(sub.element_id)
        if handler is not None:
            yield {"path": list(path), "handler": handler}
            return
        esp = comp.event_subprocesses.get(sub.element_id)
        if esp is not None:
            yield {"path": list(path), "handler": esp, "scoped": True}
            return
    # the default compensation handler: what completed inside, last first
    for inner in reversed(sub.inner):
        yield from _steps(comp, inner, path)


def _next(ctx: Processing, thrower_key: int) -> None:
    """Start the next handler of a compensation, or end it."""
    inst = ctx.inst
    run = inst.compensation_runs.get(thrower_key)
    if run is None:
        return  # aborted meanwhile
    if not run.pending or run.scope_key not in inst.elements:
        _finish(ctx, run)
        return
    step = run.pending[0]
    proc = ctx.proc
    handler = proc.node(step.handler)
    key = ctx.new_key()
    ctx.write(Event.COMPENSATION_HANDLER_ACTIVATED, {
        "throwerKey": thrower_key, "elementKey": step.key, "elementId": step.element_id},
        element_id=handler.id, element_type=handler.kind.value, token_id=key,
        scope_id=run.scope_key)
    ctx.write(Event.ELEMENT_ACTIVATED, {"key": key}, element_id=handler.id,
              element_type=handler.kind.value, token_id=key, scope_id=run.scope_key)
    elem = inst.elements[key]
    if step.variables:
        vars_.set_local(ctx, elem, step.variables)
    if handler.triggered_by_event:
        flow.start_scope(ctx, elem, handler.id, start=proc.esp_starts[handler.id])
        return
    flow.run_activation(ctx, elem, handler, None)
    if key in inst.elements and handler.id in proc.boundaries:
        waits.open_boundaries(ctx, elem, handler)


def _finish(ctx: Processing, run: CompensationRun) -> None:
    inst = ctx.inst
    ctx.write(Event.COMPENSATION_COMPLETED, {"throwerKey": run.thrower_key},
              element_id=run.thrower_id, element_type=run.thrower_kind,
              token_id=run.thrower_key, scope_id=run.scope_key)
    thrower = inst.elements.get(run.thrower_key)
    if not run.wait or thrower is None:
        scope_key = run.scope_key
        ctx.later(lambda: flow.check_scope(ctx, scope_key))
        return
    if ctx.proc.node(thrower.element_id).event_kind == EventKind.CANCEL:
        cancelled(ctx, thrower)
    else:
        flow.complete(ctx, thrower)


# -- transactions ---------------------------------------------------------------------------

def cancel(ctx: Processing, end: ElementInstance) -> None:
    """A cancel end event in a transaction: every other element in it is terminated, what
    completed in it is compensated (last first), then its cancel boundary event is taken."""
    inst = ctx.inst
    tx = inst.elements[end.scope_key]
    flow.terminate_children(ctx, tx, keep=end.key)
    if start(ctx, end, tx.key, None, wait=True):
        return  # the boundary is taken when the compensation completes
    cancelled(ctx, end)


def cancelled(ctx: Processing, end: ElementInstance) -> None:
    """The transaction's compensation is done: its cancel boundary event interrupts it."""
    inst = ctx.inst
    proc = ctx.proc
    tx = inst.elements[end.scope_key]
    outer = inst.elements.get(tx.scope_key)
    # on a multi-instance transaction the boundary is on the body
    owner = outer if outer is not None and outer.kind == MI_BODY_KIND else tx
    boundary = next((b for b in proc.boundaries.get(tx.element_id, ())
                     if b.event_kind == EventKind.CANCEL), None)
    if boundary is None:
        # refused at deploy; an older deployment still ends the transaction
        flow.terminate(ctx, owner)
        scope_key = owner.scope_key
        ctx.later(lambda: flow.check_scope(ctx, scope_key))
        return
    waits.fire(ctx, owner, boundary.id, Arrival(EventKind.CANCEL))


def is_transaction(node: FlowNode | None) -> bool:
    """Whether `node` is a transaction subprocess."""
    return node is not None and node.kind == NodeKind.TRANSACTION
