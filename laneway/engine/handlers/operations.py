"""An operator's operations on a running instance: set variables in a scope, and modify the
instance (activate an element, terminate an element instance, move a token), as Camunda's
process instance modification and Zeebe's ModifyProcessInstance do. Migration to another
version is in `migration.py`.

A modification is checked whole before anything changes: every instruction applies or the
command is rejected with the reasons of each one that does not (nothing changes). Then the
terminations run, then the activations (in the order given), and each scope that lost an
element is looked at once nothing else moves: a scope with nothing left completes, and an
instance with nothing left active completes (as Zeebe does). `INSTANCE_MODIFIED` records the
instructions first, so the audit log shows what the operator asked, with the principal that
every event of the command carries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from laneway.engine.behaviours import flow, waits
from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.handlers._common import command_variables, live_instance, storable
from laneway.engine.state import MI_BODY_KIND, ElementInstance
from laneway.model import FlowNode, NodeKind
from laneway.records import Event, PrincipalKind, RejectionType

MAX_INSTRUCTIONS = 100
"""How many instructions one modification may carry (each may activate or terminate a
whole subtree: the command's work budget bounds the rest)."""

_UNSTARTABLE = frozenset({NodeKind.BOUNDARY_EVENT})


def operator_only(ctx: Processing, what: str) -> bool:
    """A person needs the role `operator` (or `admin`) for an operation on an instance; an
    agent (a batch, a script with a service token) or the engine may. Otherwise reject."""
    actor = ctx.cmd.principal
    if actor.kind is PrincipalKind.HUMAN and not actor.has_role("operator"):
        ctx.reject(f"Expected an operator to {what}, but {actor.kind.value} '{actor.id}' does "
                   "not hold the role operator", RejectionType.FORBIDDEN)
        return False
    return True


def is_key(value: object) -> bool:
    """An element instance key as a command may name it: an int, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


# -- set variables -----------------------------------------------------------------------------

def set_variables(ctx: Processing) -> None:
    """`SET_VARIABLES {scopeKey?, variables, local?}`: set variables in the process instance
    (no scope key) or in a live element instance's scope. `local` sets them on that scope
    itself; otherwise each goes to the nearest scope from there up that has it, else to the
    process instance (as a job's result does)."""
    if not live_instance(ctx) or not operator_only(ctx, "set variables"):
        return
    inst = ctx.inst
    v = ctx.cmd.value
    scope_key = v.get("scopeKey")
    if scope_key is None:
        scope = inst.elements[inst.root_key]
    else:
        found = inst.elements.get(scope_key) if is_key(scope_key) else None
        if found is None:
            ctx.reject(f"Expected scope {scope_key!r} to be a live element instance of "
                       f"instance '{inst.instance_id}', but it is not", RejectionType.NOT_FOUND)
            return
        scope = found
    local = v.get("local", False)
    if not isinstance(local, bool):
        ctx.reject("Expected local to be true or false", RejectionType.INVALID_ARGUMENT)
        return
    variables = command_variables(ctx)
    if variables is None:
        return
    if not variables:
        ctx.reject("Expected variables to set, but there are none",
                   RejectionType.INVALID_ARGUMENT)
        return
    if local:
        vars_.set_local(ctx, scope, variables)
    else:
        vars_.propagate(ctx, scope.key, variables)


# -- modify ------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Activation:
    node: FlowNode
    # the live scope the new element (or the first scope created for it) goes into
    scope_key: int
    # subprocesses to create first, outermost first (none live to hold the element)
    create: list[FlowNode] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Plan:
    terminate: list[int] = field(default_factory=list)
    activate: list[_Activation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    described: list[dict[str, Any]] = field(default_factory=list)


def modify_instance(ctx: Processing) -> None:
    """`MODIFY_INSTANCE {instructions}`: each instruction one of
    `{type: ACTIVATE, elementId, scopeKey?, variables?}`,
    `{type: TERMINATE, elementInstanceKey | elementId}`,
    `{type: MOVE, elementInstanceKey | fromElementId, elementId, variables?}`."""
    if not live_instance(ctx) or not operator_only(ctx, "modify an instance"):
        return
    instructions = ctx.cmd.value.get("instructions")
    if not isinstance(instructions, list) or not instructions:
        ctx.reject("Expected instructions: a list of ACTIVATE, TERMINATE or MOVE instructions",
                   RejectionType.INVALID_ARGUMENT)
        return
    if len(instructions) > MAX_INSTRUCTIONS:
        ctx.reject(f"Expected at most {MAX_INSTRUCTIONS} instructions, but got "
                   f"{len(instructions)}", RejectionType.INVALID_ARGUMENT)
        return
    if not storable(ctx, instructions, "instructions"):
        return
    plan = _Plan()
    for n, instruction in enumerate(instructions, 1):
        _plan_one(ctx, plan, n, instruction)
    if not plan.problems:
        _check_conflicts(ctx, plan)
    if plan.problems:
        ctx.reject(f"Expected every instruction to apply, but {len(plan.problems)} do not "
                   f"(nothing was changed): {'; '.join(plan.problems)}",
                   RejectionType.INVALID_ARGUMENT)
        return
    inst = ctx.inst
    root = inst.elements[inst.root_key]
    ctx.write_element(Event.INSTANCE_MODIFIED, root, {"instructions": plan.described})
    touched: list[int] = []
    for key in plan.terminate:
        elem = inst.elements.get(key)
        if elem is None:
            continue  # inside one terminated before it
        touched.append(elem.scope_key)
        flow.terminate(ctx, elem)
    for act in plan.activate:
        _activate(ctx, act)
    for scope_key in dict.fromkeys(touched):
        ctx.later(lambda k=scope_key: flow.check_scope(ctx, k))  # type: ignore[misc]


def _plan_one(ctx: Processing, plan: _Plan, n: int, instruction: object) -> None:
    def problem(text: str) -> None:
        plan.problems.append(f"instruction {n}: {text}")

    if not isinstance(instruction, dict):
        problem("expected an object")
        return
    kind = str(instruction.get("type", "")).upper()
    if kind == "TERMINATE":
        for key in _terminate_keys(ctx, instruction, problem):
            plan.terminate.append(key)
            plan.described.append({"type": kind, "elementInstanceKey": key,
                                   "elementId": ctx.inst.elements[key].element_id})
        return
    if kind not in ("ACTIVATE", "MOVE"):
        problem(f"expected type ACTIVATE, TERMINATE or MOVE, but got {kind[:40]!r}")
        return
    variables = instruction.get("variables") or {}
    if not isinstance(variables, dict):
        problem("expected variables to be an object")
        return
    element_id = instruction.get("elementId")
    node = ctx.proc.process.nodes.get(element_id) if isinstance(element_id, str) else None
    if node is None:
        problem(f"expected an element of process '{ctx.proc.id}' version {ctx.proc.version}, "
                f"but there is no {str(element_id)[:80]!r}")
        return
    if node.kind in _UNSTARTABLE:
        problem(f"'{node.id}' is a boundary event: it starts with its activity's event; "
                "activate the element it leads to instead")
        return
    if kind == "ACTIVATE":
        hint = instruction.get("scopeKey")
        if hint is not None and not is_key(hint):
            problem("expected scopeKey to be an element instance key")
            return
        resolved = _resolve_scope(ctx, node, hint)
        if isinstance(resolved, str):
            problem(resolved)
            return
        resolved.variables = dict(variables)
        plan.activate.append(resolved)
        plan.described.append({"type": kind, "elementId": node.id,
                               **({"scopeKey": hint} if hint is not None else {})})
        return
    _plan_move(ctx, plan, problem, instruction, node, dict(variables))


def _plan_move(ctx: Processing, plan: _Plan, problem: Callable[[str], None],
               instruction: dict[str, Any], node: FlowNode, variables: dict[str, Any]) -> None:
    sources = _move_sources(ctx, instruction)
    if isinstance(sources, str):
        problem(sources)
        return
    for source in sources:
        reason = _terminable(ctx, source.key)
        if reason:
            problem(reason)
            return
        # the token moves within the scope it is in when the target is an element of it
        hint = source.scope_key if _parent_of(ctx, node) == _scope_element_id(ctx, source) \
            else None
        resolved = _resolve_scope(ctx, node, hint)
        if isinstance(resolved, str):
            problem(resolved)
            return
        resolved.variables = dict(variables)
        plan.terminate.append(source.key)
        plan.activate.append(resolved)
        plan.described.append({"type": "MOVE", "elementInstanceKey": source.key,
                               "fromElementId": source.element_id, "elementId": node.id})


def _terminate_keys(ctx: Processing, instruction: dict[str, Any],
                    problem: Callable[[str], None]) -> list[int]:
    """The element instances a TERMINATE names: its key, or every live instance of its
    `elementId` (a multi-instance activity's body, not each inner instance)."""
    inst = ctx.inst
    element_id = instruction.get("elementId")
    if instruction.get("elementInstanceKey") is None and isinstance(element_id, str):
        live = [e for e in inst.elements.values()
                if e.element_id == element_id and e.key != inst.root_key]
        bodies = [e for e in live if e.kind == MI_BODY_KIND]
        if not live:
            problem(f"expected a live instance of '{element_id[:80]}' to terminate, but there "
                    "is none")
            return []
        return sorted(e.key for e in (bodies or live))
    key = instruction.get("elementInstanceKey")
    reason = _terminable(ctx, key)
    if reason:
        problem(reason)
        return []
    return [int(key)]  # type: ignore[arg-type]


def _move_sources(ctx: Processing, instruction: dict[str, Any]) -> list[ElementInstance] | str:
    inst = ctx.inst
    key = instruction.get("elementInstanceKey")
    if key is not None:
        elem = inst.elements.get(key) if is_key(key) else None
        if elem is None:
            return f"expected element instance {str(key)[:40]} to be live, but it is not"
        return [elem]
    source = instruction.get("fromElementId")
    if not isinstance(source, str):
        return "expected elementInstanceKey or fromElementId: what to move the token from"
    found = [e for e in inst.elements.values()
             if e.element_id == source and e.kind != MI_BODY_KIND and e.key != inst.root_key]
    if not found:
        return f"expected a live instance of '{source[:80]}' to move, but there is none"
    return found


def _terminable(ctx: Processing, key: object) -> str:
    inst = ctx.inst
    elem = inst.elements.get(key) if is_key(key) else None  # type: ignore[call-overload]
    if elem is None:
        return f"expected element instance {str(key)[:40]} to be live, but it is not"
    if elem.key == inst.root_key:
        return "the process instance itself cannot be terminated by a modification: cancel it"
    scope = inst.elements.get(elem.scope_key)
    if scope is not None and scope.kind == MI_BODY_KIND:
        return (f"element instance {elem.key} is one instance of the multi-instance activity "
                f"'{elem.element_id}': terminate its body ({scope.key}) instead")
    return ""


def _parent_of(ctx: Processing, node: FlowNode) -> str:
    return node.parent or ""


def _scope_element_id(ctx: Processing, elem: ElementInstance) -> str:
    scope = ctx.inst.elements.get(elem.scope_key)
    if scope is None or scope.key == ctx.inst.root_key:
        return ""
    return scope.element_id


def _resolve_scope(ctx: Processing, node: FlowNode, hint: int | None) -> _Activation | str:
    """Where `node` is activated: the live instance of its enclosing subprocess (the one
    `hint` names, or the only one), else a new instance of it created in the nearest live
    ancestor; a reason when that is ambiguous or impossible."""
    inst = ctx.inst
    chain: list[FlowNode] = []  # enclosing subprocesses without a live instance, innermost first
    parent_id = node.parent
    hint_elem = inst.elements.get(hint) if hint is not None else None
    if hint is not None and hint_elem is None:
        return f"expected scope {hint} to be a live element instance, but it is not"
    for _ in range(256):  # bounded: a diagram nests subprocesses far less deep
        if parent_id is None:
            if hint_elem is not None and hint_elem.key != inst.root_key:
                return (f"scope {hint} ('{hint_elem.element_id}') does not enclose "
                        f"'{node.id}'")
            return _Activation(node, inst.root_key, list(reversed(chain)))
        parent = ctx.proc.node(parent_id)
        live = [e for e in inst.elements.values()
                if e.element_id == parent_id and e.kind != MI_BODY_KIND]
        if hint_elem is not None:
            if hint_elem.element_id == parent_id and hint_elem.kind != MI_BODY_KIND:
                return _Activation(node, hint_elem.key, list(reversed(chain)))
            live = []  # the hint names an outer scope: create this one inside it
        elif len(live) == 1:
            return _Activation(node, live[0].key, list(reversed(chain)))
        elif len(live) > 1:
            keys = ", ".join(str(e.key) for e in live[:10])
            return (f"'{node.id}' is in '{parent_id}', which has {len(live)} live instances "
                    f"({keys}): name one as scopeKey")
        reason = _not_creatable(parent)
        if reason:
            return f"'{node.id}' is in {reason}, which has no live instance to activate it in"
        chain.append(parent)
        parent_id = parent.parent
    return f"'{node.id}' is nested too deeply"


def _not_creatable(node: FlowNode) -> str:
    if node.triggered_by_event:
        return f"the event subprocess '{node.id}' (its event starts it)"
    if node.loop is not None:
        return f"the {'multi-instance' if node.loop.multi_instance else 'loop'} activity " \
               f"'{node.id}' (which instance is ambiguous)"
    if node.kind != NodeKind.SUB_PROCESS:
        return f"the {node.kind.value} '{node.id}'"
    return ""


def _check_conflicts(ctx: Processing, plan: _Plan) -> None:
    """An activation into a scope that the same modification terminates would be lost."""
    ending = set(plan.terminate)
    for act in plan.activate:
        key: int = act.scope_key
        for _ in range(10_000):
            if key in ending:
                plan.problems.append(f"'{act.node.id}' would be activated in element instance "
                                     f"{act.scope_key}, which this modification terminates")
                break
            elem = ctx.inst.elements.get(key)
            if elem is None or elem.scope_key == 0:
                break
            key = elem.scope_key


def _activate(ctx: Processing, act: _Activation) -> None:
    inst = ctx.inst
    scope_key = act.scope_key
    if scope_key not in inst.elements:
        return
    for sub in act.create:
        # the scope opens as an activated subprocess does (its boundary events and event
        # subprocesses wait), but no start event runs: the element named starts inside it
        key = ctx.new_key()
        ctx.write(Event.ELEMENT_ACTIVATED, {"key": key}, element_id=sub.id,
                  element_type=sub.kind.value, token_id=key, scope_id=scope_key)
        created = inst.elements[key]
        waits.open_event_subprocesses(ctx, created, sub.id)
        if sub.id in ctx.proc.boundaries:
            waits.open_boundaries(ctx, created, sub)
        scope_key = key
    if act.variables:
        vars_.set_local(ctx, inst.elements[scope_key], act.variables)
    flow.activate(ctx, scope_key, act.node)
    ctx.later(lambda: flow.check_scope(ctx, scope_key))
