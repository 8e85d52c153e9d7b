"""The local watcher's decisions (scripts/services/watch.py): how many failed probes make a
restart, the back-off between restarts, the bound, and a healthy spell that resets them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from laneway.health import HealthServer
from scripts.services.supervisor import ServiceError, Supervisor
from scripts.services.watch import (
    LivenessPolicy,
    Watcher,
    start_watcher,
    stop_watcher,
    watcher_pid,
)
from scripts.stack.proc import wait_until


@dataclass
class FakeSupervisor:
    """Processes as a dict: what the watcher asks and does, without processes."""

    pids: dict[str, int | None]
    ports: dict[str, int]
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def pid(self, name: str) -> int | None:
        return self.pids[name]

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        yield

    def stop(self, name: str) -> int | None:
        self.stopped.append(name)
        pid, self.pids[name] = self.pids[name], None
        return pid

    def start(self, name: str) -> int:
        self.started.append(name)
        self.pids[name] = 1000 + len(self.started)
        return 1000 + len(self.started)

    def log_file(self, name: str) -> Path:
        return Path(f"{name}.log")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


POLICY = LivenessPolicy(period_s=1, timeout_s=1, failures=3, backoff_s=10, backoff_max_s=40,
                        healthy_reset_s=100, max_restarts=3)


def _watcher(answers: dict[str, str], pid: int | None = 7) -> tuple[Watcher, FakeSupervisor,
                                                                     Clock]:
    sup = FakeSupervisor({"engine": pid}, {"engine": 8081})
    clock = Clock()
    watcher = Watcher(cast(Supervisor, sup), ["engine"], POLICY, clock=clock,
                      probe=lambda _port, _timeout: answers["engine"])
    return watcher, sup, clock


def _rounds(watcher: Watcher, clock: Clock, n: int) -> None:
    for _ in range(n):
        watcher.tick()
        clock.now += 1


def test_a_service_is_restarted_after_the_failures_in_a_row_and_not_before() -> None:
    answers = {"engine": "no answer"}
    watcher, sup, clock = _watcher(answers)

    _rounds(watcher, clock, 2)
    assert sup.started == []
    _rounds(watcher, clock, 1)

    assert sup.stopped == ["engine"]
    assert sup.started == ["engine"]


def test_one_healthy_answer_starts_the_count_again() -> None:
    answers = {"engine": "unhealthy (503 ...)"}
    watcher, sup, clock = _watcher(answers)
    _rounds(watcher, clock, 2)
    answers["engine"] = "ok"
    _rounds(watcher, clock, 1)
    answers["engine"] = "unhealthy (503 ...)"
    _rounds(watcher, clock, 2)

    assert sup.started == []


def test_a_process_that_is_gone_is_started_at_once(caplog: pytest.LogCaptureFixture) -> None:
    watcher, sup, clock = _watcher({"engine": "ok"}, pid=None)
    _rounds(watcher, clock, 1)

    assert sup.started == ["engine"]
    assert "engine: restarting (pid -, process gone; restart 1 of at most 3)" in caplog.text


def test_restarts_back_off_doubling_and_stop_at_the_bound(
        caplog: pytest.LogCaptureFixture) -> None:
    watcher, sup, clock = _watcher({"engine": "no answer"})
    restarted_at: list[float] = []
    while clock.now < 200:
        before = len(sup.started)
        _rounds(watcher, clock, 1)
        if len(sup.started) > before:
            restarted_at.append(clock.now - 1)

    # the first after three failures; then 10 s, then 20 s later (each after three failures)
    assert restarted_at == [2.0, 12.0, 32.0]
    assert watcher.restarts == {"engine": 3}
    assert "engine: not restarting it again: 3 restarts did not keep it healthy" in caplog.text


def test_a_healthy_spell_resets_the_back_off() -> None:
    answers = {"engine": "no answer"}
    watcher, _sup, clock = _watcher(answers)
    _rounds(watcher, clock, 3)
    assert watcher.restarts == {"engine": 1}
    answers["engine"] = "ok"
    _rounds(watcher, clock, 101)

    assert watcher.restarts == {"engine": 0}


def test_the_policy_is_read_from_the_environment_and_bad_values_are_refused() -> None:
    policy = LivenessPolicy.from_env({"LANEWAY_LIVENESS_PERIOD_S": "2",
                                      "LANEWAY_LIVENESS_FAILURES": "5"})
    assert (policy.period_s, policy.failures, policy.timeout_s) == (2.0, 5, 2.0)
    assert LivenessPolicy().backoff(1) == 10
    assert LivenessPolicy().backoff(9) == 300
    with pytest.raises(ServiceError, match="LANEWAY_LIVENESS_PERIOD_S"):
        LivenessPolicy.from_env({"LANEWAY_LIVENESS_PERIOD_S": "soon"})


def test_a_restart_that_fails_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    watcher, sup, clock = _watcher({"engine": "no answer"}, pid=None)

    def refuse(name: str) -> Any:
        raise ServiceError(f"{name}: port 8081 is taken")

    sup.start = refuse  # type: ignore[method-assign]
    _rounds(watcher, clock, 1)

    assert "engine: restart failed: engine: port 8081 is taken" in caplog.text
    assert watcher.restarts == {"engine": 1}


def test_up_leaves_one_watcher_running_and_down_stops_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a state directory of the test's own, and a period so long that the watcher only waits
    monkeypatch.setenv("LANEWAY_STACK_DIR", str(tmp_path))
    monkeypatch.setenv("LANEWAY_LIVENESS_PERIOD_S", "3600")
    supervisor = Supervisor.from_env()

    pid, started = start_watcher(supervisor)
    try:
        assert started
        assert start_watcher(supervisor) == (pid, False)  # one watcher per state directory
        assert wait_until(lambda: "watching engine" in (
            supervisor.logs_dir / "watch.log").read_text(), 30, 0.05)
    finally:
        assert stop_watcher(supervisor) == pid
    assert watcher_pid(supervisor) is None
    assert stop_watcher(supervisor) is None
    assert "the watcher stopped" in (supervisor.logs_dir / "watch.log").read_text()


def test_the_watcher_asks_liveness_so_a_database_outage_restarts_nothing() -> None:
    # a real probe port: readiness fails (PostgreSQL away), the loop still goes round
    server = HealthServer("audit", 0, "127.0.0.1")
    server.add_check("database", lambda: "PostgreSQL did not answer")
    stuck: list[str] = []
    server.add_liveness("loop", lambda: stuck[0] if stuck else None)
    server.start()
    try:
        sup = FakeSupervisor({"audit": 7}, {"audit": server.port})
        clock = Clock()
        watcher = Watcher(cast(Supervisor, sup), ["audit"], POLICY, clock=clock)
        _rounds(watcher, clock, 5)
        assert sup.started == []

        stuck.append("the audit sink has not gone round for 61s")
        _rounds(watcher, clock, 3)
        assert (sup.stopped, sup.started) == (["audit"], ["audit"])
    finally:
        server.stop()
