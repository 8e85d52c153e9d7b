"""A consuming loop that does not advance fails /health (laneway/service/progress.py), and the
connectors' producer reports a send it keeps retrying."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import Producer

from laneway.health import HealthChecks
from laneway.service.progress import Progress, position
from laneway.settings import Settings, SettingsError
from services.connectors.kafka_io import AsyncProducer


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_loop_that_stops_polling_fails_its_check_after_the_stall_limit() -> None:
    clock = Clock()
    progress = Progress("audit sink", 30, clock=clock)
    health = HealthChecks("audit")
    health.add_check("consumer", progress.check)

    clock.now += 29
    assert health.report()[0]
    clock.now += 2
    healthy, body = health.report()

    assert not healthy
    assert body["failing"] == {"consumer": "the audit sink has not polled Kafka for 31s"}
    progress.polled()
    assert health.report()[0]


def test_a_record_that_keeps_failing_fails_the_check_though_the_loop_polls() -> None:
    clock = Clock()
    progress = Progress("engine loop", 30, clock=clock)
    where = position("laneway.commands", 3, 17)

    for _ in range(31):  # failing once a second, polling in between
        progress.failed(where)
        progress.polled()
        clock.now += 1

    assert progress.check() == ("the engine loop has kept failing at laneway.commands[3]@17 "
                                "for 31s without getting past it")
    progress.advanced()
    assert progress.check() is None


def test_failing_at_another_record_starts_the_count_afresh() -> None:
    clock = Clock()
    progress = Progress("task consumer", 30, clock=clock)
    progress.failed("events[0]@1")
    clock.now += 20
    progress.failed("events[0]@2")
    clock.now += 20
    progress.polled()

    assert progress.check() is None


def test_a_loop_with_longer_legitimate_pauses_may_go_quiet_longer() -> None:
    clock = Clock()
    progress = Progress("engine loop", 30, quiet_s=150, clock=clock)
    clock.now += 100
    assert progress.check() is None
    progress.failed("a batch")
    clock.now += 31
    assert "kept failing" in str(progress.check())


def test_the_stall_limit_is_a_setting() -> None:
    assert Settings.from_env("audit", {}).stall_s == 60.0
    assert Settings.from_env("audit", {"LANEWAY_STALL_S": "5"}).stall_s == 5.0
    with pytest.raises(SettingsError, match="LANEWAY_STALL_S"):
        Settings.from_env("audit", {"LANEWAY_STALL_S": "0"})


def test_the_connectors_producer_reports_a_send_it_keeps_retrying() -> None:
    # a real producer whose records time out: nothing listens at its broker's address
    async def scenario() -> str | None:
        loop = asyncio.get_running_loop()
        producer = AsyncProducer(
            Producer({"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 200,
                      "log_level": 0}), loop, stall_s=0.5)
        sending = asyncio.create_task(producer.send("laneway.commands", "k", b"v"))
        try:
            deadline = loop.time() + 20
            while loop.time() < deadline:
                problem = producer.progress.check()
                if problem is not None:
                    return problem
                await asyncio.sleep(0.05)  # polling with a deadline
            return None
        finally:
            sending.cancel()
            producer.close(0.1)

    problem = asyncio.run(scenario())
    assert problem is not None
    assert problem.startswith("the connectors' producer has kept failing at a send to "
                              "laneway.commands for")


def test_a_loop_stuck_retrying_a_record_is_named_by_the_record_though_it_does_not_poll() -> None:
    now = [0.0]
    progress = Progress("sink", 10.0, clock=lambda: now[0])
    now[0] = 0.01
    progress.failed("events[0]@7")  # just after its last poll, retried without polling

    now[0] = 10.005  # the poll is 10.005 s old, the failure 9.995 s

    problem = progress.check()
    assert problem is not None
    assert problem.startswith("the sink has kept failing at events[0]@7")
