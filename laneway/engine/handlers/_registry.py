"""The table from command intent to handler."""

from __future__ import annotations

from collections.abc import Callable

from laneway.engine.context import Processing
from laneway.records import Command, RejectionType

Handler = Callable[[Processing], None]
HANDLERS: dict[str, Handler] = {}


def handles(intent: Command) -> Callable[[Handler], Handler]:
    """Register a handler for a command intent."""
    def register(fn: Handler) -> Handler:
        HANDLERS[intent.value] = fn
        return fn
    return register


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
    return dict(variables)
