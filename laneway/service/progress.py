"""Whether a consuming loop advances, for /health.

A loop that polls but never gets past a record (a batch that fails and is read again, a
database that refuses or does not answer, a send that is retried) looks busy and alive; so
does a loop that is blocked inside a call that never returns, to a thread that only checks
the process. Each consuming loop (the engine's, the kit's `ProjectionLoop`, the connectors'
job consumers) keeps one `Progress`: it says when it polled, when the record at a position
failed, and when it got past it. `check` is a /health check: it fails, naming the loop,
when there was no poll for `stall_s` seconds, or when the same position has kept failing for
`stall_s` seconds (`LANEWAY_STALL_S`, `laneway.settings.Settings.stall_s`).

`check_live` is the narrower question a liveness probe asks: does the loop still go round?
A loop that retries a record because the database or Kafka is away goes round (each retry
says `failed`), and a restart would not mend its dependency, so only a loop that neither
polled nor retried for `quiet_s` (blocked inside a call that never returns: the librdkafka
stall of docs/next.md) fails it.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

__all__ = ["DEFAULT_STALL_S", "Progress", "live_progress", "position"]

DEFAULT_STALL_S = 60.0

# every Progress alive in the process, for /metrics (laneway.service.shared_metrics)
_live: weakref.WeakSet[Progress] = weakref.WeakSet()
_live_lock = threading.Lock()


def live_progress() -> list[Progress]:
    """The `Progress` objects alive now."""
    with _live_lock:
        return list(_live)


class Progress:
    """The progress of one consuming loop; every method may be called from any thread."""

    def __init__(self, name: str, stall_s: float = DEFAULT_STALL_S, *,
                 quiet_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`quiet_s`: how long the loop may go without a poll (default `stall_s`; longer for
        a loop whose legitimate pauses are longer, the engine's restore)."""
        if not stall_s > 0:
            raise ValueError(f"Expected stall_s above 0, but got {stall_s}")
        self.name = name
        self.stall_s = stall_s
        self.quiet_s = max(stall_s, quiet_s) if quiet_s is not None else stall_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_poll = clock()
        # the last sign that the loop goes round: a poll, or a retry of what failed
        self._last_turn = self._last_poll
        # where it keeps failing and since when; None while it advances
        self._failing: tuple[str, float] | None = None
        with _live_lock:
            _live.add(self)

    def polled(self) -> None:
        """The loop asked Kafka for records (whether any came)."""
        self._last_poll = self._last_turn = self._clock()

    def failed(self, position: str) -> None:
        """Handling the record at `position` (`topic[partition]@offset`, see `position`;
        or where else it failed) failed; it will be tried again. Failing at another position
        starts the count afresh."""
        now = self._clock()
        with self._lock:
            self._last_turn = now
            if self._failing is None or self._failing[0] != position:
                self._failing = (position, now)

    def advanced(self) -> None:
        """The loop got past what it had (its offsets committed): nothing fails now."""
        with self._lock:
            self._failing = None

    def last_poll_wall(self) -> float:
        """When the loop last polled, as Unix time (for a metric; `check` decides)."""
        return time.time() - (self._clock() - self._last_poll)

    def check(self) -> str | None:
        """None while the loop polls and advances; else what is wrong, in words."""
        now = self._clock()
        with self._lock:
            failing = self._failing
        since = now - self._last_poll
        # a loop retrying one record does not poll either: name the record, the more
        # telling of the two (which of them passes its limit first is a matter of ms)
        if failing is not None and (now - failing[1] > self.stall_s or since > self.quiet_s):
            return (f"the {self.name} has kept failing at {failing[0]} for "
                    f"{now - failing[1]:.0f}s without getting past it")
        if since > self.quiet_s:
            return f"the {self.name} has not polled Kafka for {since:.0f}s"
        return None

    def check_live(self) -> str | None:
        """None while the loop goes round (polls, or retries what failed); else what is
        wrong. Dependencies do not count: a loop waiting for its database passes."""
        since = self._clock() - self._last_turn
        if since > self.quiet_s:
            return f"the {self.name} has not gone round for {since:.0f}s"
        return None


def position(topic: str | None, partition: int | None, offset: int | None) -> str:
    """The words for a record's position."""
    return f"{topic or '?'}[{partition if partition is not None else '?'}]@" + (
        str(offset) if offset is not None else "?")
