"""Health and metrics over HTTP, the same for every service.

Three probes, on every service's own port, because an orchestrator asks three questions:

- `GET /health/live`: is the process alive and does its main loop go round? 200 while it
  does, and while the service is still starting (a start that takes long is the startup
  probe's business, not a reason to kill it); 503 with a problem body naming the stalled loop
  otherwise (the librdkafka stall of docs/next.md: the engine blocked inside a call). Only the
  checks added with `add_liveness` count: no database, Kafka or Redis, so an outage of one
  of them does not restart every service (a restart cannot mend it).
- `GET /health/ready` (and `GET /health`, the same, kept for the clients that use it): 200
  with `{"service": ..., "status": "ok", "checks": {...}}` once the service has started and
  every check added with `add_check` passes; 503 with `"status": "unhealthy"` and the failing
  checks (also under `failing`) otherwise. A check added with `critical=False` reports a part
  the service works without (the audit's live feed when Redis is away): its problem shows
  under `checks` and `degraded`, and the answer stays 200.
- `GET /health/started`: 200 once the service's start is done (the engine: its group joined
  and its partitions restored), 503 before; a startup probe holds the liveness probe back
  until then.

`GET /metrics` is the Prometheus text exposition of the service's registry. `HealthChecks`
holds the checks and builds the bodies; `HealthServer` serves them on a small threaded server
for services without an HTTP API of their own, and `laneway.service.http.health_router` serves
the same routes from a FastAPI app.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

__all__ = ["HEALTH_PATHS", "Check", "HealthChecks", "HealthServer", "Probe"]

Check = Callable[[], str | None]
"""A health check: None when healthy, else a sentence saying what is wrong."""

_STARTUP = "startup"

Probe = tuple[int, dict[str, object]]
"""A probe's answer: the status code and the JSON body."""

HEALTH_PATHS = ("/health", "/health/live", "/health/ready", "/health/started")
"""The probe paths every service's port answers."""


class HealthChecks:
    """The named checks of one service; thread-safe (checks are added while probes run)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._checks: dict[str, Check] = {}
        self._optional: set[str] = set()
        self._live: dict[str, Check] = {}
        # None: started (nothing to wait for); else what it is doing, and maybe a test of
        # when that is done (the engine's restore, done on its loop's thread)
        self._starting: tuple[str, Callable[[], bool] | None] | None = None
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

    def add_liveness(self, name: str, check: Check) -> None:
        """Register a check that /health/live runs (once the service has started): whether
        a loop of the process goes round. Never a dependency: see the module's docstring."""
        with self._lock:
            self._live[name] = check

    def remove_liveness(self, name: str) -> None:
        """Unregister a liveness check (no error when there is none of that name)."""
        with self._lock:
            self._live.pop(name, None)

    def starting(self, what: str, done: Callable[[], bool] | None = None) -> None:
        """Report not ready and not started, with `starting: <what>`, until `started` is
        called or `done()` (asked at each probe, from the probe's thread) answers True, so a
        probe does not route to a service still waiting for its dependencies."""
        with self._lock:
            self._starting = (what, done)

    def started(self) -> None:
        """The service is past its start; only its own checks count from now on."""
        with self._lock:
            self._starting = None

    def starting_problem(self) -> str | None:
        """None once started; else `starting: <what>`."""
        with self._lock:
            starting = self._starting
        if starting is None:
            return None
        what, done = starting
        try:
            finished = done is not None and done()
        except Exception as exc:  # a test that breaks says the start is not done, not a 500
            return f"starting: {what} ({type(exc).__name__}: {exc})"
        if finished:
            with self._lock:
                if self._starting is starting:
                    self._starting = None
            return None
        return f"starting: {what}"

    def report(self) -> tuple[bool, dict[str, object]]:
        """Run the readiness checks: (healthy, body)."""
        with self._lock:
            checks = list(self._checks.items())
            optional = set(self._optional)
        results: dict[str, str] = {}
        failing: dict[str, str] = {}
        degraded: dict[str, str] = {}
        starting = self.starting_problem()
        if starting is not None:
            results[_STARTUP] = failing[_STARTUP] = starting
        for name, check in checks:
            problem = _run(check)
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

    def ready(self) -> Probe:
        """`GET /health/ready` (and `GET /health`)."""
        healthy, body = self.report()
        return (200 if healthy else 503), body

    def live(self) -> Probe:
        """`GET /health/live`: 200 while starting or while every liveness check passes;
        else 503 with a problem body whose `failing` names the stalled loops."""
        starting = self.starting_problem()
        if starting is not None:
            return 200, {"service": self.service, "status": "starting", "detail": starting}
        with self._lock:
            checks = list(self._live.items())
        failing = {name: problem for name, problem in ((n, _run(c)) for n, c in checks)
                   if problem}
        if not failing:
            return 200, {"service": self.service, "status": "ok",
                         "checks": {name: "ok" for name, _ in checks}}
        return 503, {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                     "detail": "; ".join(failing.values()), "service": self.service,
                     "failing": failing}

    def started_probe(self) -> Probe:
        """`GET /health/started`: 200 once started, else 503 with a problem body."""
        starting = self.starting_problem()
        if starting is None:
            return 200, {"service": self.service, "status": "started"}
        return 503, {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                     "detail": starting, "service": self.service}

    def probe(self, path: str) -> Probe | None:
        """The answer to GET `path` if it is one of `HEALTH_PATHS`, else None."""
        if path in ("/health", "/health/ready"):
            return self.ready()
        if path == "/health/live":
            return self.live()
        if path == "/health/started":
            return self.started_probe()
        return None


def _run(check: Check) -> str | None:
    try:
        return check()
    except Exception as exc:  # a check that breaks is a failing check, not a 500
        return f"{type(exc).__name__}: {exc}"


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
                answer = outer.probe(path)
                if answer is not None:
                    status, body = answer
                    problem = status != 200 and "type" in body
                    self._send(status, "application/problem+json" if problem
                               else "application/json", json.dumps(body).encode())
                elif path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(outer.registry))
                else:
                    self._refuse(404, "Not Found", path)

            def _refuse(self, status: int, title: str, path: str) -> None:
                # the edge may send an API path here (the job API of a connectors process
                # that serves no outside types): a problem, never http.server's 501 page
                detail = (f"Expected GET /health[/live|/ready|/started] or GET /metrics, but "
                          f"got {self.command[:10]} {path[:100]}: this port serves no API")
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
                known = path in HEALTH_PATHS or path == "/metrics"
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
