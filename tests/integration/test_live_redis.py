"""Both ends of the live feed against the real Redis: the feeder publishes the events of the
instances a stream watches and only those, and goes on without Redis; a stream's
subscription marks its instance watched and receives what is published on its channel.

The feeder is handed messages built here (as its consumer would hand them over), so these
tests need no Kafka; the e2e test (`tests/e2e/test_live_e2e.py`) runs the whole way.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from laneway.codec import encode_record
from laneway.records import Principal, PrincipalKind, Record, RecordKind
from scripts.stack import Connections
from scripts.stack.testing import unique_name
from services.audit.live import LiveFeeder, LiveKeys
from services.audit.live_streams import MAX_BACKLOG, WATCH_TTL_S, LiveStreams, Subscription
from services.audit.metrics import LiveMetrics
from tests.ports import free_port

pytestmark = pytest.mark.integration

ANA = Principal(PrincipalKind.HUMAN, "ana")


@pytest.fixture
def keys(stack: Connections) -> Iterator[LiveKeys]:
    keys = LiveKeys(unique_name("live") + ".")
    yield keys
    client = redis.Redis.from_url(stack.redis_url)
    client.delete(keys.watching)
    client.close()


def _message(instance_id: str, offset: int, value: bytes | None = None) -> Message:
    record = Record(f"r-{offset}", RecordKind.EVENT, "ELEMENT_ACTIVATED", instance_id,
                    1000, {"key": 3}, "review", "userTask", 3, 1, ANA)
    return Message(topic="t.events", partition=2, offset=offset, key=instance_id.encode(),
                   value=encode_record(record) if value is None else value,
                   timestamp=(1, int(time.time() * 1000)))


def _feeder(url: str, keys: LiveKeys, metrics: LiveMetrics) -> LiveFeeder:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)
    return LiveFeeder("127.0.0.1:1", "t.events", "g", keys, client, metrics)


def test_the_feeder_publishes_only_what_is_watched(stack: Connections, keys: LiveKeys
                                                   ) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    watched, ended, other = (str(uuid.uuid4()) for _ in range(3))
    client.zadd(keys.watching, {watched: time.time() + 60, ended: time.time() - 1})
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(keys.channel(watched), keys.channel(ended), keys.channel(other))
    metrics = LiveMetrics(CollectorRegistry())
    feeder = _feeder(stack.redis_url, keys, metrics)

    published = feeder.feed([_message(other, 1), _message(watched, 2),
                             _message(ended, 3), _message(watched, 4, b"not avro")])

    assert published == 1
    got = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not got:
        msg = pubsub.get_message(timeout=0.2)
        if msg is not None:
            got.append(msg)
    assert [m["channel"].decode() for m in got] == [keys.channel(watched)]
    body = json.loads(got[0]["data"])
    assert (body["instanceId"], body["position"], body["principal"]) == (
        watched, "2:2", {"kind": "human", "id": "ana"})
    assert pubsub.get_message(timeout=0.5) is None  # nothing else
    assert metrics.skipped.labels("undecodable")._value.get() == 1
    assert metrics.published._value.get() == 1
    pubsub.close()
    client.close()


def test_without_redis_the_feeder_drops_the_events_and_says_so(keys: LiveKeys) -> None:
    feeder = _feeder(f"redis://127.0.0.1:{free_port()}/0", keys,
                     LiveMetrics(CollectorRegistry()))

    began = time.monotonic()
    published = [feeder.feed([_message(str(uuid.uuid4()), n)]) for n in range(20)]

    assert published == [0] * 20
    assert time.monotonic() - began < 5  # tried once a second at most, not per batch
    problem = feeder.problem()
    assert problem is not None
    assert "Redis is unavailable" in problem


def test_a_subscription_marks_its_instance_watched_and_receives_its_channel(
        stack: Connections, keys: LiveKeys) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    iid = str(uuid.uuid4())
    streams = LiveStreams(stack.redis_url, keys, LiveMetrics(CollectorRegistry()),
                          max_streams=1, keepalive_s=0.2)

    async def scenario() -> list[bytes | None]:
        assert streams.acquire()
        assert not streams.acquire()  # the bound
        subscription = await streams.subscribe(iid)
        until = client.zscore(keys.watching, iid)
        assert until is not None
        assert until > time.time() + WATCH_TTL_S - 5
        # subscribed before `subscribe` returned: what is published now arrives
        assert client.publish(keys.channel(iid), b'{"position":"0:1"}') == 1
        items = subscription.items()
        got: list[bytes | None] = []
        while None not in got or b'{"position":"0:1"}' not in got:  # the event, a keepalive
            got.append(await asyncio.wait_for(anext(items), 5))
        streams.stop()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(items), 5)
        assert subscription.ended == "the service stops"
        assert not streams.acquire()  # stopping: no new streams
        await subscription.close()
        streams.release()
        return got

    assert b'{"position":"0:1"}' in asyncio.run(scenario())
    assert client.publish(keys.channel(iid), b"late") == 0  # the subscription is gone
    client.close()


async def _drain(subscription: Subscription) -> None:
    async for _ in subscription.items():
        pass


@pytest.mark.parametrize(("max_s", "flood", "reason"), [
    (0.3, 0, "it was open for its longest"), (60.0, MAX_BACKLOG + 10, "the client did not "
                                                                        "keep up")])
def test_a_subscription_ends_after_its_longest_or_when_its_client_lags(
        stack: Connections, keys: LiveKeys, max_s: float, flood: int, reason: str) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    iid = str(uuid.uuid4())
    streams = LiveStreams(stack.redis_url, keys, LiveMetrics(CollectorRegistry()),
                          max_s=max_s)

    async def scenario() -> str | None:
        subscription = await streams.subscribe(iid)
        pipe = client.pipeline(transaction=False)
        for n in range(flood):
            pipe.publish(keys.channel(iid), f'{{"position":"0:{n}"}}')
        pipe.execute()
        # a client that reads nothing: the subscription ends by itself
        deadline = time.monotonic() + 10
        while subscription.ended is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # between looks, while the reader runs
        await asyncio.wait_for(_drain(subscription), 1)  # then nothing more is given
        await subscription.close()
        return subscription.ended

    assert asyncio.run(scenario()) == reason
    client.close()
