"""Restart a local service whose liveness fails, as Kubernetes does with a liveness probe.

`make up` leaves one watcher running beside the services (`python -m scripts.services watch`,
detached, its pid in `var/stack/run/watch.pid`, its log `var/stack/logs/watch.log`); `make
down` stops it before the services, so it never restarts what is being stopped. Every
`period_s` it asks each service's liveness probe `GET /health/live` (at most `timeout_s`): not
`/health`, which also fails while a dependency is away (a PostgreSQL outage would restart every
service, and a restart cannot mend it). A service that fails `failures` probes in a row (no
answer, a 503 naming a loop that stopped going round: the engine blocked in a librdkafka call,
a process stopped with SIGSTOP) or whose process is gone is restarted: SIGTERM, SIGKILL
after the grace, started again. Restarts back off as Kubernetes' CrashLoopBackOff does (10 s,
doubling, at most 5 minutes between two restarts of one service; a service healthy for 10
minutes starts again from 10 s) and are bounded: after `max_restarts` restarts without such a
healthy spell the watcher stops restarting that service and says so in its log. Every
decision is one log line.

The settings (`LANEWAY_LIVENESS_*`, see `LivenessPolicy.from_env`) mirror a liveness probe's
`periodSeconds`, `timeoutSeconds` and `failureThreshold`.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from laneway.settings import SettingsError, positive_float
from scripts.services.health import probe_live
from scripts.services.supervisor import ServiceError, Supervisor
from scripts.stack.proc import cmdline, pid_alive, wait_until

__all__ = ["LivenessPolicy", "Watcher", "start_watcher", "stop_watcher", "watch_forever",
           "watcher_pid"]

_log = logging.getLogger("scripts.services.watch")


@dataclass(frozen=True)
class LivenessPolicy:
    """When a service counts as dead and how restarts back off."""

    period_s: float = 10.0
    """How often each service is probed (`LANEWAY_LIVENESS_PERIOD_S`)."""
    timeout_s: float = 2.0
    """How long one probe may take (`LANEWAY_LIVENESS_TIMEOUT_S`)."""
    failures: int = 3
    """Probes failed in a row before a restart (`LANEWAY_LIVENESS_FAILURES`)."""
    backoff_s: float = 10.0
    """The wait after a service's first restart before another; it doubles with each
    (`LANEWAY_LIVENESS_BACKOFF_S`)."""
    backoff_max_s: float = 300.0
    """The longest wait between two restarts of one service."""
    healthy_reset_s: float = 600.0
    """A service healthy this long since its last restart starts its back-off afresh."""
    max_restarts: int = 5
    """Restarts without such a healthy spell before the watcher gives up on a service
    (`LANEWAY_LIVENESS_MAX_RESTARTS`)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LivenessPolicy:
        """The policy from `LANEWAY_LIVENESS_*`, the defaults for what is unset."""
        def number(name: str, default: float) -> float:
            try:
                return positive_float(env, name, default)
            except SettingsError as exc:
                raise ServiceError(str(exc)) from exc

        return cls(
            period_s=number("LANEWAY_LIVENESS_PERIOD_S", cls.period_s),
            timeout_s=number("LANEWAY_LIVENESS_TIMEOUT_S", cls.timeout_s),
            failures=max(1, int(number("LANEWAY_LIVENESS_FAILURES", cls.failures))),
            backoff_s=number("LANEWAY_LIVENESS_BACKOFF_S", cls.backoff_s),
            max_restarts=max(1, int(number("LANEWAY_LIVENESS_MAX_RESTARTS",
                                           cls.max_restarts))),
        )

    def backoff(self, restarts: int) -> float:
        """The wait after the `restarts`-th restart (1, 2, ...) before another."""
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** max(0, restarts - 1)))


@dataclass
class _Service:
    failed: int = 0
    restarts: int = 0
    restarted_at: float | None = None
    not_before: float = 0.0
    healthy_since: float | None = None
    given_up: bool = False
    last: str = ""


@dataclass
class Watcher:
    """Probes `names` of `supervisor` and restarts the dead ones (`tick` is one round)."""

    supervisor: Supervisor
    names: Sequence[str]
    policy: LivenessPolicy = field(default_factory=LivenessPolicy)
    clock: Callable[[], float] = time.monotonic
    probe: Callable[[int, float], str] = probe_live
    _state: dict[str, _Service] = field(default_factory=dict)

    @property
    def restarts(self) -> dict[str, int]:
        """Restarts per service since the watcher started (or since a healthy spell)."""
        return {name: self._state.get(name, _Service()).restarts for name in self.names}

    def run(self, stop: threading.Event) -> None:
        """Probe every `period_s` until `stop` is set; the first probe after one period
        (`up` has just seen every service healthy)."""
        _log.info("watching %s: a probe every %gs, restart after %d failed in a row",
                  ", ".join(self.names), self.policy.period_s, self.policy.failures)
        while not stop.wait(self.policy.period_s):
            self.tick()

    def tick(self) -> None:
        """One round: probe each service, restart those that failed enough."""
        for name in self.names:
            state = self._state.setdefault(name, _Service())
            if state.given_up:
                continue
            now = self.clock()
            pid = self.supervisor.pid(name)
            answer = ("process gone" if pid is None
                      else self.probe(self.supervisor.ports[name], self.policy.timeout_s))
            if answer == "ok":
                self._healthy(name, state, now)
                continue
            state.healthy_since = None
            state.failed += 1
            state.last = answer
            if pid is not None and state.failed < self.policy.failures:
                _log.warning("%s: liveness probe failed (%d of %d): %s", name, state.failed,
                             self.policy.failures, answer)
                continue
            self._restart(name, state, now, pid)

    def _healthy(self, name: str, state: _Service, now: float) -> None:
        if state.failed:
            _log.info("%s: healthy again", name)
        state.failed = 0
        if state.healthy_since is None:
            state.healthy_since = now
        if state.restarts and now - state.healthy_since >= self.policy.healthy_reset_s:
            _log.info("%s: healthy for %.0fs; its restart back-off starts afresh", name,
                      now - state.healthy_since)
            state.restarts = 0
            state.not_before = 0.0

    def _restart(self, name: str, state: _Service, now: float, pid: int | None) -> None:
        if state.restarts >= self.policy.max_restarts:
            state.given_up = True
            _log.error("%s: not restarting it again: %d restarts did not keep it healthy "
                       "(last: %s); see %s, then `make up`", name, state.restarts, state.last,
                       self.supervisor.log_file(name))
            return
        if now < state.not_before:
            _log.warning("%s: dead (%s); restart %d waits %.0fs more (back-off)", name,
                         state.last, state.restarts + 1, state.not_before - now)
            return
        _log.warning("%s: restarting (pid %s, %s; restart %d of at most %d)", name,
                     pid if pid is not None else "-", state.last, state.restarts + 1,
                     self.policy.max_restarts)
        try:
            with self.supervisor.locked():
                self.supervisor.stop(name)
                new_pid = self.supervisor.start(name)
        except ServiceError as exc:
            _log.error("%s: restart failed: %s", name, exc)
            new_pid = None
        state.restarts += 1
        state.failed = 0
        state.restarted_at = now
        state.not_before = now + self.policy.backoff(state.restarts)
        if new_pid is not None:
            _log.warning("%s: started again as pid %d; the next restart not before %.0fs",
                         name, new_pid, self.policy.backoff(state.restarts))


# -- the watcher as a detached process beside the services ------------------------------------

WATCHER = "watch"


def watcher_pid(supervisor: Supervisor) -> int | None:
    """The pid of the running watcher of this state directory, if one runs."""
    try:
        pid = int((supervisor.run_dir / f"{WATCHER}.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    if pid <= 0 or not pid_alive(pid):
        return None
    argv = cmdline(pid).split()
    return pid if "scripts.services" in argv and WATCHER in argv else None


def start_watcher(supervisor: Supervisor) -> tuple[int, bool]:
    """Start the watcher detached unless one runs; (its pid, whether it was started now)."""
    running = watcher_pid(supervisor)
    if running is not None:
        return running, False
    supervisor.run_dir.mkdir(parents=True, exist_ok=True)
    supervisor.logs_dir.mkdir(parents=True, exist_ok=True)
    with (supervisor.logs_dir / f"{WATCHER}.log").open("ab") as out:
        child = subprocess.Popen(
            [supervisor.python, "-m", "scripts.services", WATCHER], stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, cwd=supervisor.cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    (supervisor.run_dir / f"{WATCHER}.pid").write_text(f"{child.pid}\n")
    # until the child has exec'd, /proc shows the parent's command line: wait for its own, so
    # the next `watcher_pid` (a second `up`, `down`) recognises it
    if not wait_until(lambda: watcher_pid(supervisor) == child.pid or child.poll() is not None,
                      10, 0.01) or child.poll() is not None:
        raise ServiceError(f"the watcher did not start; see {supervisor.logs_dir}/watch.log")
    return child.pid, True


def stop_watcher(supervisor: Supervisor) -> int | None:
    """SIGTERM the watcher (it ends its round first) and wait for it; its pid, if it ran."""
    pid = watcher_pid(supervisor)
    (supervisor.run_dir / f"{WATCHER}.pid").unlink(missing_ok=True)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    if not wait_until(lambda: not pid_alive(pid) or _zombie(pid), 30, 0.05):
        os.kill(pid, signal.SIGKILL)
    return pid


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def watch_forever(supervisor: Supervisor, names: Sequence[str], policy: LivenessPolicy) -> None:
    """`python -m scripts.services watch`: run a watcher until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s watch: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    Watcher(supervisor, names, policy).run(stop)
    _log.info("the watcher stopped")
