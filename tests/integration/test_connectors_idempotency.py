"""The idempotency guard against the real Redis: leases, stored outcomes, replays."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from redis.asyncio import Redis

from scripts.stack import Connections
from scripts.stack.testing import unique_name
from services.connectors.idempotency import IdempotencyStore, idempotency_key

pytestmark = pytest.mark.integration
T = TypeVar("T")


def _with_redis(stack: Connections, body: Callable[[Redis, str], Awaitable[T]]) -> T:
    async def go() -> T:
        redis = Redis.from_url(stack.redis_url)
        key = idempotency_key("http", unique_name("inst"), 5)
        try:
            return await body(redis, key)
        finally:
            await redis.delete(key)
            await redis.aclose()
    return asyncio.run(go())


def test_the_first_claim_owns_the_job_and_a_redelivery_gets_the_stored_command(
        stack: Connections) -> None:
    async def body(redis: Redis, key: str) -> None:
        a, b = (IdempotencyStore(redis, done_ttl_s=60) for _ in range(2))
        assert await a.claim(key, "rec-1", 5) is None
        assert 0 < await redis.ttl(key) <= 5

        # another worker waits while the lease is held, then gets the stored command
        waiting = asyncio.create_task(b.claim(key, "rec-1", 5))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await a.finish(key, "rec-1", "COMPLETE_JOB", b"\xc3\x01command")
        assert await asyncio.wait_for(waiting, 5) == b"\xc3\x01command"
        assert 55 < await redis.ttl(key) <= 60

    _with_redis(stack, body)


def test_a_failure_of_an_earlier_job_record_is_run_again_but_a_completion_is_not(
        stack: Connections) -> None:
    # the engine creates a job again (new record id, same key) after an incident is resolved
    async def body(redis: Redis, key: str) -> None:
        store = IdempotencyStore(redis, done_ttl_s=60)
        assert await store.claim(key, "rec-1", 5) is None
        await store.finish(key, "rec-1", "FAIL_JOB", b"failed")
        assert await store.claim(key, "rec-1", 5) == b"failed"  # a redelivery: replay
        assert await store.claim(key, "rec-2", 5) is None  # the job again: run it
        await store.finish(key, "rec-2", "COMPLETE_JOB", b"done")
        assert await store.claim(key, "rec-3", 5) == b"done"

    _with_redis(stack, body)


def test_a_released_or_expired_lease_lets_another_worker_take_the_job(
        stack: Connections) -> None:
    async def body(redis: Redis, key: str) -> None:
        a, b = (IdempotencyStore(redis, done_ttl_s=60, wait_interval_s=0.05) for _ in range(2))
        assert await a.claim(key, "rec-1", 5) is None
        await b.release(key, "rec-1")  # not b's lease: nothing happens
        assert await redis.exists(key) == 1
        await a.release(key, "rec-1")
        assert await asyncio.wait_for(b.claim(key, "rec-1", 1), 2) is None
        # b's lease runs out (its holder died): a takes the job over
        assert await asyncio.wait_for(a.claim(key, "rec-1", 1), 5) is None

    _with_redis(stack, body)
