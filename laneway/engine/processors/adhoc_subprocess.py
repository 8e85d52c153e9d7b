"""Ad-hoc subprocesses (BPMN 2.0.2 10.3.5 "Ad-Hoc Sub-Process"), the agent workspace: which
inner activities run, in what order and how often is chosen while it runs.

The activities that can be started are the inner nodes without an incoming flow (the scope's
entry nodes); flows between inner nodes are followed as usual once such a node ran.

Who chooses:
- a decision handler, when the subprocess is marked `laneway:decision` (`handler`, or a
  connector type such as `llm`): a decision job (type `decision` or the connector's) lists the
  activities that can be started (id, name, kind, attribute bag, documentation, how often
  each ran), what runs now and how many choices were made; `SUBMIT_DECISION {jobKey,
  activities, done?, variables?}` starts the named activities now, in that order, and `done:
  true` takes no more choices (the subprocess completes once what runs has finished). An
  answer that starts nothing and is not done ("wait for what runs") is refused when
  `Sequential` (the handler is only asked when nothing runs); when `Parallel` it is accepted
  and, if nothing runs any more (what ran finished while the handler thought), the handler is
  asked again with a new job. More than `Limits.max_adhoc_decisions` choices in one
  subprocess instance is an incident (`CONDITION_ERROR`) instead of another job, so a loop of
  such answers ends there.
- otherwise the engine, in the order the activities are written (as Betsy's diagrams
  expect): each activity without an incoming flow runs once; `Sequential` one after the
  other, `Parallel` all at once. The subprocess completes when all have run.

`ordering="Sequential"` allows one inner activity at a time (a handler is asked only when
nothing runs, and may name one); `Parallel` (BPMN's default) several, and a handler is asked
again each time an inner activity completes. The `completionCondition` is evaluated after
each inner activity completes: when it holds, no more is started; with
`cancelRemainingInstances="true"` (BPMN's default) what still runs is terminated and the
subprocess completes at once, else it completes when that has finished.

Every choice is an AD_HOC_DECIDED event (`activities`, `done`, `decidedBy`: `handler`,
`engine` or `completionCondition`), and a handler's carries the principal of its answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from laneway.engine.behaviours import flow, waits, work
from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.expressions import compiles, evaluate_condition
from laneway.engine.processors.subprocess import SubProcessProcessor
from laneway.engine.state import ElementInstance, Job
from laneway.expr import ExpressionError
from laneway.model import FlowNode, Process
from laneway.model._elements import ACTIVITY_KINDS
from laneway.records import Event, IncidentType, RejectionType

DECISION_JOB_TYPE = "decision"
SEQUENTIAL = "Sequential"


class AdHocSubProcessProcessor(SubProcessProcessor):
    """Starts the inner activities a handler (or the default order) chooses; completes when
    the choices are done and nothing runs inside."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        if elem.adhoc_decisions == 0:
            waits.open_event_subprocesses(ctx, elem, node.id)
        # again after an incident: choose from where it stopped
        if not _choose(ctx, elem, node):
            ctx.later(lambda: flow.check_scope(ctx, elem.key))

    def on_empty(self, ctx: Processing, scope: ElementInstance) -> None:
        if any(i.element_key == scope.key for i in ctx.inst.incidents.values()):
            return  # stopped at an incident (the limit of choices): resolving picks up
        node = ctx.proc.node(scope.element_id)
        if scope.adhoc_done or not _choose(ctx, scope, node):
            flow.complete(ctx, scope)

    def on_child_completed(
        self,
        ctx: Processing,
        scope: ElementInstance,
        child: ElementInstance,
        node: FlowNode,
        flows: Sequence[str] | None,
        trigger: dict[str, Any] | None,
    ) -> None:
        flow.move_on(ctx, scope, child, node, flows, trigger)
        if node.kind not in ACTIVITY_KINDS or scope.adhoc_done:
            return
        adhoc = ctx.proc.node(scope.element_id)
        if adhoc.completion_condition is not None:
            try:
                holds = evaluate_condition(adhoc.completion_condition,
                                           vars_.visible(ctx.inst, scope.key))
            except ExpressionError as exc:
                work.raise_incident(ctx, scope, IncidentType.CONDITION_ERROR,
                                    "Expected to evaluate the completion condition of "
                                    f"'{adhoc.id}', but {exc}")
                return
            if holds:
                _finish(ctx, scope, adhoc)
                return
        if adhoc.ordering != SEQUENTIAL and adhoc.decision_handler:
            # Parallel: the handler may start more while others still run (when nothing runs,
            # `on_empty` asks)
            key = scope.key

            def ask() -> None:
                live = ctx.inst.elements.get(key)
                if live is not None and not live.adhoc_done and _running(ctx, live):
                    _choose(ctx, live, adhoc)

            ctx.later(ask)

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        cond = node.completion_condition
        if cond is not None and not compiles(cond):
            yield f"completion condition '{cond.raw}' cannot be evaluated by the engine"


def _finish(ctx: Processing, scope: ElementInstance, node: FlowNode) -> None:
    """The completion condition holds: no more choices; what runs is terminated (BPMN's
    default) or finishes first."""
    ctx.write_element(Event.AD_HOC_DECIDED, scope, {
        "activities": [], "done": True, "decidedBy": "completionCondition"})
    if node.cancel_remaining:
        flow.terminate_children(ctx, scope)
        flow.complete(ctx, scope)
        return
    job = ctx.inst.jobs.get(scope.key)
    if job is not None:
        ctx.write_element(Event.JOB_CANCELED, scope, {"key": job.key, "type": job.type})
    ctx.later(lambda: flow.check_scope(ctx, scope.key))


def _running(ctx: Processing, scope: ElementInstance) -> bool:
    return scope.children > 0 or ctx.in_flight.get(scope.key, 0) > 0


def startable(ctx: Processing, node: FlowNode) -> tuple[FlowNode, ...]:
    """The inner nodes a choice may start: those without an incoming flow, in the order they
    are written."""
    return ctx.proc.entry_nodes.get(node.id, ())


def _choose(ctx: Processing, elem: ElementInstance, node: FlowNode) -> bool:
    """Make (or ask for) the next choice; False when there is nothing left to choose and
    nothing runs, so the subprocess may complete."""
    if elem.key in ctx.inst.jobs:
        return True  # a handler is deciding
    running = _running(ctx, elem)
    if node.ordering == SEQUENTIAL and running:
        return True
    if node.decision_handler:
        request(ctx, elem, node)
        return True
    runs = elem.adhoc_runs or {}
    left = [n for n in startable(ctx, node) if n.id not in runs]
    if not left:
        return running
    chosen = left[:1] if node.ordering == SEQUENTIAL else left
    ctx.write_element(Event.AD_HOC_DECIDED, elem, {
        "activities": [n.id for n in chosen], "done": False, "decidedBy": "engine"})
    for n in chosen:
        flow.arrive_later(ctx, elem.key, n, None, 0)
    return True


def request(ctx: Processing, elem: ElementInstance, node: FlowNode,
            retries: int | None = None) -> None:
    """A decision job listing what can be started and what ran; beyond the limit of choices,
    an incident instead."""
    most = ctx.limits.max_adhoc_decisions
    if elem.adhoc_decisions >= most:
        work.raise_incident(ctx, elem, IncidentType.CONDITION_ERROR,
                            f"Expected at most {most} choices in ad-hoc subprocess "
                            f"'{node.id}', but its handler was to be asked again; cancel the "
                            "instance or raise the limit")
        return
    runs = elem.adhoc_runs or {}
    activities = [{
        "id": n.id, "name": n.name, "kind": n.kind.value, "attributes": dict(n.attrs),
        "documentation": n.documentation, "runs": runs.get(n.id, 0)}
        for n in startable(ctx, node)]
    running = [e.element_id for e in ctx.inst.elements.values() if e.scope_key == elem.key]
    work.create_job(ctx, elem, node, node.decision_type or DECISION_JOB_TYPE, {
        "decision": True, "adHoc": True, "ordering": node.ordering,
        "activities": activities, "running": running, "decisions": elem.adhoc_decisions,
        "maxDecisions": most,
        "completionCondition": (node.completion_condition.raw
                                if node.completion_condition else None)}, retries=retries)


def submit(ctx: Processing, job: Job, elem: ElementInstance, node: FlowNode,
           variables: dict[str, Any]) -> None:
    """SUBMIT_DECISION on an ad-hoc subprocess's decision job: start the named activities
    (`activities`), take no more choices (`done`), set `variables`."""
    value = ctx.cmd.value
    activities = value.get("activities", [])
    done = value.get("done", False)
    if not isinstance(done, bool):
        ctx.reject("Expected done to be true or false", RejectionType.INVALID_ARGUMENT)
        return
    if not isinstance(activities, list) or not all(isinstance(a, str) for a in activities):
        ctx.reject("Expected activities to be a list of activity ids",
                   RejectionType.INVALID_ARGUMENT)
        return
    known = {n.id: n for n in startable(ctx, node)}
    unknown = [a for a in activities if a not in known]
    if unknown:
        ctx.reject(f"Expected activities of ad-hoc subprocess '{node.id}' that can be "
                   f"started ({', '.join(known) or 'none'}), but got {unknown[:10]}",
                   RejectionType.INVALID_ARGUMENT)
        return
    if len(set(activities)) != len(activities):
        ctx.reject("Expected each activity at most once in one choice",
                   RejectionType.INVALID_ARGUMENT)
        return
    if node.ordering == SEQUENTIAL and len(activities) > 1:
        ctx.reject(f"Expected at most one activity: ad-hoc subprocess '{node.id}' is "
                   f"sequential, but got {len(activities)}", RejectionType.INVALID_ARGUMENT)
        return
    if not activities and not done and node.ordering == SEQUENTIAL and not _running(ctx, elem):
        # a sequential handler is only asked when nothing runs: "wait" is never stale there
        ctx.reject("Expected activities to start or done: true, since nothing runs in "
                   f"ad-hoc subprocess '{node.id}'", RejectionType.INVALID_ARGUMENT)
        return
    # Parallel: a "wait" answer may be stale (what ran when the job was created finished while
    # the handler thought); it is accepted, and with nothing running `on_empty` asks again,
    # each time counted against `max_adhoc_decisions`, so a loop of such answers ends in the
    # limit's incident rather than in a job nobody answers
    ctx.write_element(Event.JOB_COMPLETED, elem, {"key": job.key, "type": job.type,
                                                  "variables": variables})
    vars_.propagate(ctx, elem.key, variables)
    ctx.write_element(Event.AD_HOC_DECIDED, elem, {
        "activities": list(activities), "done": done, "decidedBy": "handler"})
    for a in activities:
        flow.arrive_later(ctx, elem.key, known[a], None, 0)
    key = elem.key
    ctx.later(lambda: flow.check_scope(ctx, key))
