"""The service kit (laneway/service, laneway/health, laneway/kafka, laneway/consuming) in
memory: stop signals, health and metrics, settings, the exit statuses of `run_service`, the
bounded waits against addresses where nothing answers, and the producer renewal."""

from __future__ import annotations

import json
import os
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter

from laneway.consuming import DeadLetterProducer
from laneway.health import HealthChecks, HealthServer
from laneway.kafka import RenewingProducer
from laneway.service import (
    DatabaseUnavailable,
    KafkaUnavailable,
    Metrics,
    RedisUnavailable,
    Running,
    StopSignal,
    Unavailable,
    run_service,
    wait_for_kafka,
    wait_for_postgres,
    wait_for_redis,
)
from laneway.service.http import health_router
from laneway.settings import Settings, SettingsError

NOWHERE = "127.0.0.1:1"  # a port nothing listens on


@pytest.fixture
def signals_restored() -> Iterator[None]:
    """Put back the SIGTERM and SIGINT handlers a test installs."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


# -- stop signals ---------------------------------------------------------------------------


@pytest.mark.usefixtures("signals_restored")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_sets_the_event_and_runs_the_callbacks_once(
        signum: signal.Signals) -> None:
    # given an installed stop signal with a callback
    stop = StopSignal().install()
    called: list[str] = []
    stop.on_stop(lambda: called.append("stopped"))

    # when the process gets the signal (twice)
    os.kill(os.getpid(), signum)
    os.kill(os.getpid(), signum)

    # then the event is set, its name kept, and the callback ran once
    assert stop.wait(5)
    assert stop.signal_name == signum.name
    assert called == ["stopped"]


def test_a_callback_added_after_the_stop_runs_at_once() -> None:
    stop = StopSignal()
    stop.set()
    called: list[int] = []

    stop.on_stop(lambda: called.append(1))

    assert called == [1]
    assert stop.is_set()
    assert stop.signal_name is None


# -- health and metrics ---------------------------------------------------------------------


def test_health_reports_every_check_and_names_the_failing_ones() -> None:
    checks = HealthChecks("svc")
    checks.add_check("good", lambda: None)
    checks.add_check("bad", lambda: "the disk is full")

    def broken() -> str | None:
        raise RuntimeError("boom")

    checks.add_check("broken", broken)

    healthy, body = checks.report()

    assert not healthy
    assert body == {"service": "svc", "status": "unhealthy",
                    "checks": {"good": "ok", "bad": "the disk is full",
                               "broken": "RuntimeError: boom"},
                    "failing": {"bad": "the disk is full", "broken": "RuntimeError: boom"}}


def test_a_check_that_is_not_critical_is_reported_without_failing_health() -> None:
    checks = HealthChecks("svc")
    checks.add_check("database", lambda: None)
    checks.add_check("live", lambda: "Redis is unavailable", critical=False)

    assert checks.report() == (True, {"service": "svc", "status": "ok",
                                      "checks": {"database": "ok",
                                                 "live": "Redis is unavailable"},
                                      "degraded": {"live": "Redis is unavailable"}})
    checks.add_check("live", lambda: "Redis is unavailable")  # made critical again
    assert checks.report()[0] is False


def test_health_is_unhealthy_while_starting_and_healthy_once_started() -> None:
    checks = HealthChecks("svc")
    checks.starting("waiting for Kafka")

    assert checks.report() == (False, {"service": "svc", "status": "unhealthy",
                                       "checks": {"startup": "starting: waiting for Kafka"},
                                       "failing": {"startup": "starting: waiting for Kafka"}})
    checks.started()
    assert checks.report() == (True, {"service": "svc", "status": "ok", "checks": {}})


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def test_the_health_server_serves_health_and_the_given_registrys_metrics() -> None:
    registry = CollectorRegistry()
    Counter("kit_test_things", "Things", registry=registry).inc(3)
    server = HealthServer("svc", 0, "127.0.0.1", registry=registry)
    problem: list[str] = ["not yet"]
    server.add_check("work", lambda: problem[0] if problem else None)
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        status, body = _get(f"{base}/health")
        assert (status, json.loads(body)["failing"]) == (503, {"work": "not yet"})
        problem.clear()
        status, body = _get(f"{base}/health")
        assert (status, json.loads(body)["status"]) == (200, "ok")
        status, body = _get(f"{base}/metrics")
        assert status == 200
        assert "kit_test_things_total 3.0" in body
        assert _get(f"{base}/nope")[0] == 404
    finally:
        server.stop()


def test_the_health_server_answers_other_paths_and_methods_with_a_problem() -> None:
    # the edge sends /api/jobs to the connectors' port even when it serves no outside types
    server = HealthServer("svc", 0, "127.0.0.1")
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
            for method, path, status in (("POST", "/api/jobs/activate", 404),
                                         ("GET", "/api/jobs", 404),
                                         ("DELETE", "/health", 405),
                                         ("PUT", "/metrics", 405)):
                answer = client.request(method, path, json={"type": "x"})
                assert answer.status_code == status, (method, path, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
                body = answer.json()
                assert body["status"] == status
                assert "serves no API" in body["detail"]
            head = client.head("/health")
            assert (head.status_code, head.headers["allow"]) == (405, "GET")
    finally:
        server.stop()


def test_the_fastapi_health_router_answers_as_the_health_server_does() -> None:
    registry = CollectorRegistry()
    Counter("kit_test_requests", "Requests", registry=registry).inc()
    checks = HealthChecks("api")
    checks.add_check("database", lambda: "PostgreSQL did not answer")
    app = FastAPI()
    app.include_router(health_router(checks, registry))
    client = TestClient(app)

    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == checks.report()[1]
    checks.remove_check("database")
    assert client.get("/health").json() == {"service": "api", "status": "ok", "checks": {}}
    assert "kit_test_requests_total 1.0" in client.get("/metrics").text


class _KitMetrics(Metrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.things = Counter("kit_test_default_things", "Things", registry=self.registry)


def test_metrics_are_made_once_per_process_and_apart_on_a_registry_of_their_own() -> None:
    first = _KitMetrics.default()

    assert _KitMetrics.default() is first
    own = _KitMetrics(CollectorRegistry())
    own.things.inc()
    assert own.registry.get_sample_value("kit_test_default_things_total") == 1.0


# -- settings -------------------------------------------------------------------------------


def test_settings_read_the_http_host_once_with_loopback_as_default() -> None:
    assert Settings.from_env("engine", {}).http_host == "127.0.0.1"
    assert Settings.from_env("engine", {"LANEWAY_HTTP_HOST": " 0.0.0.0 "}).http_host == "0.0.0.0"


# -- run_service ----------------------------------------------------------------------------


class _Settings:
    def __init__(self, environ: dict[str, str]) -> None:
        self.common = Settings.from_env("engine", environ)


def _run(body: Callable[[_Settings, Running], int],
         load: Callable[[], _Settings] | None = None) -> int:
    return run_service(load or (lambda: _Settings({})), body, serve_health=False)


@pytest.mark.usefixtures("signals_restored")
def test_run_service_gives_the_body_its_settings_and_returns_its_status() -> None:
    seen: list[object] = []

    def body(settings: _Settings, service: Running) -> int:
        seen.append(settings.common.service)
        seen.append(service.health.report()[1]["failing"])
        return 0

    assert _run(body) == 0
    assert seen == ["engine", {"startup": "starting: waiting for its dependencies"}]


@pytest.mark.usefixtures("signals_restored")
@pytest.mark.parametrize(("error", "status"), [
    (SettingsError("Expected X, but got Y"), 2),
    (KafkaUnavailable("Expected Kafka to answer, but it did not"), 1),
    (RuntimeError("a bug"), 1),
])
def test_run_service_turns_what_the_body_raises_into_an_exit_status(
        error: Exception, status: int, caplog: pytest.LogCaptureFixture) -> None:
    def body(settings: _Settings, service: Running) -> int:
        raise error

    assert _run(body) == status
    assert str(error) in caplog.text


@pytest.mark.usefixtures("signals_restored")
def test_run_service_refuses_bad_settings_with_status_2(
        caplog: pytest.LogCaptureFixture) -> None:
    ran: list[bool] = []

    def body(settings: _Settings, service: Running) -> int:
        ran.append(True)
        return 0

    status = _run(body, lambda: _Settings({"LANEWAY_HTTP_PORT": "web"}))

    assert (status, ran) == (2, [])
    assert "Expected LANEWAY_HTTP_PORT to be a port number" in caplog.text


@pytest.mark.usefixtures("signals_restored")
def test_run_service_serves_health_on_the_services_port_while_the_body_runs() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    answers: list[int] = []

    def body(settings: _Settings, service: Running) -> int:
        answers.append(_get(f"http://127.0.0.1:{port}/health")[0])
        service.health.started()
        answers.append(_get(f"http://127.0.0.1:{port}/health")[0])
        return 0

    assert run_service(lambda: _Settings({"LANEWAY_HTTP_PORT": str(port)}), body) == 0
    assert answers == [503, 200]
    # and the port is released afterwards (its closed connections may linger in TIME_WAIT)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()


# -- bounded waits --------------------------------------------------------------------------


@pytest.mark.parametrize(("wait", "address", "error", "names"), [
    (wait_for_kafka, NOWHERE, KafkaUnavailable, "Kafka"),
    (wait_for_postgres, f"postgresql://x:y@{NOWHERE}/db", DatabaseUnavailable, "PostgreSQL"),
    (wait_for_redis, f"redis://{NOWHERE}/0", RedisUnavailable, "Redis"),
])
def test_a_wait_for_a_dependency_that_never_answers_ends_at_its_bound(
        wait: Callable[[str, float], Any], address: str, error: type[Unavailable],
        names: str) -> None:
    with pytest.raises(error, match=f"Expected {names}.* within 1s") as caught:
        wait(address, 1.0)
    assert isinstance(caught.value, Unavailable)


# -- the renewing producer ------------------------------------------------------------------

FATAL = KafkaError(KafkaError._FATAL, "producer fenced", fatal=True)


def _producer() -> Producer:
    # nothing is ever sent: the address only has to be well-formed
    return Producer({"bootstrap.servers": NOWHERE, "log_level": 0})


def test_a_fatal_error_renews_the_producer_once_and_other_errors_do_not() -> None:
    made: list[Producer] = []

    def make() -> Producer:
        made.append(_producer())
        return made[-1]

    renewing = RenewingProducer(make)
    first = renewing.current

    assert not renewing.renew_if_fatal(first, KafkaError(KafkaError._MSG_TIMED_OUT))
    assert renewing.current is first
    assert renewing.renew_if_fatal(first, KafkaException(FATAL))
    second = renewing.current
    # a second report about the same broken producer changes nothing
    assert renewing.renew_if_fatal(first, FATAL)
    assert renewing.current is second is made[1]
    assert renewing.renewals == 1


def test_a_producer_without_a_way_to_renew_it_is_kept() -> None:
    producer = _producer()
    renewing = RenewingProducer(None, producer)

    assert not renewing.renew_if_fatal(producer, FATAL)
    assert renewing.current is producer


class _ReportingProducer:
    """Stands in for a confluent Producer: answers each record's report at flush, with
    `error` (None: delivered)."""

    def __init__(self, error: KafkaError | None) -> None:
        self.error = error
        self.sent: list[tuple[str, bytes | None]] = []
        self._reports: list[Callable[[KafkaError | None, Any], None]] = []

    def produce(self, topic: str, *, key: bytes | None, value: bytes | None,
                headers: object, on_delivery: Callable[[KafkaError | None, Any], None]) -> None:
        self.sent.append((topic, value))
        self._reports.append(on_delivery)

    def flush(self, timeout: float) -> int:
        for report in self._reports:
            report(self.error, None)
        self._reports.clear()
        return 0

    def poll(self, timeout: float) -> int:
        return 0

    def purge(self) -> None:
        self._reports.clear()


class _Message:
    def __init__(self, value: bytes) -> None:
        self._value = value

    def topic(self) -> str:
        return "in"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return self._value


def test_dead_letters_refused_by_a_fatal_producer_go_through_a_renewed_one() -> None:
    broken = _ReportingProducer(FATAL)
    fresh = _ReportingProducer(None)
    renewing = RenewingProducer(lambda: fresh, broken)

    DeadLetterProducer(renewing, "dlq").send([(_Message(b"bad"), ValueError("no"))])

    assert fresh.sent == [("dlq", b"bad")]
    assert renewing.renewals == 1


def test_dead_letters_not_acknowledged_raise_so_the_offsets_stay_uncommitted() -> None:
    # a transient error is no reason for a new producer, and a dead letter must not be lost
    failing = _ReportingProducer(KafkaError(KafkaError._MSG_TIMED_OUT, "timed out"))
    renewing = RenewingProducer(None, failing)

    with pytest.raises(KafkaException, match="timed out"):
        DeadLetterProducer(renewing, "dlq").send([(_Message(b"bad"), ValueError("no"))])
    assert renewing.renewals == 0


def test_dead_letters_give_up_after_the_bounded_number_of_producers() -> None:
    renewing = RenewingProducer(lambda: _ReportingProducer(FATAL),
                                _ReportingProducer(FATAL))

    with pytest.raises(KafkaException, match="within 3 producers"):
        DeadLetterProducer(renewing, "dlq", attempts=3).send(
            [(_Message(b"bad"), ValueError("no"))])
    assert renewing.renewals == 3
