"""Health and metrics over HTTP for services that have no API of their own.

`GET /health` answers 200 with `{"status": "ok", ...}` while every registered check passes and
503 with the failing checks otherwise; `GET /metrics` is the Prometheus text exposition of the
process's registry.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

Check = Callable[[], str | None]
"""A health check: None when healthy, else a sentence saying what is wrong."""


class HealthServer:
    """A small threaded HTTP server for /health and /metrics, started and stopped by the
    service's `__main__`."""

    def __init__(self, service: str, port: int, host: str | None = None) -> None:
        # loopback on a laptop; a container sets LANEWAY_HTTP_HOST=0.0.0.0 so probes reach it
        host = host or os.environ.get("LANEWAY_HTTP_HOST", "127.0.0.1")
        self.service = service
        self._checks: dict[str, Check] = {}
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"{service}-health")

    @property
    def port(self) -> int:
        """The port it listens on (useful with port 0)."""
        return int(self._server.server_address[1])

    def add_check(self, name: str, check: Check) -> None:
        """Register a check that /health runs on every request."""
        self._checks[name] = check

    def report(self) -> tuple[bool, dict[str, object]]:
        """Run the checks: (healthy, body)."""
        failing: dict[str, str] = {}
        for name, check in list(self._checks.items()):
            try:
                problem = check()
            except Exception as exc:  # a check that breaks is a failing check, not a 500
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                failing[name] = problem
        body: dict[str, object] = {"service": self.service,
                                   "status": "ok" if not failing else "unhealthy"}
        if failing:
            body["failing"] = failing
        return not failing, body

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] == "/health":
                    healthy, body = outer.report()
                    self._send(200 if healthy else 503, "application/json",
                               json.dumps(body).encode())
                elif self.path.split("?", 1)[0] == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
                else:
                    self._send(404, "application/json", b'{"error": "not found"}')

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Health probes every few seconds would drown the service's own log."""

        return Handler
