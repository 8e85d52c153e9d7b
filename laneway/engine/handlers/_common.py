"""Checks the command handlers share before they act."""

from __future__ import annotations

from laneway.engine.context import Processing
from laneway.jsonb import unstorable
from laneway.records import RejectionType


def live_instance(ctx: Processing) -> bool:
    """True when the command's instance exists and is active; otherwise reject it."""
    inst = ctx.state.instances.get(ctx.cmd.instance_id)
    if inst is None:
        ctx.reject(f"Expected an instance '{ctx.cmd.instance_id}', but there is none",
                   RejectionType.NOT_FOUND)
        return False
    if inst.status != "ACTIVE":
        ctx.reject(f"Expected instance '{inst.instance_id}' to be active, but it is "
                   f"{inst.status}", RejectionType.INVALID_STATE)
        return False
    return True


def command_variables(ctx: Processing) -> dict[str, object] | None:
    """The command's `variables` (none: empty); rejects the command when they are not an
    object."""
    variables = ctx.cmd.value.get("variables") or {}
    if not isinstance(variables, dict):
        ctx.reject("Expected variables to be an object", RejectionType.INVALID_ARGUMENT)
        return None
    if not storable(ctx, variables):
        return None
    return dict(variables)


def storable(ctx: Processing, value: object, what: str = "variables") -> bool:
    """Whether `value` can be kept as given; otherwise reject the command, naming where. A
    U+0000 or a NaN accepted here would be refused later by every store downstream (the
    instance projection, the worklist), long after the sender was told yes."""
    reason = unstorable(value)
    if reason is None:
        return True
    ctx.reject(f"Expected {what} that can be stored, but {reason}",
               RejectionType.INVALID_ARGUMENT)
    return False
