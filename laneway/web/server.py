"""A FastAPI app served by uvicorn, stopped by the kit's stop signal.

The worklist and the audit service serve their app in a background thread (`start`) while the
main thread runs their Kafka loop; the definitions service serves in its main thread
(`serve`). Either way the server hears of SIGTERM or SIGINT through `StopSignal.on_stop` and
finishes the requests in hand (bounded) before it returns. uvicorn installs no signal handlers
outside the main thread; in the main thread it holds them while it serves and passes a signal
on to the kit's handlers once it has shut down.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from laneway.service.signals import StopSignal
from laneway.settings import Settings

__all__ = ["HttpServer", "HttpServerError", "serving"]


class HttpServerError(RuntimeError):
    """The HTTP server did not start (its port is taken, say). Not retryable as is."""


class HttpServer:
    """uvicorn serving `app` on `host:port`; `config` is passed on to `uvicorn.Config`."""

    def __init__(self, app: FastAPI, host: str, port: int, stop: StopSignal, *,
                 graceful_s: float = 5.0, **config: Any) -> None:
        self._server = uvicorn.Server(uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False,
            timeout_graceful_shutdown=int(graceful_s), **config))
        self._graceful_s = graceful_s
        self._where = f"http://{host}:{port}"
        self._thread: threading.Thread | None = None
        # only a flag: uvicorn's loop sees it within a tick and shuts down gracefully
        stop.on_stop(self._exit)

    def start(self, timeout_s: float = 10.0) -> None:
        """Serve in a daemon thread, and return once the port is bound; HttpServerError if it
        is not within `timeout_s` (uvicorn has logged why)."""
        thread = self._thread = threading.Thread(target=self._server.run, daemon=True,
                                                 name=f"http-{self._where}")
        thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not thread.is_alive() or time.monotonic() >= deadline:
                self.stop()
                raise HttpServerError(f"Expected to serve on {self._where} within "
                                      f"{timeout_s:g}s, but the server did not start")
            time.sleep(0.02)  # between looks at uvicorn's flag while it binds

    def serve(self) -> None:
        """Serve in this thread until the stop signal; HttpServerError if it did not start."""
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind
            self._server.run()
        if not self._server.started:
            raise HttpServerError(f"Expected to serve on {self._where}, but the server did "
                                  "not start")

    def stop(self) -> None:
        """Finish the requests in hand (bounded) and release the port."""
        self._exit()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(self._graceful_s + 5.0)

    def _exit(self) -> None:
        self._server.should_exit = True


@contextlib.contextmanager
def serving(app: FastAPI, settings: Settings, stop: StopSignal) -> Iterator[HttpServer]:
    """Serve `app` in a thread on the service's host and port while the block runs (and
    from the stop signal on, no longer); stopped, its port released, on the way out."""
    server = HttpServer(app, settings.http_host, settings.http_port, stop)
    server.start()
    try:
        yield server
    finally:
        server.stop()
