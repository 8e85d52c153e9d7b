"""The live feed's other end: the streams of `GET /api/instances/{id}/live` in one process.

`LiveStreams` holds what the route needs: the bound on open streams
(`LANEWAY_LIVE_MAX_STREAMS`), the Redis client (made in the server's event loop on first
use), and the stop that ends every stream when the service stops. `subscribe` marks the
instance watched (`LiveKeys.watching`, so the feeder publishes its events), subscribes to its
channel and returns once Redis confirmed the subscription: from then on nothing committed is
missed. Each `Subscription` holds one Redis connection of its own while it is open; the bound
on streams bounds those too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from services.audit.live import LiveKeys
from services.audit.metrics import LiveMetrics

__all__ = ["LiveStreams", "LiveUnavailable", "Subscription", "sse"]

WATCH_TTL_S = 60.0
"""How long an instance stays watched after a stream last said so (every keepalive)."""
SUBSCRIBE_TIMEOUT_S = 5.0


class LiveUnavailable(Exception):
    """Redis did not answer: the stream cannot start (503, retry)."""


def sse(data: bytes | str, *, event: str | None = None, event_id: str | None = None) -> bytes:
    """One server-sent event; `data` holds no line break (compact JSON)."""
    text = data.decode() if isinstance(data, bytes) else data
    head = (f"event: {event}\n" if event else "") + (f"id: {event_id}\n" if event_id else "")
    return f"{head}data: {text}\n\n".encode()


KEEPALIVE = b": keepalive\n\n"
"""An SSE comment: keeps the edge and any proxy from timing the idle stream out."""


class Subscription:
    """One stream's subscription to one instance's channel."""

    def __init__(self, streams: LiveStreams, instance_id: str, pubsub: PubSub) -> None:
        self._streams = streams
        self.instance_id = instance_id
        self._pubsub = pubsub
        self._closed = False

    async def message(self) -> bytes:
        """The next message published on the channel (waits as long as it takes)."""
        while True:
            msg = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if msg is not None and msg.get("type") == "message":
                data = msg["data"]
                return data if isinstance(data, bytes) else str(data).encode()

    async def watch(self) -> None:
        """Say again that the instance is watched (at every keepalive)."""
        await self._streams.watch(self.instance_id)

    async def close(self) -> None:
        """Unsubscribe and give the connection back; once."""
        if self._closed:
            return
        self._closed = True
        await _close(self._pubsub)


class LiveStreams:
    """The live streams of one process."""

    def __init__(self, redis_url: str, keys: LiveKeys, metrics: LiveMetrics, *,
                 max_streams: int = 200, max_s: float = 3600.0, keepalive_s: float = 15.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.keys = keys
        self.metrics = metrics
        self.max_streams = max_streams
        self.max_s = max_s
        self.keepalive_s = keepalive_s
        self.open = 0
        self._url = redis_url
        self._clock = clock
        self._redis: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._stopping = False

    # -- the bound ------------------------------------------------------------------------------

    def acquire(self) -> bool:
        """Take a place for a stream; False when all are taken or the service stops."""
        if self._stopping or self.open >= self.max_streams:
            self.metrics.refused.labels("full").inc()
            return False
        self.open += 1
        self.metrics.streams.set(self.open)
        return True

    def release(self) -> None:
        """Give a place back."""
        self.open = max(0, self.open - 1)
        self.metrics.streams.set(self.open)

    # -- stopping -------------------------------------------------------------------------------

    def stop(self) -> None:
        """End every stream (the service stops); safe from any thread."""
        self._stopping = True
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stopped.set)

    async def stopped(self) -> None:
        """Returns when the service stops."""
        await self._stopping_event().wait()

    def _stopping_event(self) -> asyncio.Event:
        if self._stopped is None:
            self._loop = asyncio.get_running_loop()
            self._stopped = asyncio.Event()
            if self._stopping:
                self._stopped.set()
        return self._stopped

    # -- Redis ----------------------------------------------------------------------------------

    def _client(self) -> aioredis.Redis:
        """The Redis client, made in the server's loop on first use: a command times out
        after 2 s, a subscription's read waits for its next message as long as it takes
        (redis-py reads a subscription without the socket timeout)."""
        if self._redis is None:
            self._stopping_event()
            self._redis = aioredis.Redis.from_url(
                self._url, socket_timeout=2, socket_connect_timeout=2, socket_keepalive=True,
                max_connections=self.max_streams + 8)
        return self._redis

    async def watch(self, instance_id: str) -> None:
        """Mark the instance watched for WATCH_TTL_S from now (never shortening another
        stream's mark)."""
        await self._client().zadd(self.keys.watching,
                                  {instance_id: self._clock() + WATCH_TTL_S}, gt=True)

    async def subscribe(self, instance_id: str) -> Subscription:
        """Watch and subscribe; returns once Redis confirmed. LiveUnavailable when Redis
        does not answer."""
        pubsub: PubSub | None = None
        try:
            await self.watch(instance_id)
            pubsub = self._client().pubsub()
            await pubsub.subscribe(self.keys.channel(instance_id))
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                while True:
                    msg: Any = await pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_S)
                    if msg is not None and msg.get("type") == "subscribe":
                        break
        except (redis.RedisError, OSError, TimeoutError) as exc:
            if pubsub is not None:
                await _close(pubsub)
            self.metrics.refused.labels("redis").inc()
            raise LiveUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return Subscription(self, instance_id, pubsub)


async def _close(pubsub: PubSub) -> None:
    """Drop the subscription's connection (and with it the subscription)."""
    with contextlib.suppress(redis.RedisError, OSError, RuntimeError):
        await pubsub.aclose()  # type: ignore[no-untyped-call]
