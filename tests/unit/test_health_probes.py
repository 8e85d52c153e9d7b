"""The three probes every service's port answers (laneway/health.py): liveness (the loops go
round; dependencies do not count), readiness (started and the dependencies answer; also
/health) and the startup probe, from the threaded server and from a FastAPI app alike."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from laneway.health import HealthChecks, HealthServer
from laneway.service import Running, StopSignal
from laneway.service.http import health_router
from laneway.service.progress import Progress
from scripts.stack.testing import wait_until

PROBES = ("/health", "/health/ready", "/health/live", "/health/started")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_loop_that_retries_what_its_database_refuses_is_alive_but_one_that_is_stuck_is_not(
) -> None:
    clock = Clock()
    progress = Progress("audit sink", 30, clock=clock)
    for _ in range(8):  # a retry every 5 s, for 40 s: the database is away
        clock.now += 5
        progress.failed("events[0]@7")
    assert progress.check() == ("the audit sink has kept failing at events[0]@7 for 35s "
                                "without getting past it")
    assert progress.check_live() is None

    clock.now += 31  # no poll and no retry: blocked inside a call
    assert progress.check_live() == "the audit sink has not gone round for 31s"
    progress.polled()
    assert progress.check_live() is None


def test_liveness_passes_while_starting_and_the_startup_probe_waits_for_the_start() -> None:
    checks = HealthChecks("engine")
    restored = threading.Event()
    checks.starting("restoring its partitions", done=restored.is_set)
    checks.add_liveness("loop", lambda: "the engine loop has not gone round for 61s")

    assert checks.live() == (200, {"service": "engine", "status": "starting",
                                   "detail": "starting: restoring its partitions"})
    assert checks.started_probe() == (503, {
        "type": "about:blank", "title": "Service Unavailable", "status": 503,
        "detail": "starting: restoring its partitions", "service": "engine"})
    assert checks.ready() == (503, {
        "service": "engine", "status": "unhealthy",
        "checks": {"startup": "starting: restoring its partitions"},
        "failing": {"startup": "starting: restoring its partitions"}})

    restored.set()
    assert checks.started_probe() == (200, {"service": "engine", "status": "started"})
    assert checks.ready() == (200, {"service": "engine", "status": "ok", "checks": {}})
    status, body = checks.live()  # started: its loop's liveness counts now
    assert status == 503
    assert body["failing"] == {"loop": "the engine loop has not gone round for 61s"}
    assert body["detail"] == "the engine loop has not gone round for 61s"
    restored.clear()  # once started, started for good
    assert checks.started_probe()[0] == 200


def test_a_failing_dependency_fails_readiness_but_not_liveness() -> None:
    checks = HealthChecks("worklist")
    checks.add_check("database", lambda: "PostgreSQL did not answer")
    checks.add_liveness("loop", lambda: None)

    assert checks.ready()[0] == 503
    assert checks.live() == (200, {"service": "worklist", "status": "ok",
                                   "checks": {"loop": "ok"}})


class _Loop:
    """A service's main loop with the parts a probe sees: it goes round every 20 ms, gets
    past its records while its database answers and retries them while it does not, and
    can be made to block inside a call, as the engine does in librdkafka's
    send_offsets_to_transaction after a broker restart."""

    def __init__(self, stall_s: float) -> None:
        self.progress = Progress("test loop", stall_s)
        self.database_up = True
        self.stuck = threading.Event()
        self.released = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            if self.stuck.is_set():
                self.released.wait()  # the call that does not return until the test says
                self.stuck.clear()
            if self.database_up:
                self.progress.polled()
                self.progress.advanced()
            else:
                self.progress.failed("tasks[0]@3")
            self.stop.wait(0.02)  # the loop's own period, not a wait of the test

    def health(self) -> str | None:
        return self.progress.check()

    def live(self) -> str | None:
        return self.progress.check_live()

    def database(self) -> str | None:
        return None if self.database_up else "PostgreSQL did not answer"


@pytest.fixture
def served_loop() -> Iterator[tuple[_Loop, httpx.Client]]:
    """A loop run by the kit (`Running.run_loop`) with its probes on a real port."""
    loop = _Loop(stall_s=0.5)
    server = HealthServer("svc", 0, "127.0.0.1")
    server.starting("waiting for its dependencies")
    server.start()
    running = Running(StopSignal(), server)
    worker = threading.Thread(target=running.run_loop,
                              args=(loop, {"database": loop.database}), daemon=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as client:
            assert client.get("/health/started").status_code == 503
            assert client.get("/health/live").status_code == 200
            worker.start()
            wait_until(lambda: client.get("/health/started").status_code == 200, 5,
                       message="started")
            yield loop, client
    finally:
        loop.released.set()
        loop.stop.set()
        worker.join(5)
        server.stop()


def test_a_loop_that_stops_going_round_fails_liveness_until_it_goes_round_again(
        served_loop: tuple[_Loop, httpx.Client]) -> None:
    loop, client = served_loop
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 200

    loop.stuck.set()
    answer = wait_until(lambda: (lambda r: r if r.status_code == 503 else None)(
        client.get("/health/live")), 5, message="liveness fails")
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == 503
    assert body["failing"]["loop"].startswith("the test loop has not gone round for")

    loop.released.set()
    wait_until(lambda: client.get("/health/live").status_code == 200, 5,
               message="liveness back")


def test_a_database_outage_fails_readiness_and_leaves_liveness_alone(
        served_loop: tuple[_Loop, httpx.Client]) -> None:
    loop, client = served_loop
    loop.database_up = False
    # past the stall limit: the loop reports the record it keeps failing on
    answer = wait_until(lambda: (lambda r: r if "consumer" in r.json().get("failing", {})
                                 else None)(client.get("/health/ready")), 5,
                        message="readiness names the loop")
    assert answer.status_code == 503
    assert answer.json()["failing"]["database"] == "PostgreSQL did not answer"
    # the old /health is readiness: the same checks fail (the loop's message names how long
    # it has been failing, which can tick between the two reads)
    old = client.get("/health").json()["failing"]
    assert old.keys() == answer.json()["failing"].keys()
    assert old["database"] == "PostgreSQL did not answer"
    live = client.get("/health/live")
    assert (live.status_code, live.json()["status"]) == (200, "ok")

    loop.database_up = True
    wait_until(lambda: client.get("/health/ready").status_code == 200, 5,
               message="ready again")


def test_the_probe_paths_answer_other_methods_and_their_neighbours_with_a_problem() -> None:
    server = HealthServer("svc", 0, "127.0.0.1")
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as client:
            for path in PROBES:
                assert client.get(path).status_code == 200, path
                answer = client.post(path, json={})
                assert answer.status_code == 405, path
                assert answer.headers["content-type"] == "application/problem+json"
                assert client.head(path).status_code == 405
            for path in ("/health/", "/health/alive", "/health/live/x"):
                answer = client.get(path)
                assert answer.status_code == 404, path
                assert answer.json()["status"] == 404
    finally:
        server.stop()


def test_the_fastapi_router_answers_each_probe_as_the_health_server_does() -> None:
    stuck = ["the job consumer has not gone round for 90s"]

    def configure(checks: HealthChecks) -> None:
        checks.add_liveness("loop", lambda: stuck[0] if stuck else None)
        checks.add_check("database", lambda: "PostgreSQL did not answer")
        checks.starting("waiting for PostgreSQL")

    checks = HealthChecks("api")
    configure(checks)
    app = FastAPI()
    app.include_router(health_router(checks))
    server = HealthServer("api", 0, "127.0.0.1")
    configure(server)
    server.start()
    try:
        with TestClient(app) as fast, httpx.Client(
                base_url=f"http://127.0.0.1:{server.port}", timeout=5) as threaded:
            for _ in range(2):
                for path in PROBES:
                    a, b = fast.get(path), threaded.get(path)
                    assert (a.status_code, a.json()) == (b.status_code, b.json()), path
                    assert a.headers["content-type"] == b.headers["content-type"], path
                checks.started()
                server.started()
            assert fast.get("/health/live").status_code == 503
            stuck.clear()
            assert fast.get("/health/live").status_code == 200
            assert fast.get("/health/ready").status_code == 503
    finally:
        server.stop()
