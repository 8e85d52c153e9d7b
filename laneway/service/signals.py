"""Stopping a service process when it is told to.

The supervisor of `make up`, Docker and Kubernetes all stop a service with SIGTERM (a terminal
with SIGINT). `StopSignal.install` turns either into one event that the service's loops wait
on, so the process finishes the batch in hand and closes what it opened in `finally` instead
of dying mid-write. Loops that are not threads (an asyncio loop, uvicorn) hear of it through a
callback registered with `on_stop`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

__all__ = ["StopSignal"]

_log = logging.getLogger("laneway.service")


class StopSignal:
    """Set when the process receives SIGTERM or SIGINT, or when `set` is called."""

    def __init__(self) -> None:
        self.event = threading.Event()
        """The event itself, for code that takes a `threading.Event` to stop on."""
        self.signal_name: str | None = None
        """The name of the signal that stopped the process, if one did."""
        self._callbacks: list[Callable[[], None]] = []
        # reentrant: the signal handler runs on the main thread, maybe while it holds the lock
        self._lock = threading.RLock()

    def install(self) -> StopSignal:
        """Handle SIGTERM and SIGINT from now on; call from the main thread. Returns self."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)
        return self

    def asyncio_event(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        """An asyncio event of `loop` that is set with this one. The signals are handled by
        the loop from now on (until it closes), so it wakes at once rather than at its next
        timeout; call from the loop's thread, the main one."""
        event = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._handle, signum, None)

        def wake() -> None:
            loop.call_soon_threadsafe(event.set)

        self.on_stop(wake)
        return event

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call `callback` once when the stop is asked (at once if it already was). It runs
        in the signal handler or the caller of `set`, so it must only set a flag or schedule
        work (`loop.call_soon_threadsafe`), never block."""
        with self._lock:
            if not self.event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def set(self) -> None:
        """Ask the process to stop without a signal."""
        with self._lock:
            if self.event.is_set():
                return
            self.event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def is_set(self) -> bool:
        """True once the process was asked to stop."""
        return self.event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the process is asked to stop, or `timeout` seconds; True when asked."""
        return self.event.wait(timeout)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        _log.info("stopping on %s", self.signal_name)
        self.set()
