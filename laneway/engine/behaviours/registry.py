"""The processor registry: one processor per element kind, looked up by `kind`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from laneway.engine.context import Processing
    from laneway.engine.state import ElementInstance
    from laneway.model import FlowNode


class ElementProcessor(Protocol):
    """What an element type does when a token reaches it."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        """The element became active; `trigger` carries the payload of the event that
        activated it (a message's variables), None for a plain token."""


PROCESSORS: dict[str, ElementProcessor] = {}


def processor(*kinds: str) -> Any:
    """Class decorator: register one instance of the class for these kinds."""
    def register(cls: type) -> type:
        instance = cls()
        for kind in kinds:
            PROCESSORS[kind] = instance
        return cls
    return register
