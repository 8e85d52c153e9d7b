"""One job through the runtime (services.connectors.execute) with an in-memory idempotency store
and a list for `commands`: the commands it produces for each connector outcome."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, cast

import httpx
import pytest
import redis.exceptions

from laneway.codec import JobRecord, decode_record
from laneway.connectors import BpmnError, Connector, ConnectorContext, Job, JobFailed, Secrets
from laneway.records import Principal, PrincipalKind, Record
from services.connectors.execute import Runtime, execute
from services.connectors.idempotency import IdempotencyStore

INSTANCE = "4a5b6c7d-1111-4222-8333-944455566677"
SECRET = "tok-Zq81-very-secret"


class MemoryStore:
    """IdempotencyStore's contract, in memory (the Redis one is tested in integration)."""

    def __init__(self) -> None:
        self.done: dict[str, tuple[str, str, bytes]] = {}
        self.released: list[str] = []

    async def claim(self, key: str, record_id: str, lease_s: float) -> bytes | None:
        stored = self.done.get(key)
        return stored[2] if stored else None

    async def renew(self, key: str, record_id: str, lease_s: float) -> None:
        return None

    async def finish(self, key: str, record_id: str, intent: str, command: bytes) -> None:
        self.done[key] = (record_id, intent, command)

    async def release(self, key: str, record_id: str) -> None:
        self.released.append(key)


class Scripted(Connector):
    """Answers attempt n with `script[n-1]`: an exception to raise or variables to return."""

    type = "test"

    def __init__(self, *script: Any, delay: float = 0.0) -> None:
        self.script = list(script)
        self.delay = delay
        self.jobs: list[Job] = []
        self.running = 0
        self.max_running = 0

    async def run(self, job: Job, ctx: ConnectorContext) -> Mapping[str, Any]:
        self.jobs.append(job)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            step = self.script[min(job.attempt, len(self.script)) - 1]
            if callable(step):
                step = step(job, ctx)
            if isinstance(step, BaseException):
                raise step
            return cast(Mapping[str, Any], step)
        finally:
            self.running -= 1


def _record(attrs: Mapping[str, str] | None = None, retries: int = 3, key: int = 9) -> JobRecord:
    return JobRecord(record_id=f"job-created-{key}", instance_id=INSTANCE, element_id="call_api",
                     element_type="serviceTask", token_id=4, scope_id=1,
                     principal=Principal(PrincipalKind.SYSTEM, "engine"), timestamp=1,
                     key=key, type="test", retries=retries,
                     attributes={"laneway:retryBackoff": "PT0.01S", **(attrs or {})},
                     variables={"x": 1})


def _execute(connector: Connector, record: JobRecord, store: MemoryStore | None = None,
             slots: int = 32, environ: Mapping[str, str] | None = None,
             waits: list[float] | None = None) -> tuple[str, list[Record]]:
    emitted: list[tuple[str, bytes]] = []

    async def emit(key: str, data: bytes) -> None:
        emitted.append((key, data))

    async def go() -> str:
        async with httpx.AsyncClient() as http:
            rt = Runtime(connector=connector, secrets=Secrets(environ or {}, "/nonexistent"),
                         http=http, store=cast(IdempotencyStore, store or MemoryStore()),
                         emit=emit, slots=asyncio.Semaphore(slots))
            if waits is not None:
                async def record_wait(seconds: float) -> None:
                    waits.append(seconds)
                rt.sleep = record_wait
            return await execute(record, rt)

    intent = asyncio.run(go())
    assert all(key == INSTANCE for key, _ in emitted)
    return intent, [decode_record(data) for _, data in emitted]


def _summary(commands: list[Record]) -> list[tuple[str, Any]]:
    return [(c.intent, c.value.get("retries", c.value.get("errorCode",
                                                          c.value.get("variables"))))
            for c in commands]


def test_a_result_completes_the_job_as_the_connector_agent() -> None:
    connector = Scripted({"answer": 42})

    intent, commands = _execute(connector, _record())

    assert intent == "COMPLETE_JOB"
    (cmd,) = commands
    assert (cmd.intent, dict(cmd.value)) == ("COMPLETE_JOB",
                                             {"jobKey": 9, "variables": {"answer": 42}})
    assert cmd.principal == Principal(PrincipalKind.AGENT, "connector:test")
    assert (cmd.instance_id, cmd.element_id, cmd.kind.value) == (INSTANCE, "call_api", "COMMAND")
    (job,) = connector.jobs
    assert (job.key, job.retries, job.attempt, job.variables) == (9, 3, 1, {"x": 1})


def test_retryable_failures_report_each_attempt_then_complete() -> None:
    connector = Scripted(JobFailed("503"), JobFailed("503 again"), {"ok": True})

    _, commands = _execute(connector, _record())

    assert _summary(commands) == [("FAIL_JOB", 2), ("FAIL_JOB", 1),
                                  ("COMPLETE_JOB", {"ok": True})]
    assert commands[1].value["errorMessage"] == "503 again"
    assert [(j.attempt, j.retries) for j in connector.jobs] == [(1, 3), (2, 2), (3, 1)]
    assert len({c.record_id for c in commands}) == 3


def test_the_far_side_s_asked_for_wait_is_kept_within_the_longest_backoff() -> None:
    # a 429 asking for 5 s, one asking for a year, one asking for less than the backoff
    connector = Scripted(JobFailed("429", retry_after_s=5.0),
                         JobFailed("429", retry_after_s=3.15e7),
                         JobFailed("429", retry_after_s=0.001), {"ok": True})
    waits: list[float] = []

    _, commands = _execute(connector, _record({"laneway:retryBackoff": "PT1S",
                                               "laneway:retryBackoffMax": "PT60S"},
                                              retries=4), waits=waits)

    assert _summary(commands)[-1] == ("COMPLETE_JOB", {"ok": True})
    # 5 s asked (over the 1 s backoff); a year capped at the longest backoff; the 4 s
    # backoff when less is asked
    assert waits == [5.0, 60.0, 4.0]


def test_exhausted_retries_end_in_fail_job_with_none_left() -> None:
    intent, commands = _execute(Scripted(RuntimeError("boom")), _record(retries=2))

    assert intent == "FAIL_JOB"
    assert _summary(commands) == [("FAIL_JOB", 1), ("FAIL_JOB", 0)]
    assert commands[-1].value["errorMessage"] == "RuntimeError: boom"


def test_laneway_retries_applies_when_the_job_carries_none() -> None:
    _, commands = _execute(Scripted(JobFailed("x")), _record({"laneway:retries": "2"},
                                                             retries=0))
    assert _summary(commands) == [("FAIL_JOB", 1), ("FAIL_JOB", 0)]


def test_a_non_retryable_failure_fails_at_once() -> None:
    connector = Scripted(JobFailed("400 Bad Request", retryable=False), {"never": True})

    _, commands = _execute(connector, _record())

    assert _summary(commands) == [("FAIL_JOB", 0)]
    assert len(connector.jobs) == 1


def test_a_bpmn_error_throws_it() -> None:
    _, commands = _execute(Scripted(BpmnError("OUT_OF_STOCK", "none left", {"sku": "A"})),
                           _record())

    (cmd,) = commands
    assert (cmd.intent, dict(cmd.value)) == ("THROW_ERROR", {
        "jobKey": 9, "errorCode": "OUT_OF_STOCK", "errorMessage": "none left",
        "variables": {"sku": "A"}})


def test_an_attempt_past_the_timeout_is_a_retryable_failure() -> None:
    connector = Scripted({"late": True}, delay=0.5)

    _, commands = _execute(connector, _record({"laneway:timeout": "PT0.05S"}, retries=2))

    assert _summary(commands) == [("FAIL_JOB", 1), ("FAIL_JOB", 0)]
    assert commands[0].value["errorMessage"] == (
        "attempt 1 took longer than 0.05s (laneway:timeout)")


def test_malformed_attributes_fail_the_job_without_running_it() -> None:
    connector = Scripted({"never": True})
    _, commands = _execute(connector, _record({"laneway:timeout": "soon"}))
    assert _summary(commands) == [("FAIL_JOB", 0)]
    assert "laneway:timeout" in commands[0].value["errorMessage"]
    assert connector.jobs == []


def test_a_result_that_is_not_json_like_fails_the_job() -> None:
    _, commands = _execute(Scripted({"when": object()}), _record())
    assert _summary(commands) == [("FAIL_JOB", 0)]
    assert "JSON-like" in commands[0].value["errorMessage"]


def test_a_result_over_the_variables_limit_fails_the_job_for_an_incident() -> None:
    _, commands = _execute(Scripted({"page": "x" * 300_000}), _record())
    assert _summary(commands) == [("FAIL_JOB", 0)]
    assert "262144 bytes" in commands[0].value["errorMessage"]
    assert "variables" not in commands[0].value


def test_a_redelivered_job_is_answered_from_the_store_without_running_again() -> None:
    store = MemoryStore()
    connector = Scripted({"n": 1})
    _, first = _execute(connector, _record(), store)

    intent, second = _execute(connector, _record(), store)

    assert intent == "REPLAYED"
    assert len(connector.jobs) == 1
    assert second == first  # the same record, byte for byte


def _leaky(message: Callable[[str], BaseException]) -> Callable[[Job, ConnectorContext], Any]:
    def step(job: Job, ctx: ConnectorContext) -> BaseException:
        secret = ctx.secrets.get("api")
        ctx.log.info("calling with %s", secret)
        return message(secret)
    return step


@pytest.mark.parametrize("error", [
    lambda s: JobFailed(f"401 for key {s}", retryable=False),
    lambda s: ValueError(f"bad token {s}"),
    lambda s: BpmnError("DENIED", f"token {s} refused", {"echo": s}),
])
def test_secrets_stay_out_of_commands_and_logs(error: Callable[[str], BaseException],
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    _, commands = _execute(Scripted(_leaky(error)), _record(retries=1),
                           environ={"LANEWAY_SECRET_API": SECRET})

    (cmd,) = commands
    assert SECRET not in cmd.to_json()
    assert "***" in cmd.to_json()
    assert caplog.records, "expected the job to log"
    assert SECRET not in caplog.text
    assert "calling with ***" in caplog.text


def test_attempts_running_at_once_are_bounded_by_the_slots() -> None:
    connector = Scripted({"ok": True}, delay=0.05)

    async def go() -> None:
        async def emit(key: str, data: bytes) -> None:
            return None

        async with httpx.AsyncClient() as http:
            rt = Runtime(connector=connector, secrets=Secrets({}, "/nonexistent"), http=http,
                         store=cast(IdempotencyStore, MemoryStore()), emit=emit,
                         slots=asyncio.Semaphore(3))
            await asyncio.gather(*(execute(_record(key=k), rt) for k in range(10)))

    asyncio.run(go())
    assert len(connector.jobs) == 10
    assert connector.max_running == 3


def _notification(key: int = 9) -> JobRecord:
    return replace(_record(key=key), extra={"notification": True})


def test_a_notification_runs_the_connector_and_answers_nothing() -> None:
    connector = Scripted({"sent": True})

    intent, commands = _execute(connector, _notification())

    assert intent == "NOTIFIED"
    assert commands == [], (f"Expected no command for a notification job (the engine waits "
                            f"for none), but got {_summary(commands)}")
    (job,) = connector.jobs
    assert (job.key, job.variables) == (9, {"x": 1})


def test_a_notification_retries_without_reporting_failures() -> None:
    connector = Scripted(JobFailed("503"), {"sent": True})

    intent, commands = _execute(connector, _notification())

    assert (intent, commands) == ("NOTIFIED", [])
    assert [j.attempt for j in connector.jobs] == [1, 2]


def test_a_notification_that_fails_for_good_answers_nothing_either() -> None:
    intent, commands = _execute(Scripted(JobFailed("400", retryable=False)), _notification())
    assert (intent, commands) == ("NOTIFICATION_FAILED", [])


def test_a_redelivered_notification_is_not_sent_again() -> None:
    store = MemoryStore()
    connector = Scripted({"sent": True})
    _execute(connector, _notification(), store)

    intent, commands = _execute(connector, _notification(), store)

    assert (intent, commands) == ("REPLAYED", [])
    assert len(connector.jobs) == 1, "Expected the notification to run once, but it ran again"


class FlakyStore(MemoryStore):
    """Redis restarting: the first claim and the first finish fail as redis-py fails then."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = [redis.exceptions.ConnectionError("Connection closed by server."),
                         redis.exceptions.TimeoutError("Timeout reading from socket")]

    async def claim(self, key: str, record_id: str, lease_s: float) -> bytes | None:
        if self.failures:
            raise self.failures.pop(0)
        return await super().claim(key, record_id, lease_s)

    async def finish(self, key: str, record_id: str, intent: str, command: bytes) -> None:
        if self.failures:
            raise self.failures.pop(0)
        await super().finish(key, record_id, intent, command)


def test_a_redis_restart_is_waited_out_and_the_job_still_completes() -> None:
    """A redis-py ConnectionError is no built-in ConnectionError: it had sent the job record to
    the dead-letter topic, and its instance waited for ever (found by the chaos run)."""
    store = FlakyStore()
    connector = Scripted({"n": 1})

    intent, commands = _execute(connector, _record(), store)

    assert intent == "COMPLETE_JOB"
    assert _summary(commands) == [("COMPLETE_JOB", {"n": 1})]
    assert store.failures == []
    assert len(store.done) == 1
