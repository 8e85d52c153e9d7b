"""Command handlers: one function per command intent, found through `HANDLERS`."""

from laneway.engine.handlers import events, instances, jobs
from laneway.engine.handlers._registry import HANDLERS

__all__ = ["HANDLERS", "events", "instances", "jobs"]
