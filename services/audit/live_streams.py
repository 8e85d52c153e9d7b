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
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from services.audit.live import LIVE_HEAD, LiveKeys
from services.audit.metrics import LiveMetrics

__all__ = ["KEEPALIVE", "LiveStreams", "LiveUnavailable", "Subscription", "event_frame",
           "event_head", "sse"]

WATCH_TTL_S = 60.0
"""How long an instance stays watched after a stream last said so (every keepalive)."""
SUBSCRIBE_TIMEOUT_S = 5.0
MAX_BACKLOG = 1000
"""Messages a stream may have waiting for its client; past it the stream ends (the page
reconnects and fetches the instance afresh)."""
_log = logging.getLogger(__name__)


class LiveUnavailable(Exception):
    """Redis did not answer: the stream cannot start (503, retry)."""


def sse(data: bytes | str, *, event: str | None = None, event_id: str | None = None) -> bytes:
    """One server-sent event; `data` holds no line break (compact JSON)."""
    text = data.decode() if isinstance(data, bytes) else data
    head = (f"event: {event}\n" if event else "") + (f"id: {event_id}\n" if event_id else "")
    return f"{head}data: {text}\n\n".encode()


KEEPALIVE = b": keepalive\n\n"
"""An SSE comment: keeps the edge and any proxy from timing the idle stream out."""


def event_head(process_id: str, version: int) -> bytes:
    """What goes in front of every event of an instance of this process version (the feeder
    does not know them for every event; the instance row does)."""
    return (b'{"processId":' + json.dumps(process_id, ensure_ascii=False).encode() +
            b',"version":' + str(version).encode() + b",")


def event_frame(data: bytes, head: bytes) -> bytes | None:
    """The SSE event of one published event (`services.audit.live.live_json`), without
    parsing its JSON: its position (its first member) is the event's id, and `head` goes in
    front of its members. None for what is not one."""
    end = data.find(b'"', len(LIVE_HEAD))
    if not data.startswith(LIVE_HEAD) or end < 0 or b"\n" in data or b"\r" in data:
        return None
    return b"id: " + data[len(LIVE_HEAD):end] + b"\ndata: " + head + data[1:] + b"\n\n"


class Subscription:
    """One stream's subscription to one instance's channel: a reader task moves what Redis
    delivers into a queue, a timer adds a keepalive turn, and `items` yields both until the
    subscription ends (max duration, the service stopping, Redis gone, a client that lets
    MAX_BACKLOG messages pile up)."""

    def __init__(self, streams: LiveStreams, instance_id: str, pubsub: PubSub) -> None:
        self._streams = streams
        self.instance_id = instance_id
        self._pubsub = pubsub
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.ended: str | None = None
        """Why the subscription ended, once it did."""
        self._reader: asyncio.Task[None] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._next_tick: asyncio.TimerHandle | None = None
        self._closed = False

    def start(self, max_s: float, keepalive_s: float) -> None:
        """Read from Redis and count the time, in the running loop."""
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read())
        self._reader.add_done_callback(_retrieve)
        self._deadline = loop.call_later(max_s, self.end, "it was open for its longest")
        self._next_tick = loop.call_later(keepalive_s, self._tick, loop, keepalive_s)

    async def items(self) -> AsyncIterator[bytes | None]:
        """Each message (a published event), and None whenever a keepalive is due; ends
        with the subscription."""
        while True:
            item = await self._queue.get()
            if self.ended is not None:
                return
            yield item

    def end(self, reason: str) -> None:
        """End the subscription: `items` returns at its next turn."""
        if self.ended is None:
            self.ended = reason
            self._queue.put_nowait(None)

    async def watch(self) -> None:
        """Say again that the instance is watched (at every keepalive)."""
        await self._streams.watch(self.instance_id)

    async def close(self) -> None:
        """Stop reading, unsubscribe and give the connection back; once."""
        if self._closed:
            return
        self._closed = True
        self.end("closed")
        for timer in (self._deadline, self._next_tick):
            if timer is not None:
                timer.cancel()
        if self._reader is not None:
            self._reader.cancel()
        self._streams.forget(self)
        await _close(self._pubsub)

    def _tick(self, loop: asyncio.AbstractEventLoop, keepalive_s: float) -> None:
        if self.ended is None:
            self._queue.put_nowait(None)
            self._next_tick = loop.call_later(keepalive_s, self._tick, loop, keepalive_s)

    async def _read(self) -> None:
        try:
            while self.ended is None:
                msg = await self._pubsub.get_message(ignore_subscribe_messages=True,
                                                     timeout=None)
                if msg is None or msg.get("type") != "message":
                    continue
                if self._queue.qsize() >= MAX_BACKLOG:
                    self.end("the client did not keep up")
                    return
                data = msg["data"]
                self._queue.put_nowait(data if isinstance(data, bytes) else str(data).encode())
        except (redis.RedisError, OSError) as exc:
            self.end(f"Redis went away ({type(exc).__name__})")


def _retrieve(task: asyncio.Task[None]) -> None:
    """Take a finished reader's error (nobody awaits it)."""
    if not task.cancelled() and task.exception() is not None:
        _log.warning("live subscription reader failed", exc_info=task.exception())


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
        self._open: set[Subscription] = set()
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
        """End every stream and refuse new ones (the service stops); safe from any thread."""
        self._stopping = True
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(self._end_all)

    def _end_all(self) -> None:
        for subscription in list(self._open):
            subscription.end("the service stops")

    def forget(self, subscription: Subscription) -> None:
        """A subscription closed."""
        self._open.discard(subscription)

    # -- Redis ----------------------------------------------------------------------------------

    def _client(self) -> aioredis.Redis:
        """The Redis client, made in the server's loop on first use: a command times out
        after 2 s, a subscription's read waits for its next message as long as it takes
        (redis-py reads a subscription without the socket timeout)."""
        if self._redis is None:
            self._loop = asyncio.get_running_loop()
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
        subscription = Subscription(self, instance_id, pubsub)
        subscription.start(self.max_s, self.keepalive_s)
        self._open.add(subscription)
        if self._stopping:
            subscription.end("the service stops")
        return subscription


async def _close(pubsub: PubSub) -> None:
    """Drop the subscription's connection (and with it the subscription)."""
    with contextlib.suppress(redis.RedisError, OSError, RuntimeError):
        await pubsub.aclose()  # type: ignore[no-untyped-call]
