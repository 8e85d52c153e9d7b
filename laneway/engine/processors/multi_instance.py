"""Multi-instance activities: a body element holds the inner instances, parallel or one
after another, over a collection or a cardinality, with a completion condition and an
output collection.

A token reaching a multi-instance activity activates the body (`on_arrive`; element type
`multiInstanceBody`, with the activity's id), which evaluates the input collection or the
cardinality (an error, or more than `Limits.max_instances_per_element`, is an incident on
the body), sets the output collection to as many empty slots, opens the activity's boundary
events on itself, and starts the first inner instance (sequential) or all of them
(parallel). Each inner instance is the activity itself, with `loopCounter` (from 1, or from 0
in the Camunda 7 / Activiti / Flowable dialects: `Definitions.dialect`) and the element
variable as local variables. When an inner instance completes (`on_child_completed`), its
output element goes into its slot of the output collection; then the completion condition
(which sees `nrOfInstances`, `nrOfCompletedInstances`, `nrOfActiveInstances`) may end the body
early, terminating the inner instances still running; otherwise the next one starts (sequential)
or, after the last, the body completes (`on_complete`), handing the output collection to the
enclosing scopes and taking the activity's outgoing flows.

Deploy: an input collection or a loop cardinality (`check`, asked for every multi-instance
activity whatever its kind).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from laneway.bpmn._dialect import ZERO_BASED_LOOP_COUNTER
from laneway.engine.behaviours import compensation, conditions, flow, mi_events, waits, work
from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.expressions import evaluate, evaluate_condition
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.state import MI_BODY_KIND, ElementInstance
from laneway.expr import ExpressionError
from laneway.model import FlowNode, Process
from laneway.records import Event, IncidentType

#: an incident raised as the body activated, before any inner instance: resolving it
#: activates the body again (`rearrive`)
ARRIVE_STAGE = "arrive"


def _items(ctx: Processing, key: int, node: FlowNode) -> Sequence[Any]:
    loop = node.loop
    assert loop is not None
    seen = vars_.visible(ctx.inst, key)
    if loop.collection is not None:
        value = evaluate(loop.collection, seen)
        if value is None:
            # missing or null is not an empty list: running zero times would hide it
            raise ExpressionError(
                f"Expected the input collection '{loop.collection.raw}' to be a list, but it "
                "is missing or null; set it and resolve the incident", loop.collection.text)
        if not isinstance(value, list | tuple):
            raise ExpressionError(
                f"Expected the input collection '{loop.collection.raw}' to be a list, but it is "
                f"{type(value).__name__}", loop.collection.text)
        return list(value)
    assert loop.cardinality is not None
    count = evaluate(loop.cardinality, seen)
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ExpressionError(
            f"Expected the loop cardinality '{loop.cardinality.raw}' to be a whole number, "
            f"but it is {count!r}", loop.cardinality.text)
    if count > ctx.limits.max_instances_per_element:
        # checked before the slots are made: a cardinality of 10**12 would ask for terabytes
        raise ExpressionError(
            f"Expected at most {ctx.limits.max_instances_per_element} instances, but the "
            f"loop cardinality is {count}", loop.cardinality.text)
    return [None] * count


class MultiInstanceBodyProcessor(ElementProcessor):
    """The body of a multi-instance activity: starts, collects and completes its inner
    instances."""

    reactivates_on_resolve = False

    def on_arrive(
        self, ctx: Processing, scope: ElementInstance, node: FlowNode,
        trigger: dict[str, Any] | None,
    ) -> None:
        _activate_body(ctx, scope, node)

    def on_complete(
        self,
        ctx: Processing,
        elem: ElementInstance,
        result: Mapping[str, Any] | None,
        flows: Sequence[str] | None,
        trigger: dict[str, Any] | None,
    ) -> None:
        node = ctx.proc.node(elem.element_id)
        _hand_out_collection(ctx, elem, node)
        flow.leave_element(ctx, elem, node, flows, trigger)

    def on_child_completed(
        self,
        ctx: Processing,
        scope: ElementInstance,
        child: ElementInstance,
        node: FlowNode,
        flows: Sequence[str] | None,
        trigger: dict[str, Any] | None,
    ) -> None:
        # an inner instance: its flows are the body's to take, once the body completes
        _collect_output(ctx, scope, child, node)
        if ctx.proc.compensation is not None:
            # each completed iteration is compensable on its own (BPMN 13.5.7)
            compensation.completing(ctx, ctx.proc.compensation, child)
        ctx.write_element(Event.ELEMENT_COMPLETED, child, {"key": child.key})
        _on_inner_completed(ctx, scope, node)

    def check(self, process: Process, node: FlowNode) -> Iterator[str]:
        loop = node.loop
        if loop is not None and not (loop.collection or loop.cardinality):
            yield ("multi-instance activity has neither an input collection nor a loop "
                   "cardinality")
        yield from mi_events.check(node)
        if loop is not None and loop.cardinality is not None:
            literal = _literal_int(loop.cardinality.text)
            if literal is not None and literal < 0:
                yield (f"loopCardinality is {literal}, but an activity cannot run a negative "
                       "number of instances")


def _literal_int(text: str) -> int | None:
    """The whole number `text` writes as a literal (`-1`, `=-3`), None for anything else."""
    text = text.strip().removeprefix("=").strip()
    try:
        return int(text)
    except ValueError:
        return None


def rearrive(ctx: Processing, body: ElementInstance) -> None:
    """Resolving an incident raised when the body activated (no inner instance started):
    the body ends and the token arrives at the activity again, evaluating its collection or
    cardinality anew."""
    node = ctx.proc.node(body.element_id)
    scope_key = body.scope_key
    flow.terminate(ctx, body)
    flow.activate(ctx, scope_key, node)


def _activate_body(ctx: Processing, scope: ElementInstance, node: FlowNode) -> None:
    """Activate the body and its first (sequential) or every (parallel) inner instance."""
    loop = node.loop
    assert loop is not None
    key = ctx.new_key()
    try:
        items = _items(ctx, scope.key, node)
        most = ctx.limits.max_instances_per_element
        error = None if len(items) <= most else (
            f"Expected at most {most} instances, but the collection has {len(items)}")
    except ExpressionError as exc:
        items, error = [], str(exc)
    ctx.write(Event.ELEMENT_ACTIVATED, {"key": key, "miTotal": len(items)}, element_id=node.id,
              element_type=MI_BODY_KIND, token_id=key, scope_id=scope.key)
    body = ctx.inst.elements[key]
    if error is not None:
        # no inner instance has started: resolving it activates the body again (stage
        # `arrive`, handlers/jobs.py), which evaluates the collection anew
        work.raise_incident(ctx, body, IncidentType.EXTRACT_VALUE_ERROR, error,
                            stage=ARRIVE_STAGE)
        return
    if loop.output_collection:
        vars_.set_local(ctx, body, {loop.output_collection: [None] * len(items)})
    if node.id in ctx.proc.conditions and not conditions.on_entry(ctx, body):
        return  # a conditional boundary event that held on entry interrupted the body
    waits.open_boundaries(ctx, body, node)
    if not items:
        flow.complete(ctx, body)
        return
    for index in range(1 if loop.sequential else len(items)):
        _start_inner(ctx, body, node, index, items[index])


def _start_inner(
    ctx: Processing, body: ElementInstance, node: FlowNode, index: int, item: Any
) -> None:
    """One inner instance, with `loopCounter` and the element variable set locally."""
    loop = node.loop
    assert loop is not None
    key = ctx.new_key()
    ctx.write(Event.ELEMENT_ACTIVATED, {"key": key, "loopCounter": index + 1},
              element_id=node.id, element_type=node.kind.value, token_id=key, scope_id=body.key)
    inner = ctx.inst.elements[key]
    # The variable follows the diagram's dialect (Camunda 7, Activiti, Flowable count from 0;
    # Zeebe and Laneway from 1); the element's own counter (the event's) stays 1-based.
    base = 0 if ctx.proc.definitions.dialect in ZERO_BASED_LOOP_COUNTER else 1
    local: dict[str, Any] = {"loopCounter": index + base}
    if loop.element_variable:
        local[loop.element_variable] = item
    vars_.set_local(ctx, inner, local)
    flow.run_activation(ctx, inner, node, None)


def _collect_output(
    ctx: Processing, body: ElementInstance, inner: ElementInstance, node: FlowNode
) -> None:
    """Put the inner instance's output element into the body's output collection."""
    loop = node.loop
    assert loop is not None
    if not loop.output_collection:
        return
    seen = vars_.visible(ctx.inst, inner.key)
    if loop.output_element is not None:
        try:
            value = evaluate(loop.output_element, seen)
        except ExpressionError:
            value = None
    else:
        value = seen.get(loop.element_variable) if loop.element_variable else None
    current = list(ctx.inst.variables.get(body.key, {}).get(loop.output_collection, []))
    index = inner.loop_counter - 1
    if 0 <= index < len(current):
        current[index] = value
        vars_.set_local(ctx, body, {loop.output_collection: current})


def _on_inner_completed(ctx: Processing, body: ElementInstance, node: FlowNode) -> None:
    """After an inner instance: stop early on the completion condition, start the next one
    (sequential), or complete the body when all are done."""
    loop = node.loop
    assert loop is not None
    if mi_events.throws_events(node) and not mi_events.on_instance_completed(
            ctx, body, node, _with_counters(ctx, body)):
        return
    if loop.completion_condition is not None:
        counters = {
            "nrOfInstances": body.mi_total,
            "nrOfCompletedInstances": body.mi_completed,
            "nrOfActiveInstances": body.children,
            "numberOfInstances": body.mi_total,
            "numberOfCompletedInstances": body.mi_completed,
            "numberOfActiveInstances": body.children,
        }
        seen = ChainMap(counters, *vars_.visible(ctx.inst, body.key).maps)
        try:
            done = evaluate_condition(loop.completion_condition, seen)
        except ExpressionError as exc:
            work.raise_incident(ctx, body, IncidentType.CONDITION_ERROR,
                                f"Expected to evaluate the completion condition, but {exc}",
                                stage="complete")
            return
        if done:
            flow.terminate_children(ctx, body)
            flow.complete(ctx, body)
            return
    if body.mi_completed >= body.mi_total:
        flow.complete(ctx, body)
        return
    if loop.sequential and body.children == 0:
        try:
            items = _items(ctx, body.key, node)
        except ExpressionError as exc:
            work.raise_incident(ctx, body, IncidentType.EXTRACT_VALUE_ERROR, str(exc),
                                stage="complete")
            return
        index = body.mi_started
        _start_inner(ctx, body, node, index, items[index] if index < len(items) else None)


def _with_counters(ctx: Processing, body: ElementInstance) -> ChainMap[str, Any]:
    """The variables the body sees, under the instance counters."""
    counters = {
        "nrOfInstances": body.mi_total,
        "nrOfCompletedInstances": body.mi_completed,
        "nrOfActiveInstances": body.children,
    }
    return ChainMap(counters, *vars_.visible(ctx.inst, body.key).maps)


def _hand_out_collection(ctx: Processing, body: ElementInstance, node: FlowNode) -> None:
    """On completion, the output collection goes to the body's enclosing scopes."""
    loop = node.loop
    if loop is None or not loop.output_collection:
        return
    value = ctx.inst.variables.get(body.key, {}).get(loop.output_collection)
    vars_.propagate(ctx, body.scope_key, {loop.output_collection: value})
