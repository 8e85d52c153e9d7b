"""The live feed under the e2e benchmark's paced load (`python -m benchmarks.e2e --live N`).

N instances of a loop that waits on a 1-second timer (start -> gateway -> timer -> gateway
...) run beside the paced starts; each has one SSE client reading
`GET /api/instances/{id}/live` through the edge, as the console's instance page does. The
figure is the time from an event's Kafka timestamp (`at`: when the engine produced it,
before its transaction committed) to the moment the client read it, for every event the
clients read while the paced phase ran. The page's own rendering is not in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx

from benchmarks.e2e import pct
from laneway.bpmn import LANEWAY_NS
from laneway.codec import DefinitionRecord, encode_definition
from laneway.records import Command
from scripts.stack.testing import wait_until
from tests.auth import ADMIN
from tests.e2e.harness import Laneway, command_record, send, start_commands
from tests.e2e.sse import SseEvent, SseParser

LOOP = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:laneway="{ns}" id="d" targetNamespace="t">
  <process id="{pid}" isExecutable="true">
    <startEvent id="s"/>
    <exclusiveGateway id="again"/>
    <intermediateCatchEvent id="tick">
      <timerEventDefinition><timeDuration>PT1S</timeDuration></timerEventDefinition>
    </intermediateCatchEvent>
    <sequenceFlow id="f1" sourceRef="s" targetRef="again"/>
    <sequenceFlow id="f2" sourceRef="again" targetRef="tick"/>
    <sequenceFlow id="f3" sourceRef="tick" targetRef="again"/>
  </process>
</definitions>"""


@dataclass
class LiveResult:
    streams: int
    events: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    per_stream_min: int
    publish_mean_ms: float
    """The feeder's part: event produced -> published to Redis, mean over the events
    published while the clients watched (the audit's laneway_audit_live_publish_lag_seconds)."""

    def show(self) -> str:
        return (f"{'':<22} live: {self.streams} SSE clients through the edge read "
                f"{self.events} events during the paced phase (at least "
                f"{self.per_stream_min} each); event produced -> read by the client "
                f"p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms, max {self.max_ms:.0f} ms"
                f" (produced -> published to Redis: mean {self.publish_mean_ms:.0f} ms)")


@dataclass
class LiveClients:
    """N SSE clients in one asyncio thread, each on one instance."""

    base_url: str
    instance_ids: list[str]
    received: dict[str, list[SseEvent]] = field(default_factory=dict)
    _ready: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, daemon=True, name="live-clients")
        self._thread.start()
        wait_until(lambda: len(self._ready) == len(self.instance_ids) or self.error is not None,
                   60, 0.05, "every live stream ready")
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _main(self) -> None:
        try:
            asyncio.run(self._all())
        except BaseException as exc:
            self.error = exc

    async def _all(self) -> None:
        limits = httpx.Limits(max_connections=len(self.instance_ids) + 1)
        async with httpx.AsyncClient(base_url=self.base_url, headers=ADMIN, limits=limits,
                                     timeout=httpx.Timeout(60)) as client:
            tasks = [asyncio.create_task(self._one(client, iid)) for iid in self.instance_ids]
            while not self._stop.is_set():
                await asyncio.sleep(0.1)  # between looks at the stop flag
                for task in tasks:
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, client: httpx.AsyncClient, iid: str) -> None:
        parser = SseParser()
        events = self.received.setdefault(iid, [])
        async with client.stream("GET", f"/api/instances/{iid}/live") as response:
            if response.status_code != 200:
                raise AssertionError(f"live stream of {iid}: {response.status_code} "
                                     f"{(await response.aread())[:300]!r}")
            async for line in response.aiter_lines():
                event = parser.line(line)
                if event is None or event.comment is not None:
                    continue
                if event.event == "ready":
                    self._ready.add(iid)
                elif event.event is None:
                    events.append(event)


def _readable(api: httpx.Client, instance_id: str) -> bool:
    return api.get(f"/api/instances/{instance_id}").status_code == 200


def deploy_loop(lw: Laneway, pid: str) -> None:
    xml = LOOP.format(ns=LANEWAY_NS, pid=pid).encode()
    record = DefinitionRecord(pid, 1, xml, "bench", int(time.time() * 1000))
    producer = lw.producer()
    producer.produce(lw.topics.definitions, encode_definition(record), record.key.encode())
    assert producer.flush(30) == 0


class Watching:
    """`count` looping instances, each with an SSE client, from `__enter__` to `__exit__`
    (which cancels the instances)."""

    def __init__(self, lw: Laneway, count: int, pid: str) -> None:
        self.lw = lw
        self.pid = pid
        self.ids = [str(uuid.uuid4()) for _ in range(count)]
        self.clients = LiveClients(lw.public_url, self.ids)
        self._lag0 = (0.0, 0.0)

    def __enter__(self) -> Watching:
        self._lag0 = self._publish_lag()
        start_commands(self.lw.producer(), self.lw.topics, self.pid, self.ids)
        with httpx.Client(base_url=self.lw.public_url, headers=ADMIN, timeout=30) as api:
            for iid in self.ids:
                wait_until(functools.partial(_readable, api, iid), 60, 0.05,
                           f"watched instance {iid} projected")
        self.clients.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.clients.close()
        producer = self.lw.producer()
        for iid in self.ids:
            send(producer, self.lw.topics, command_record(Command.CANCEL_INSTANCE, iid, {}),
                 flush=False)
        producer.flush(30)

    def result(self, began: float, ended: float) -> LiveResult:
        """Over the events produced between `began` and `ended` (time.time()), once every
        client read an event produced after `ended` (so none of the window is in flight)."""
        def past(iid: str) -> bool:
            return any(e.json()["at"] / 1000 > ended
                       for e in self.clients.received.get(iid, [])[-20:])
        wait_until(lambda: self.clients.error is not None or all(map(past, self.ids)), 30,
                   0.05, "every live client past the paced phase")
        if self.clients.error is not None:
            raise self.clients.error
        lags: list[float] = []
        counts = []
        for iid in self.ids:
            n = 0
            for event in self.clients.received.get(iid, []):
                at = event.json()["at"] / 1000
                if began <= at <= ended:
                    lags.append(1000 * (event.read_at - at))
                    n += 1
            counts.append(n)
        if not lags:
            raise AssertionError("the live clients read no event during the paced phase")
        (total, count), (total0, count0) = self._publish_lag(), self._lag0
        return LiveResult(len(self.ids), len(lags), statistics.median(lags), pct(lags, 99),
                          max(lags), min(counts),
                          1000 * (total - total0) / max(1.0, count - count0))

    def _publish_lag(self) -> tuple[float, float]:
        name = "laneway_audit_live_publish_lag_seconds"
        return (self.lw.metric("audit", f"{name}_sum"),
                self.lw.metric("audit", f"{name}_count"))
