"""Command handlers: one function per command intent, found through `HANDLERS`.

`laneway.engine.engine` imports the handler modules, which registers them.
"""

from laneway.engine.handlers._registry import HANDLERS

__all__ = ["HANDLERS"]
