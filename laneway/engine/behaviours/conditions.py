"""Conditional events (BPMN 2.0.2 10.5.5 "Conditional", 13.5.x): a catch that fires when its
condition becomes true, evaluated when the variables it reads change, never by polling.

What waits where is derived from the live element instances and the version's index
(`ExecutableProcess.conditions`, `laneway.engine.conditionals`), so a conditional wait needs no
state and no event of its own; a process without conditional events pays one empty-mapping
test per variable write.

- When a wait opens (the catch event is reached, the activity of a boundary event or the scope
  of an event subprocess starts) the condition is evaluated once, as Camunda 7 does: if it
  already holds, the event fires at once. A boundary event's condition is evaluated as its
  activity is entered (`on_entry`: after its input mappings, before it does anything), so an
  interrupting one ends it before any inner element, job or task exists, and a
  non-interrupting one starts its path before the activity's own steps.
- Each time variables are set in the waiting element's scope or an enclosing one, and the
  names set include one the condition reads, it is evaluated again after the change.
- An intermediate catch, an interrupting boundary event and an interrupting event subprocess
  start fire when the condition holds after the change. A non-interrupting one fires only on
  the change from false to true (BPMN: the event is triggered when the condition *becomes*
  true), not on every change while it stays true: its value before the change is taken from
  the state just before the variables are written, so no memory survives between commands.
- A condition that fails to evaluate (a variable not set yet, a value of the wrong type)
  does not hold.
"""

from __future__ import annotations

import functools
from collections.abc import Collection

from laneway.engine.behaviours import variables as vars_
from laneway.engine.conditionals import ConditionalCatch
from laneway.engine.context import Processing
from laneway.engine.expressions import evaluate_condition
from laneway.engine.state import MI_BODY_KIND, ElementInstance
from laneway.expr import ExpressionError
from laneway.model import EventKind, NodeKind

_Key = tuple[int, str]


def open_wait(ctx: Processing, owner: ElementInstance, catch_id: str) -> None:
    """A conditional wait opened: look at its condition once the current step is done (the
    activity or scope has then started, and its own variables are set)."""
    owner_key = owner.key
    ctx.later(lambda: _look(ctx, owner_key, catch_id))


def on_entry(ctx: Processing, owner: ElementInstance) -> bool:
    """`owner` (an activity, or a multi-instance body) was just activated and has not done
    anything yet: fire each of its conditional boundary events that holds already, in document
    order, before the activity runs (Camunda 7 evaluates them on entry; the wait that opens
    with the boundary events after the activity ran then finds them seen). False when an
    interrupting one ended `owner`."""
    for waiting in ctx.proc.conditions.get(owner.element_id, ()):
        catch = waiting.catch
        if catch.kind != NodeKind.BOUNDARY_EVENT or not _is_open(ctx, owner, waiting):
            continue
        holds = _holds(ctx, owner, waiting)
        ctx.conditions_seen[(owner.key, catch.id)] = holds
        if not holds:
            continue
        from laneway.engine.behaviours import waits  # waits opens conditional waits through us

        waits.fire(ctx, owner, catch.id, waits.Arrival(EventKind.CONDITIONAL))
        if owner.key not in ctx.inst.elements:
            return False
    return True


def before_change(ctx: Processing, scope_key: int, names: Collection[str]) -> None:
    """Variables `names` are about to be set in `scope_key`: remember the value of every open
    condition that reads one of them (as it is now) and look at it again after the change."""
    if not any(n in waiting.names for catches in ctx.proc.conditions.values()
               for waiting in catches for n in names):
        return  # no condition reads these (an inner instance's loopCounter, say)
    looking: list[_Key] = []
    seen = ctx.conditions_seen
    for owner, waiting in _open_waits(ctx):
        if not any(n in waiting.names for n in names) or not _sees(ctx, owner, scope_key):
            continue
        key = (owner.key, waiting.catch.id)
        if key not in seen:
            seen[key] = _holds(ctx, owner, waiting)
        looking.append(key)
    for owner_key, catch_id in looking:
        ctx.later(functools.partial(_look, ctx, owner_key, catch_id))


def _look(ctx: Processing, owner_key: int, catch_id: str) -> None:
    owner = ctx.inst.elements.get(owner_key)
    if owner is None:
        return
    waiting = next((c for c in ctx.proc.conditions.get(owner.element_id, ())
                    if c.catch.id == catch_id), None)
    if waiting is None or not _is_open(ctx, owner, waiting):
        return
    key = (owner_key, catch_id)
    before = ctx.conditions_seen.get(key)
    now = _holds(ctx, owner, waiting)
    ctx.conditions_seen[key] = now
    if not now:
        return
    if waiting.edge and before:
        # still true: a non-interrupting event fires on the change to true only (or, as the
        # wait opens, it held already when a change in this command was looked at first)
        return
    from laneway.engine.behaviours import waits  # waits opens conditional waits through us

    waits.fire(ctx, owner, catch_id, waits.Arrival(EventKind.CONDITIONAL))


def _holds(ctx: Processing, owner: ElementInstance, waiting: ConditionalCatch) -> bool:
    seen = vars_.visible(ctx.inst, owner.key)
    for condition in waiting.conditions:
        try:
            if evaluate_condition(condition, seen):
                return True
        except ExpressionError:
            continue
    return False


def _open_waits(ctx: Processing) -> list[tuple[ElementInstance, ConditionalCatch]]:
    conditions = ctx.proc.conditions
    out: list[tuple[ElementInstance, ConditionalCatch]] = []
    for elem in list(ctx.inst.elements.values()):
        for waiting in conditions.get(elem.element_id, ()):
            if _is_open(ctx, elem, waiting):
                out.append((elem, waiting))
    return out


def _is_open(ctx: Processing, owner: ElementInstance, waiting: ConditionalCatch) -> bool:
    """Whether `owner` waits on this catch now (the element ids match; the kind of element
    instance tells a multi-instance body from its inner instances)."""
    catch = waiting.catch
    proc = ctx.proc
    if catch.kind == NodeKind.BOUNDARY_EVENT:
        host = proc.node(owner.element_id)
        multi = host.loop is not None and host.loop.multi_instance
        return (owner.kind == MI_BODY_KIND) == multi
    if catch.kind == NodeKind.START_EVENT:
        if owner.kind == MI_BODY_KIND:
            return False
        # an interrupting event subprocess running in the scope ends the scope's other waits
        for elem in ctx.inst.elements.values():
            if elem.scope_key != owner.key or elem.kind == MI_BODY_KIND:
                continue
            node = proc.process.nodes.get(elem.element_id)
            if node is not None and node.triggered_by_event:
                start = proc.esp_starts.get(node.id)
                if start is not None and start.interrupting:
                    return False
        return True
    if owner.element_id == catch.id:
        return owner.kind == catch.kind.value
    return owner.kind == NodeKind.EVENT_BASED_GATEWAY.value


def _sees(ctx: Processing, owner: ElementInstance, scope_key: int) -> bool:
    """Whether variables set on `scope_key` are visible to `owner` (its own or an enclosing
    scope's)."""
    elements = ctx.inst.elements
    current: ElementInstance | None = owner
    depth = 0
    while current is not None and depth < 10_000:
        if current.key == scope_key:
            return True
        current = elements.get(current.scope_key) if current.scope_key else None
        depth += 1
    return False
