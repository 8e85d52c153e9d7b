"""The chaos monkey: SIGKILLs a random Laneway service every few seconds and starts it again
(as a supervisor would), restarts the broker, PostgreSQL and Redis once each at set points of
the run, and plays the orchestrator's liveness probe in between (`Laneway.revive`: a service
that exited or whose /health failed for 10 s is started again).

Everything here runs in one thread, one action at a time: the supervisor's pid files and the
stack's components are not shared with anyone else.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks.chaos.infra import PrivateStack
from scripts.services import ServiceError
from tests.e2e.harness import Laneway


@dataclass
class Monkey:
    lw: Laneway
    stack: PrivateStack
    kill_every_s: float
    infra_at_s: Sequence[tuple[float, str]]
    """(seconds after the start, component) for each infrastructure restart."""
    seed: int
    kills: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)
    """What was done when, in order (printed with the figures)."""
    infra_done: list[str] = field(default_factory=list)
    restart_failures: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    _began: float = field(default=0.0, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def start(self) -> None:
        self._began = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-monkey")
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(300)

    def note(self, text: str) -> None:
        line = f"{time.monotonic() - self._began:7.1f}s {text}"
        self.log.append(line)
        print(f"[chaos] {line}", flush=True)

    def _run(self) -> None:
        rng = random.Random(self.seed)
        pending = sorted(self.infra_at_s)
        try:
            next_kill = time.monotonic() + self.kill_every_s
            while not self.stop.is_set():
                self.heal()
                now = time.monotonic()
                if pending and now - self._began >= pending[0][0]:
                    _, name = pending.pop(0)
                    self.note(f"restarting {name}")
                    took = self.stack.restart(name)
                    self.note(f"{name} back after {took:.1f}s")
                    self.infra_done.append(name)
                    continue
                if now >= next_kill:
                    self.kill(rng.choice(self.lw.services))
                    next_kill = time.monotonic() + self.kill_every_s * rng.uniform(0.5, 1.5)
                    continue
                self.stop.wait(0.2)
        except BaseException as exc:  # the main thread reports it and stops the run
            self.error = exc
            self.note(f"the monkey failed: {exc!r}")

    def kill(self, name: str) -> None:
        pid = self.lw.supervisor.pid(name)
        if pid is None:
            return  # already down: heal() starts it
        self.lw.kill(name)
        self.kills[name] += 1
        self.note(f"SIGKILL {name} (pid {pid})")
        self.restart(name)

    def restart(self, name: str) -> None:
        """Start the service until it is healthy, as a supervisor retries (a service may not
        get healthy while the broker or the database is away)."""
        for attempt in range(1, 6):
            try:
                self.lw.restart(name, timeout=90)
                return
            except ServiceError as exc:
                self.restart_failures += 1
                self.note(f"{name} did not come back (try {attempt}): {str(exc)[:200]}")
                self.lw.supervisor.stop(name)
        raise RuntimeError(f"{name} did not come back after 5 tries")

    def heal(self) -> None:
        """The orchestrator's restart policy and liveness probe."""
        try:
            revived = self.lw.revive()
        except ServiceError as exc:
            self.restart_failures += 1
            self.note(f"revive failed: {str(exc)[:200]}")
            return
        if revived:
            self.note(f"restarted by the liveness probe / exit: {', '.join(revived)}")
