"""Abstract (plain) tasks and manual tasks: nothing for the engine to do.

Activated, the task passes the token on at once (the default of every processor); like any
activity it may loop, run as multi-instance and carry boundary events.
"""

from __future__ import annotations

from laneway.engine.processors.base import ElementProcessor


class TaskProcessor(ElementProcessor):
    """Passes the token on."""
