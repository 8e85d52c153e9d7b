"""Variable scopes: reading what an element sees, and writing where a value belongs."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance, InstanceState
from laneway.records import Event

# written at most steps, read once (an enum member read from its class is a descriptor call)
_UPDATED = Event.VARIABLES_UPDATED


def visible(inst: InstanceState, key: int) -> ChainMap[str, Any]:
    """The variables an element instance sees: its own, then each enclosing scope's."""
    maps: list[dict[str, Any]] = []
    elements = inst.elements
    current: int = key
    while True:
        local = inst.variables.get(current)
        if local:
            maps.append(local)
        elem = elements.get(current)
        if elem is None or elem.scope_key == 0:
            break
        current = elem.scope_key
    return ChainMap(*maps)


def set_local(ctx: Processing, elem: ElementInstance, values: Mapping[str, Any]) -> None:
    """Set variables on the element's own scope."""
    if values:
        if ctx.proc.conditions:
            _conditions_before(ctx, elem.key, values)
        ctx.write_element(_UPDATED, elem, {"variables": dict(values)})


def propagate(ctx: Processing, start_key: int, values: Mapping[str, Any]) -> None:
    """Set each variable in the nearest scope (from `start_key` up) that already has it, else in
    the process instance's scope, as Camunda and Zeebe do."""
    if not values:
        return
    inst = ctx.inst
    by_scope: dict[int, dict[str, Any]] = {}
    for name, value in values.items():
        current = start_key
        target = inst.root_key
        while current:
            if name in inst.variables.get(current, ()):
                target = current
                break
            elem = inst.elements.get(current)
            if elem is None:
                break
            current = elem.scope_key
        by_scope.setdefault(target, {})[name] = value
    for scope_key, vals in by_scope.items():
        scope = inst.elements[scope_key]
        if ctx.proc.conditions:
            _conditions_before(ctx, scope_key, vals)
        ctx.write_element(_UPDATED, scope, {"variables": vals})


def _conditions_before(ctx: Processing, scope_key: int, values: Mapping[str, Any]) -> None:
    # only diagrams with conditional events come here; imported here, as conditions reads
    # variables through this module
    from laneway.engine.behaviours import conditions

    conditions.before_change(ctx, scope_key, values)
