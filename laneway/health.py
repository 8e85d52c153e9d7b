"""Health and metrics over HTTP, the same for every service.

`GET /health` answers 200 with `{"service": ..., "status": "ok", "checks": {...}}` while every
registered check passes, and 503 with `"status": "unhealthy"` and the failing checks (also
under `failing`) otherwise. A check added with `critical=False` reports a part the service
works without (the audit's live feed when Redis is away): its problem shows under `checks`
and `degraded`, and the answer stays 200, so a liveness probe does not restart a service that
a restart would not mend; `GET /metrics` is the Prometheus text exposition of the service's
registry. `HealthChecks` holds the checks and builds that body; `HealthServer` serves it on a
small threaded server for services without an HTTP API of their own, and
`laneway.service.http.health_router` serves the same two routes from a FastAPI app.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

__all__ = ["Check", "HealthChecks", "HealthServer"]

Check = Callable[[], str | None]
"""A health check: None when healthy, else a sentence saying what is wrong."""

_STARTUP = "startup"


class HealthChecks:
    """The named checks of one service; thread-safe (checks are added while probes run)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._checks: dict[str, Check] = {}
        self._optional: set[str] = set()
        self._lock = threading.Lock()

    def add_check(self, name: str, check: Check, *, critical: bool = True) -> None:
        """Register a check that every /health request runs; one that is not `critical`
        never makes the service unhealthy, it is only reported (under `degraded`)."""
        with self._lock:
            self._checks[name] = check
            if critical:
                self._optional.discard(name)
            else:
                self._optional.add(name)

    def remove_check(self, name: str) -> None:
        """Unregister a check (no error when there is none of that name)."""
        with self._lock:
            self._checks.pop(name, None)
            self._optional.discard(name)

    def starting(self, what: str) -> None:
        """Report unhealthy with `starting: <what>` until `started` is called, so a probe
        does not route to a service still waiting for its dependencies."""
        self.add_check(_STARTUP, lambda: f"starting: {what}")

    def started(self) -> None:
        """The service is past its start; only its own checks count from now on."""
        self.remove_check(_STARTUP)

    def report(self) -> tuple[bool, dict[str, object]]:
        """Run the checks: (healthy, body)."""
        with self._lock:
            checks = list(self._checks.items())
            optional = set(self._optional)
        results: dict[str, str] = {}
        failing: dict[str, str] = {}
        degraded: dict[str, str] = {}
        for name, check in checks:
            try:
                problem = check()
            except Exception as exc:  # a check that breaks is a failing check, not a 500
                problem = f"{type(exc).__name__}: {exc}"
            results[name] = problem or "ok"
            if problem:
                (degraded if name in optional else failing)[name] = problem
        body: dict[str, object] = {"service": self.service,
                                   "status": "ok" if not failing else "unhealthy",
                                   "checks": results}
        if failing:
            body["failing"] = failing
        if degraded:
            body["degraded"] = degraded
        return not failing, body


class HealthServer(HealthChecks):
    """A small threaded HTTP server for /health and /metrics, started and stopped by the
    service's `__main__` (or by `laneway.service.run_service`)."""

    def __init__(self, service: str, port: int, host: str | None = None,
                 registry: CollectorRegistry = REGISTRY) -> None:
        super().__init__(service)
        # loopback on a laptop; a container sets LANEWAY_HTTP_HOST=0.0.0.0 so probes reach it.
        # The kit passes Settings.http_host; the fallback serves callers that do not yet.
        host = host or os.environ.get("LANEWAY_HTTP_HOST", "127.0.0.1")
        self.registry = registry
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"{service}-health")

    @property
    def port(self) -> int:
        """The port it listens on (useful with port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/health":
                    healthy, body = outer.report()
                    self._send(200 if healthy else 503, "application/json",
                               json.dumps(body).encode())
                elif path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(outer.registry))
                else:
                    self._refuse(404, "Not Found", path)

            def _refuse(self, status: int, title: str, path: str) -> None:
                # the edge may send an API path here (the job API of a connectors process
                # that serves no outside types): a problem, never http.server's 501 page
                detail = (f"Expected GET /health or GET /metrics, but got {self.command[:10]} "
                          f"{path[:100]}: this port serves no API")
                body = json.dumps({"type": "about:blank", "title": title, "status": status,
                                   "detail": detail}).encode()
                self.send_response(status)
                if status == 405:
                    self.send_header("Allow", "GET")
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _other(self) -> None:
                path = self.path.split("?", 1)[0]
                known = path in ("/health", "/metrics")
                self._refuse(405 if known else 404,
                             "Method Not Allowed" if known else "Not Found", path)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _other

            def do_HEAD(self) -> None:
                self.send_response(405)
                self.send_header("Allow", "GET")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Health probes every few seconds would drown the service's own log."""

        return Handler
