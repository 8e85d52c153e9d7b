"""The work one command may do, and what the engine does when a command would do more.

A diagram can make one command run without end: a loop of plain tasks, a parallel fork that
loops back into its merge, nested multi-instance activities with large cardinalities. The
engine runs a command to its end in one go (the service in one Kafka transaction), so such a
command would hold its partition, and every instance on it, for as long as it runs. The budget
bounds it: when a command writes more events or takes more steps or time than allowed, it
raises `BudgetExceeded`, its partial results are thrown away and the instance gets a
`BUDGET_EXCEEDED` incident instead (`Engine.over_budget`).

Events and steps are counted, so the outcome is deterministic; wall time is the safety net for
slow steps (an expensive expression repeated), and makes the outcome depend on the machine
only for a command that is far beyond the other bounds anyway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from laneway.limits import DEFAULT_MAX_VARIABLES_BYTES
from laneway.timers import DEFAULT_BOUNDS, TimerBounds


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptLimits:
    """Bounds of one JavaScript script run in the engine (laneway/engine/scripting.py):
    beyond any of them the script stops and its task gets a `SCRIPT_ERROR` incident."""

    max_seconds: float = 1.0
    """Time of one script (the interpreter's CPU time, which on a busy machine is less than
    the wall clock's); the script gets at most what is left of its command's `max_seconds`,
    and its wall time counts against that."""
    max_memory_bytes: int = 32 * 1024 * 1024
    """Memory of the script's interpreter (QuickJS's own accounting)."""
    max_stack_bytes: int = 256 * 1024
    """Stack of the script: deep or endless recursion stops here, not in the engine."""
    max_source_chars: int = 100_000
    """Length of a script's text."""
    max_result_bytes: int = DEFAULT_MAX_VARIABLES_BYTES
    """The variables and the value a script leaves, as compact JSON."""
    in_engine: bool = True
    """Whether JavaScript runs here at all: False makes every JavaScript script task a
    'script' job, as Groovy's and Python's are (for scripts written against a host's own
    services, such as bpmn-engine's `environment.services`, that only a worker has)."""


DEFAULT_SCRIPT_LIMITS = ScriptLimits()


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds of the engine core; the engine service reads them from its settings
    (`LANEWAY_ENGINE_MAX_*`, services/engine/settings.py)."""

    max_events: int = 10_000
    """Events one command may write (a loop of tasks writes about five per round)."""
    max_steps: int = 50_000
    """Steps of the agenda (token moves) one command may take."""
    max_seconds: float = 5.0
    """Wall time one command may take."""
    max_call_depth: int = 32
    """How deep call activities may nest: a child started deeper gets an incident at the
    calling activity instead (a process calling itself would start instances without end)."""
    max_instances_per_element: int = 10_000
    """Inner instances one multi-instance activity may have (its cardinality or the size of
    its input collection): more is an incident at the activity."""
    max_adhoc_decisions: int = 100
    """Choices one ad-hoc subprocess instance may ask its decision handler for: asked once
    more, it gets an incident instead (an agent that never says it is done)."""
    timers: TimerBounds = DEFAULT_BOUNDS
    """The longest timer duration and the shortest cycle interval (laneway/timers.py): beyond
    them a timer from a variable is a TIMER_ERROR incident, a literal one is refused at
    deploy."""
    scripts: ScriptLimits = DEFAULT_SCRIPT_LIMITS
    """Time, memory and stack of a JavaScript script task (`ScriptLimits`)."""


DEFAULT_LIMITS = Limits()

# the stage of a BUDGET_EXCEEDED incident: where resolving it would pick up, which is nowhere
# (`handlers.jobs.resolve_incident` refuses it)
BUDGET_STAGE = "budget"

# the clock is read every this many events or steps: reading it at every one would cost more
# than the check is worth
CLOCK_EVERY = 128


class BudgetExceeded(Exception):
    """A command went beyond its budget; the engine discards what it wrote."""


class Budget:
    """What one command has used of its limits. The hot paths (`Processing.write`, the
    agenda) compare a count with `next_events` or `next_steps` and call in here only when it
    is reached: every `CLOCK_EVERY` events or steps, or at the bound."""

    __slots__ = ("_deadline", "limits", "next_events", "next_steps")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._deadline = time.monotonic() + limits.max_seconds
        # `min` written out: one Budget per command
        events, steps = limits.max_events, limits.max_steps + 1
        self.next_events = CLOCK_EVERY if events > CLOCK_EVERY else events
        self.next_steps = CLOCK_EVERY if steps > CLOCK_EVERY else steps

    def check_events(self, written: int) -> None:
        """`written` events are written and one more is about to be."""
        if written >= self.limits.max_events:
            raise BudgetExceeded(
                f"the command wrote more than {self.limits.max_events} events (a loop "
                "without a wait state, or too many instances at once?)")
        self.check_clock()
        self.next_events = min(written + CLOCK_EVERY, self.limits.max_events)

    def check_steps(self, steps: int) -> None:
        """The agenda has taken `steps` steps."""
        if steps > self.limits.max_steps:
            raise BudgetExceeded(
                f"the command took more than {self.limits.max_steps} steps (a loop without a "
                "wait state?)")
        self.check_clock()
        self.next_steps = min(steps + CLOCK_EVERY, self.limits.max_steps + 1)

    def seconds_left(self) -> float:
        """The time the command has left (a script may use at most this)."""
        return self._deadline - time.monotonic()

    def check_clock(self) -> None:
        """Raise when the command has taken longer than its time."""
        if time.monotonic() > self._deadline:
            raise BudgetExceeded(
                f"the command took longer than {self.limits.max_seconds:g} s")
