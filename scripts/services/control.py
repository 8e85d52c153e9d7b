"""Bring services up, down, and report their status (what `python -m scripts.services` runs)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from scripts.edge import Edge
from scripts.services.health import probe, wait_healthy
from scripts.services.supervisor import ServiceStatus, Supervisor
from scripts.stack.proc import wait_until

# How long a running service that does not answer 200 gets before `up` restarts it.
SETTLE_S = 3.0


def log(message: str) -> None:
    """Progress goes to stderr; the summary of `up` and `status` goes to stdout."""
    print(f"[services] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class UpResult:
    """What `up` did to each service, and their health at the end."""

    started: tuple[str, ...]
    restarted: tuple[str, ...]
    kept: tuple[str, ...]
    health: dict[str, str]
    edge: str = "-"
    """What `up` did to the edge: `started`, `reloaded`, `kept`, or `-` without one."""


def up(supervisor: Supervisor, names: Sequence[str], timeout: float,
       edge: Edge | None = None) -> UpResult:
    """Start every named service that is not running, restart the unhealthy ones, and wait
    (at most `timeout` seconds) until all answer 200 on /health; then start the `edge` in
    front of them (or reload it when their ports changed), if one is given.

    Running healthy services are left alone, so running it twice is safe. Raises ServiceError
    when a service exits while starting or is not healthy by the deadline, StackError when
    the edge does not start.
    """
    started: list[str] = []
    restarted: list[str] = []
    kept: list[str] = []
    with supervisor.locked():
        for name in names:
            pid = supervisor.pid(name)
            port = supervisor.ports[name]
            if pid is not None:
                if _healthy_within(port, SETTLE_S):
                    kept.append(name)
                    continue
                log(f"{name} (pid {pid}) runs but is not healthy ({probe(port)}); restarting")
                supervisor.stop(name)
                restarted.append(name)
            elif supervisor.pid_file(name).exists():
                log(f"{name}: stale pid file (process gone); starting it again")
            new_pid = supervisor.start(name)
            if name not in restarted:
                started.append(name)
            log(f"started {name} (pid {new_pid}, port {port}, log {supervisor.log_file(name)})")
        health = wait_healthy(supervisor, names, timeout)
        edge_done = edge.up() if edge is not None else "-"
    return UpResult(tuple(started), tuple(restarted), tuple(kept), health, edge_done)


def _healthy_within(port: int, seconds: float) -> bool:
    return wait_until(lambda: probe(port) == "ok", seconds, 0.1)


def down(supervisor: Supervisor, names: Sequence[str], edge: Edge | None = None) -> list[str]:
    """Stop the edge (if given and running), then the named services that run, in reverse
    order; return the ones stopped (`edge` among them)."""
    stopped: list[str] = []
    with supervisor.locked():
        if edge is not None and edge.down() is not None:
            stopped.append("edge")
        for name in reversed(names):
            pid = supervisor.stop(name)
            if pid is not None:
                log(f"stopped {name} (pid {pid})")
                stopped.append(name)
    return stopped


def status(supervisor: Supervisor, names: Sequence[str]) -> list[ServiceStatus]:
    """Each service: its pid if running, its port, and what /health answers."""
    rows: list[ServiceStatus] = []
    for name in names:
        pid = supervisor.pid(name)
        port = supervisor.ports[name]
        health = probe(port) if pid is not None else "-"
        rows.append(ServiceStatus(name, port, pid, health))
    return rows
