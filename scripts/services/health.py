"""Poll the services' GET /health until all answer 200, with a deadline; `probe` also asks
the liveness probe (`LIVE`) for the watcher."""

from __future__ import annotations

import http.client
import time
from collections.abc import Sequence

from scripts.services.supervisor import ServiceError, Supervisor

READY = "/health"
"""Readiness (the same as /health/ready): started, and the dependencies answer."""
LIVE = "/health/live"
"""Liveness: the process's loops go round; no dependency counts (laneway/health.py)."""


def probe(port: int, timeout: float = 2.0, path: str = READY) -> str:
    """`ok` when GET `path` answers 200; else what it answered (`unhealthy (503 ...)`)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = " ".join(response.read(300).decode(errors="replace").split())[:120]
    except (OSError, http.client.HTTPException):
        return "no answer"
    finally:
        conn.close()
    if response.status == 200:
        return "ok"
    return f"unhealthy ({response.status} {body})" if body else f"unhealthy ({response.status})"


def probe_live(port: int, timeout: float = 2.0) -> str:
    """`ok` when the liveness probe answers 200; else what it answered."""
    return probe(port, timeout, LIVE)


def wait_healthy(
    supervisor: Supervisor, names: Sequence[str], timeout: float, interval: float = 0.1
) -> dict[str, str]:
    """Wait until every named service answers 200 on /health; return name -> `ok`.

    Fails at once when a service's process exits (its exit code and log tail), and at the
    deadline with each service that is not healthy, what it answered, and its log tail.
    """
    deadline = time.monotonic() + timeout
    health = dict.fromkeys(names, "no answer")
    while True:
        for name in names:
            if health[name] == "ok":
                continue
            if supervisor.pid(name) is None:
                code = supervisor.exit_code(name)
                how = f"exited with code {code}" if code is not None else "is not running"
                raise ServiceError(
                    f"{name} {how} while starting; last lines of "
                    f"{supervisor.log_file(name)}:\n{supervisor.log_tail(name)}"
                )
            health[name] = probe(supervisor.ports[name])
        if all(h == "ok" for h in health.values()):
            return health
        if time.monotonic() >= deadline:
            failing = [name for name in names if health[name] != "ok"]
            report = "\n".join(
                f"{name} (port {supervisor.ports[name]}): {health[name]}; last lines of "
                f"{supervisor.log_file(name)}:\n{supervisor.log_tail(name)}"
                for name in failing
            )
            raise ServiceError(f"not healthy within {timeout:.0f}s: {', '.join(failing)}\n{report}")
        time.sleep(interval)
