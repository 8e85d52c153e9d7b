"""The job gateway's leases and answers (services.connectors.gateway) without Kafka: records
handed in as the consumer would, a recorded producer, a clock the test moves."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from laneway.codec import JobRecord, decode_record, encode_job
from laneway.records import Command, Principal, PrincipalKind
from services.connectors.gateway import (
    Gateway,
    Held,
    JobAnswered,
    NotLessee,
    TypeQueue,
    UnknownJob,
)
from services.connectors.jobs_api import _answer
from services.connectors.offsets import PartitionOffsets
from services.connectors.settings import load_settings

INSTANCE = "4a5b6c7d-1111-4222-8333-944455566677"
WORKER = Principal(PrincipalKind.AGENT, "billing-worker", ("worker",))
OTHER = Principal(PrincipalKind.AGENT, "scan-worker", ("worker",))


class Msg:
    """What the gateway reads of a consumed record."""

    def __init__(self, value: bytes | None, offset: int, partition: int = 0) -> None:
        self._value, self._offset, self._partition = value, offset, partition

    def value(self) -> bytes | None:
        return self._value

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return self._partition

    def topic(self) -> str:
        return "jobs.ext"

    def key(self) -> bytes:
        return INSTANCE.encode()


class Consumer:
    """Records which offsets were reported done."""

    def __init__(self) -> None:
        self.done_offsets: list[int] = []

    def done(self, offsets: PartitionOffsets, offset: int) -> None:
        self.done_offsets.append(offset)
        offsets.done(offset)


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    async def send(self, topic: str, key: str, value: bytes, headers: Any = None) -> None:
        self.sent.append((topic, key, value))

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def job(key: int, notification: bool = False) -> bytes:
    record = JobRecord(record_id=f"job-created-{key}", instance_id=INSTANCE, element_id="work",
                       element_type="serviceTask", token_id=4, scope_id=1,
                       principal=Principal(PrincipalKind.SYSTEM, "engine"), timestamp=1,
                       key=key, type="ext", retries=3, variables={"n": key},
                       extra={"notification": True} if notification else {})
    return encode_job(record)


def queue(clock: Clock, dead: list[Any] | None = None) -> tuple[TypeQueue, PartitionOffsets]:
    consumer = Consumer()
    q = TypeQueue("ext", lambda _q: consumer,  # type: ignore[arg-type,return-value]
                  lambda msg, exc: (dead if dead is not None else []).append((msg, exc)),
                  clock=clock)
    return q, PartitionOffsets(0)


def hand_in(q: TypeQueue, offsets: PartitionOffsets, *values: bytes | None) -> None:
    batch = []
    for i, value in enumerate(values):
        offsets.received(i)
        batch.append((Msg(value, i), offsets))
    q.dispatch(batch)  # type: ignore[arg-type]


def test_a_lease_that_runs_out_offers_the_job_again() -> None:
    async def go() -> None:
        clock = Clock()
        q, offsets = queue(clock)
        hand_in(q, offsets, job(1), job(2))

        first = q.take(1, 30.0, "a", WORKER)
        assert [h.key for h in first] == [f"{INSTANCE}:1"]
        clock.now += 29
        assert q.sweep() == 0
        clock.now += 2
        assert q.sweep() == 1

        again = q.take(5, 30.0, "b", WORKER)
        assert sorted(h.key for h in again) == [f"{INSTANCE}:1", f"{INSTANCE}:2"]
        assert {h.worker for h in again} == {"b"}
    asyncio.run(go())


def test_a_job_in_its_backoff_is_not_offered_until_it_is_over() -> None:
    async def go() -> None:
        clock = Clock()
        q, offsets = queue(clock)
        hand_in(q, offsets, job(1))
        (held,) = q.take(1, 30.0, "a", WORKER)

        q.offer_again(held, 5.0)
        assert q.take(1, 30.0, "a", WORKER) == []
        clock.now += 5
        assert [h.key for h in q.take(1, 30.0, "a", WORKER)] == [held.key]
    asyncio.run(go())


def test_jobs_of_a_revoked_partition_are_no_longer_offered() -> None:
    async def go() -> None:
        q, offsets = queue(Clock())
        hand_in(q, offsets, job(1))
        offsets.revoked = True

        assert q.take(1, 30.0, "a", WORKER) == []
    asyncio.run(go())


def test_a_record_that_is_no_job_goes_to_the_dead_letter_topic_and_is_done() -> None:
    async def go() -> None:
        dead: list[Any] = []
        q, offsets = queue(Clock(), dead)
        hand_in(q, offsets, b"\x00garbage", None, job(3))

        assert len(dead) == 2
        assert offsets.commit_point() == 2  # the two bad ones are done; the job is not
        assert q.offered == 1
    asyncio.run(go())


def test_a_long_poll_returns_when_a_job_arrives() -> None:
    async def go() -> None:
        q, offsets = queue(Clock())
        waiting = asyncio.create_task(q.activate(2, 30.0, "a", WORKER, 10.0))
        for _ in range(3):  # yield to the loop: the activation runs until it waits for a job
            await asyncio.sleep(0)
        assert not waiting.done()
        hand_in(q, offsets, job(7))
        taken = await asyncio.wait_for(waiting, 2)
        assert [h.record.key for h in taken] == [7]
    asyncio.run(go())


def gateway() -> tuple[Gateway, Producer]:
    settings = load_settings({"LANEWAY_EXTERNAL_JOB_TYPES": "ext",
                              "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    producer = Producer()
    gw = Gateway(settings, asyncio.get_running_loop(), producer)  # type: ignore[arg-type]
    q = gw.queues["ext"]
    q.consumer._consumer.close()  # never started: the fake below takes its place
    q.consumer = Consumer()  # type: ignore[assignment]
    return gw, producer


def leased(*records: JobRecord) -> tuple[Gateway, Producer, TypeQueue, PartitionOffsets,
                                          list[Held]]:
    """A gateway (running loop needed) with `records` fetched on partition 0 and all of them
    leased to WORKER for 30 s."""
    gw, producer = gateway()
    q = gw.queues["ext"]
    offsets = PartitionOffsets(0)
    hand_in(q, offsets, *records)
    return gw, producer, q, offsets, q.take(len(records), 30.0, "a", WORKER)


def test_an_answer_is_the_workers_command_and_its_offset_is_done_after_it() -> None:
    async def go() -> None:
        gw, producer, _, offsets, (one, two) = leased(job(1), job(2))

        await gw.answer(two.key, Command.COMPLETE_JOB, {"variables": {"ok": True}}, WORKER)
        assert offsets.commit_point() is None  # offset 0 still leased
        await gw.answer(one.key, Command.THROW_ERROR,
                        {"errorCode": "NO", "errorMessage": "", "variables": {}}, WORKER)
        assert offsets.commit_point() == 2

        commands = [decode_record(v) for _t, _k, v in producer.sent]
        assert [(c.intent, c.value["jobKey"]) for c in commands] == [
            ("COMPLETE_JOB", 2), ("THROW_ERROR", 1)]
        assert {(c.principal.kind, c.principal.id) for c in commands} == {
            (PrincipalKind.AGENT, "billing-worker")}
        assert commands[0].element_id == "work"
        with pytest.raises(JobAnswered):
            await gw.answer(two.key, Command.COMPLETE_JOB, {"variables": {}}, WORKER)
        with pytest.raises(UnknownJob):
            await gw.answer(f"{INSTANCE}:99", Command.COMPLETE_JOB, {"variables": {}}, WORKER)
    asyncio.run(go())


def test_a_failure_with_retries_left_offers_the_job_again_with_them() -> None:
    async def go() -> None:
        gw, producer, q, offsets, (held,) = leased(job(1))

        await gw.answer(held.key, Command.FAIL_JOB, {"retries": 2, "errorMessage": "down"},
                        WORKER)
        assert offsets.commit_point() is None
        (again,) = q.take(1, 30.0, "a", WORKER)
        assert again.retries == 2
        await gw.answer(held.key, Command.FAIL_JOB, {"retries": 0, "errorMessage": "down"},
                        WORKER)
        assert offsets.commit_point() == 1
        ids = [decode_record(v).record_id for _t, _k, v in producer.sent]
        assert len(set(ids)) == 2  # each attempt's command is a record of its own
    asyncio.run(go())


def test_a_notification_job_is_answered_without_a_command() -> None:
    async def go() -> None:
        gw, producer, _, offsets, (held,) = leased(job(1, notification=True))

        await gw.answer(held.key, Command.COMPLETE_JOB, {"variables": {}}, WORKER)
        assert producer.sent == []
        assert offsets.commit_point() == 1
    asyncio.run(go())


def test_a_gateway_only_process_names_no_connector_type() -> None:
    settings = load_settings({"LANEWAY_EXTERNAL_JOB_TYPES": "ext",
                              "LANEWAY_CONNECTOR_TYPES": "none"})
    assert (settings.connector_types, settings.external_job_types) == ((), ("ext",))
    assert load_settings({}).external_job_types == ()


def test_an_answer_kafka_has_not_taken_in_time_is_still_sent_and_then_done() -> None:
    async def go() -> None:
        gw, producer, q, offsets, (held,) = leased(job(1))
        kafka_back = asyncio.Event()
        send = producer.send

        async def slow_send(*args: Any) -> None:
            await kafka_back.wait()
            await send(*args)
        producer.send = slow_send  # type: ignore[method-assign]

        with pytest.raises(TimeoutError):
            await gw.answer(held.key, Command.COMPLETE_JOB, {"variables": {}}, WORKER,
                            wait_s=0.01)
        with pytest.raises(JobAnswered):  # not a second command while the first is on its way
            await gw.answer(held.key, Command.COMPLETE_JOB, {"variables": {}}, WORKER)
        held.lease_until = 0.0  # its lease ran out meanwhile
        q.sweep()
        assert q.offered == 0  # nor offered again while its answer is on its way
        kafka_back.set()
        for _ in range(100):
            if offsets.commit_point() == 1:
                break
            await asyncio.sleep(0.01)
        assert offsets.commit_point() == 1
        assert len(producer.sent) == 1
    asyncio.run(go())


def test_only_the_lessee_answers_a_leased_job() -> None:
    async def go() -> None:
        gw, producer, _, offsets, (held,) = leased(job(1))

        for intent, value in ((Command.COMPLETE_JOB, {"variables": {"paid": True}}),
                              (Command.FAIL_JOB, {"retries": 0, "errorMessage": "no"}),
                              (Command.THROW_ERROR, {"errorCode": "NO", "errorMessage": "",
                                                     "variables": {}})):
            with pytest.raises(NotLessee):
                await gw.answer(held.key, intent, value, OTHER)
        # the same id of another kind is another principal; the roles are not compared
        with pytest.raises(NotLessee):
            await gw.answer(held.key, Command.COMPLETE_JOB, {"variables": {}},
                            Principal(PrincipalKind.HUMAN, "billing-worker", ("worker",)))
        assert producer.sent == []
        assert offsets.commit_point() is None

        await gw.answer(held.key, Command.COMPLETE_JOB, {"variables": {}},
                        Principal(PrincipalKind.AGENT, "billing-worker", ("worker", "admin")))
        assert len(producer.sent) == 1
        assert offsets.commit_point() == 1
    asyncio.run(go())


def test_a_late_answer_after_the_job_went_to_another_worker_is_refused() -> None:
    async def go() -> None:
        gw, producer, q, _, (first,) = leased(job(1))
        first.lease_until = 0.0  # its lease ran out
        q.sweep()

        with pytest.raises(UnknownJob):  # offered again, leased to no one: as before, 404
            await gw.answer(first.key, Command.COMPLETE_JOB, {"variables": {}}, WORKER)
        (second,) = q.take(1, 30.0, "b", OTHER)
        with pytest.raises(NotLessee):
            await gw.answer(first.key, Command.COMPLETE_JOB, {"variables": {}}, WORKER)
        await gw.answer(second.key, Command.COMPLETE_JOB, {"variables": {"by": "b"}}, OTHER)
        (sent,) = [decode_record(v) for _t, _k, v in producer.sent]
        assert (sent.principal.id, sent.value["variables"]) == ("scan-worker", {"by": "b"})
        with pytest.raises(JobAnswered):  # answered: 409 to everyone, as before
            await gw.answer(first.key, Command.COMPLETE_JOB, {"variables": {}}, WORKER)
    asyncio.run(go())


def test_the_api_says_409_to_another_principal_and_404_to_no_lease() -> None:
    async def go() -> None:
        gw, _producer = gateway()
        q = gw.queues["ext"]
        hand_in(q, PartitionOffsets(0), job(1), job(2))
        (held,) = q.take(1, 30.0, "a", WORKER)
        request: Any = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(gateway=gw)))

        refused = await _answer(request, held.key, Command.COMPLETE_JOB, {"variables": {}}, OTHER)
        assert refused.status_code == 409
        assert b"leased to another worker" in refused.body
        unleased = await _answer(request, f"{INSTANCE}:2", Command.COMPLETE_JOB,
                                 {"variables": {}}, WORKER)
        assert unleased.status_code == 404
        assert await _answer(request, held.key, Command.COMPLETE_JOB, {"variables": {}},
                             WORKER) == {"key": held.key, "answered": "COMPLETE_JOB"}
    asyncio.run(go())


def test_a_script_job_hands_its_script_and_language_to_the_worker() -> None:
    clock = Clock()
    q, offsets = queue(clock)
    script = JobRecord(record_id="job-created-9", instance_id=INSTANCE, element_id="calc",
                       element_type="scriptTask", token_id=4, scope_id=1,
                       principal=Principal(PrincipalKind.SYSTEM, "engine"), timestamp=1,
                       key=9, type="ext", retries=3, variables={"a": 1},
                       extra={"script": "b = a * 2", "scriptFormat": "groovy"})
    hand_in(q, offsets, job(1), encode_job(script))

    views = {h.key: h.view() for h in q.take(5, 30.0, "a", WORKER)}
    assert views[f"{INSTANCE}:9"]["script"] == "b = a * 2"
    assert views[f"{INSTANCE}:9"]["scriptFormat"] == "groovy"
    assert "script" not in views[f"{INSTANCE}:1"]
