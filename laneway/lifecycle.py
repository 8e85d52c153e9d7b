"""Running a service process until it is told to stop.

The supervisor of `make up`, Docker and Kubernetes all stop a service with SIGTERM (a terminal
with SIGINT); `StopSignal` turns either into an event the service's `__main__` waits on, so it
can close what it opened in `finally` instead of dying mid-write.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from laneway.health import HealthServer
from laneway.settings import Settings

__all__ = ["StopSignal", "serve_health_until_stopped"]

_log = logging.getLogger("laneway.lifecycle")


class StopSignal:
    """Set when the process receives SIGTERM or SIGINT (or when `set` is called)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name: str | None = None
        """The name of the signal that stopped the process, if one did."""

    def install(self) -> None:
        """Handle SIGTERM and SIGINT from now on (call from the main thread)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def set(self) -> None:
        """Ask the process to stop without a signal."""
        self._event.set()

    def is_set(self) -> bool:
        """True once the process was asked to stop."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the process is asked to stop, or timeout seconds; True when asked."""
        return self._event.wait(timeout)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        self._event.set()


def serve_health_until_stopped(settings: Settings, stop: StopSignal, *, lands_with: str) -> int:
    """Serve /health and /metrics on the service's port until `stop` is set; return 0.

    For a service whose work has not landed yet: it runs as the real one will (a long-running
    process with health on its port, stopped by SIGTERM), so `make up` and the deployments can
    start and check every service today. `lands_with` says where its work comes from.
    """
    server = HealthServer(settings.service, settings.http_port)
    server.start()
    try:
        _log.info(
            "The %s service serves health and metrics on port %d; its work lands with %s.",
            settings.service,
            server.port,
            lands_with,
        )
        stop.wait()
        _log.info("Stopping the %s service (%s).", settings.service, stop.signal_name or "asked")
    finally:
        server.stop()
    return 0
