"""The `llm` connector keeps one SDK client per key and base URL for the process
(`laneway.llm.ClientCache`), seen from the far side: a real HTTP server on 127.0.0.1 that speaks
the Messages API (tests/anthropic_server.py) and counts the TCP connections it accepts and sees
closed. A client kept across jobs reuses its keep-alive connection; a client made per job opens
one each time. Only the API is replaced."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from laneway.connectors import JobFailed
from laneway.connectors.builtin.llm import LlmConnector
from laneway.connectors.testing import make_job, run_job_async
from laneway.llm import ClientCache, LlmConfig, ask_text
from scripts.stack.testing import wait_until
from tests.anthropic_server import MessagesApi, messages_api, text

KEY = "sk-ant-test-clients-9d2f5a"
OTHER_KEY = "sk-ant-test-rotated-3b8e71"
PROMPT = {"prompt": "Is order {{ n }} routine?", "maxTokens": "16"}


@pytest.fixture
def api() -> Iterator[MessagesApi]:
    with messages_api(KEY) as server:
        server.answer(text("routine"))
        yield server


async def _job(connector: LlmConnector, api: MessagesApi, n: int, *, key: str = KEY,
               timeout: float = 10.0, http: httpx.AsyncClient | None = None) -> Any:
    return await run_job_async(connector, job=make_job("llm", PROMPT, {"n": n}, key=n + 1),
                               settings={"base_url": api.url}, secrets={"anthropic_api_key": key},
                               timeout=timeout, http=http)


def test_jobs_with_the_same_key_share_one_connection(api: MessagesApi) -> None:
    async def go() -> None:
        connector = LlmConnector()
        try:
            for n in range(5):
                result = await _job(connector, api, n)
                assert result["llm"]["text"] == "routine"
            # and concurrent jobs share its pool: at most one connection each at once
            await asyncio.gather(*(_job(connector, api, n) for n in range(5, 13)))
        finally:
            await connector.close()

    asyncio.run(go())
    assert api.count() == 13
    # sequential jobs on one kept client: one keep-alive connection (per job: five)
    assert 1 <= api.connections <= 9
    wait_until(lambda: api.closed == api.connections, 5.0, 0.01,
               "close() to close every connection")


def test_a_rotated_key_gets_its_own_client_and_is_sent(api: MessagesApi) -> None:
    api.also_accept(OTHER_KEY)

    async def go() -> None:
        connector = LlmConnector()
        try:
            await _job(connector, api, 1)
            await _job(connector, api, 2, key=OTHER_KEY)
            await _job(connector, api, 3)
            await _job(connector, api, 4, key=OTHER_KEY)
        finally:
            await connector.close()

    asyncio.run(go())
    sent = [r.headers.get("x-api-key") or r.headers.get("authorization", "")
            .removeprefix("Bearer ") for r in api.requests]
    assert sent == [KEY, OTHER_KEY, KEY, OTHER_KEY]
    assert api.connections == 2


def test_the_least_recently_used_client_is_evicted_and_closed(api: MessagesApi) -> None:
    keys = [f"sk-ant-test-tenant-{i}" for i in range(9)]
    for key in keys:
        api.also_accept(key)

    async def go() -> None:
        connector = LlmConnector()
        try:
            for n, key in enumerate(keys[:8]):
                await _job(connector, api, n, key=key)
            assert api.connections == 8
            assert api.closed == 0
            await _job(connector, api, 8, key=keys[8])  # a ninth: the first key's goes
            await asyncio.to_thread(wait_until, lambda: api.closed == 1, 5.0, 0.01,
                                    "the evicted client's connection to close")
            await _job(connector, api, 9, key=keys[1])  # still kept: no new connection
            assert api.connections == 9
            await _job(connector, api, 10, key=keys[0])  # evicted: a new client
            assert api.connections == 10
        finally:
            await connector.close()

    asyncio.run(go())
    wait_until(lambda: api.closed == 10, 5.0, 0.01, "close() to close every connection")


def test_a_client_evicted_while_leased_is_closed_when_the_lease_ends(api: MessagesApi) -> None:
    api.also_accept(OTHER_KEY)

    async def go() -> None:
        cache = ClientCache(max_clients=1)
        async with cache.lease(LlmConfig(KEY, api.url)) as first:
            await ask_text(first, model="m", prompt="one")
            async with cache.lease(LlmConfig(OTHER_KEY, api.url)) as second:
                await ask_text(second, model="m", prompt="two")
            # evicted by the second, but still in use here: still works, still open
            await ask_text(first, model="m", prompt="three")
            assert api.closed == 0
            assert cache.size == 1
        await asyncio.to_thread(wait_until, lambda: api.closed == 1, 5.0, 0.01,
                                "the evicted client to close once its lease ended")
        await cache.close()

    asyncio.run(go())
    assert api.count() == 3
    assert api.connections == 2
    wait_until(lambda: api.closed == 2, 5.0, 0.01, "close() to close the kept client")


def test_each_attempt_keeps_its_own_timeout_on_a_shared_client(api: MessagesApi) -> None:
    api.queue(dataclasses.replace(text("slow"), delay_s=1.5))

    async def go() -> None:
        connector = LlmConnector()
        try:
            started = time.monotonic()
            with pytest.raises(JobFailed) as caught:
                await _job(connector, api, 1, timeout=0.3)
            assert caught.value.retryable
            assert "in time" in caught.value.message
            assert time.monotonic() - started < 1.4
            # the same client, a longer attempt: the next answer comes (the slow one is gone)
            result = await _job(connector, api, 2, timeout=10.0)
            assert result["llm"]["text"] == "routine"
        finally:
            await connector.close()

    asyncio.run(go())


def test_the_key_is_in_no_repr_and_no_log(api: MessagesApi,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def go() -> str:
        connector = LlmConnector()
        cache = connector._clients
        try:
            await _job(connector, api, 1)
            return repr(cache) + repr(vars(connector)) + repr(cache._clients)
        finally:
            await connector.close()

    shown = asyncio.run(go())
    assert KEY not in shown
    assert KEY not in caplog.text


def test_a_second_event_loop_gets_clients_of_its_own(api: MessagesApi) -> None:
    connector = LlmConnector()
    # the testing helper's run_job: one asyncio.run per job, the connector kept between
    for n in range(2):
        assert asyncio.run(_job(connector, api, n))["llm"]["text"] == "routine"
    asyncio.run(connector.close())
    assert api.count() == 2
