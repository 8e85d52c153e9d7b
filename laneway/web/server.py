"""A FastAPI app served by uvicorn in a background thread, for a service whose main thread runs
its Kafka loop (the worklist, the audit service).

uvicorn installs no signal handlers outside the main thread, so the service's own handlers
stay in charge of stopping; `stop()` asks the server to finish its requests and waits
(bounded).
"""

from __future__ import annotations

import threading
import time

import uvicorn
from fastapi import FastAPI

__all__ = ["HttpServer", "HttpServerError"]


class HttpServerError(RuntimeError):
    """The HTTP server did not start (its port is taken, say). Not retryable as is."""


class HttpServer:
    """uvicorn serving `app` on `host:port` in a daemon thread."""

    def __init__(self, app: FastAPI, host: str, port: int, *,
                 graceful_s: float = 5.0) -> None:
        self._server = uvicorn.Server(uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False,
            timeout_graceful_shutdown=int(graceful_s)))
        self._graceful_s = graceful_s
        self._where = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.run, daemon=True,
                                        name=f"http-{port}")

    def start(self, timeout_s: float = 10.0) -> None:
        """Serve, and return once the port is bound; HttpServerError if it is not within
        `timeout_s` (uvicorn has logged why)."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() >= deadline:
                self.stop()
                raise HttpServerError(f"Expected to serve on {self._where} within "
                                      f"{timeout_s:g}s, but the server did not start")
            time.sleep(0.02)  # between looks at uvicorn's flag while it binds

    def stop(self) -> None:
        """Finish the requests in hand (bounded) and release the port."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(self._graceful_s + 5.0)
