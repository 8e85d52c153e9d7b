"""The triggers' figures: `python -m benchmarks.triggers_bench` (`make bench-triggers`).

On the local stack (started if needed), with the engine, definitions and triggers services:

1. **webhook**: N signed calls from C concurrent clients to `POST /api/hooks/{id}` through
   the edge; acknowledged starts per second (wall time until every call had its 202), the
   answer's latency, and the lag from sending a call to its instance's first event on
   `events` (p50, p99).
2. **feed, burst**: N entries appear at once in a feed the trigger already polls (interval
   PT1S, maxItems 1000); acknowledged starts per second until every fire is recorded, and the
   lag from the feed changing to each instance's first event.
3. **feed, paced**: one entry every 100 ms for a few seconds; the lag from an entry appearing
   to its instance's first event (p50, p99): the poll interval dominates it.

Every run has its own topics and schema, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from benchmarks.e2e import pct
from laneway.triggers.builtin.webhook import sign
from scripts.stack import Settings, up
from scripts.stack.testing import wait_until
from tests.e2e.harness import Laneway, TopicReader
from tests.e2e.trigger_kit import schedule_of, triggered
from tests.feed_server import Entry, feed_server, rss

SERVICES = ("engine", "definitions", "triggers")

def _started(reader: TopicReader, pid: str) -> dict[str, int]:
    """{dedup key: the Kafka timestamp of its instance's first event} of `pid` so far."""
    out: dict[str, int] = {}
    for record, (_, _, ts) in zip(reader.poll(), reader.meta, strict=True):
        if (record.intent == "ELEMENT_ACTIVATED" and record.element_type == "process"
                and record.value.get("processId") == pid):
            trigger = record.value.get("trigger") or {}
            out[str(trigger.get("dedupKey"))] = ts
    return out


def _lags(line: str, lags: list[float]) -> str:
    return (f"{line}: p50 {statistics.median(lags):.0f} ms, p99 {pct(lags, 99):.0f} ms, "
            f"max {max(lags):.0f} ms")


def webhook(lw: Laneway, calls: int, clients: int) -> list[str]:
    pid = f"benchhook_{uuid.uuid4().hex[:8]}"
    lw.deploy(triggered(pid, "webhook", start="call"))
    schedule = schedule_of(lw, pid)
    secret = uuid.uuid4().hex
    with lw.api() as api:
        api.put(f"/api/schedules/{schedule['id']}/credentials",
                json={"values": {"secret": secret}}).raise_for_status()
    sent: dict[str, float] = {}
    answered: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def call(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=lw.public_url, timeout=30)
        body = json.dumps({"n": i}).encode()
        stamp = str(int(time.time()))
        began = time.time()
        response = client.post(schedule["hookPath"], content=body, headers={
            "Content-Type": "application/json", "X-Laneway-Timestamp": stamp,
            "X-Laneway-Signature": sign(secret, stamp, body), "X-Laneway-Delivery": f"d{i}"})
        took = time.time() - began
        if response.status_code != 202:
            raise AssertionError(f"call {i}: {response.status_code} {response.text}")
        with lock:
            sent[f"delivery:d{i}"] = began
            answered.append(took * 1000)

    reader = TopicReader(lw.bootstrap, lw.topics.events)
    try:
        began = time.time()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(call, range(calls)))
        wall = time.time() - began
        wait_until(lambda: len(_started(reader, pid)) >= calls, 120, 0.2,
                   "every webhook's instance started")
        started = _started(reader, pid)
    finally:
        reader.close()
    lags = [started[k] - sent[k] * 1000 for k in sent]
    return [f"webhook: {calls} calls from {clients} clients acknowledged in {wall:.2f} s: "
            f"{calls / wall:.0f} starts/s; answer p50 {statistics.median(answered):.0f} ms, "
            f"p99 {pct(answered, 99):.0f} ms",
            _lags("webhook: call sent -> its instance's first event", lags)]


def feed(lw: Laneway, entries: int, paced_seconds: int) -> list[str]:
    lines = []
    with feed_server() as server:
        server.put("/bench.xml", rss([]))
        pid = f"benchfeed_{uuid.uuid4().hex[:8]}"
        lw.deploy(triggered(pid, "feed", start="entry", url=f"{server.url}/bench.xml",
                            interval="PT1S", initial="fire-existing", maxItems="1000"))
        schedule = schedule_of(lw, pid)

        def polled() -> bool:
            with lw.api() as api:
                shown = api.get(f"/api/schedules/{schedule['id']}").json()
            return shown["lastPollAt"] is not None

        wait_until(polled, 60, 0.2, "the feed's first poll")
        reader = TopicReader(lw.bootstrap, lw.topics.events)
        try:
            items = [Entry(f"urn:bench:{i}", title=f"Entry {i}") for i in range(entries)]
            began = time.time()
            server.put("/bench.xml", rss(items))

            def recorded() -> bool:
                with lw.db() as conn:
                    row = conn.execute("SELECT count(*) FROM fires WHERE schedule_id = %s",
                                       (schedule["id"],)).fetchone()
                return row is not None and row[0] >= entries

            wait_until(recorded, 300, 0.05, "every entry's start acknowledged")
            wall = time.time() - began
            wait_until(lambda: len(_started(reader, pid)) >= entries, 120, 0.2,
                       "every entry's instance started")
            lags = [ts - began * 1000 for ts in _started(reader, pid).values()]
            lines.append(f"feed burst: {entries} entries acknowledged in {wall:.2f} s from "
                         f"the feed changing: {entries / wall:.0f} starts/s")
            lines.append(_lags("feed burst: feed changed -> instance's first event", lags))
            # paced: one new entry every 100 ms
            appeared: dict[str, float] = {}
            paced = list(items)
            stop = time.time() + paced_seconds
            i = entries
            while time.time() < stop:
                paced.append(Entry(f"urn:bench:{i}", title=f"Entry {i}"))
                server.put("/bench.xml", rss(paced[-500:]))
                appeared[f"entry:urn:bench:{i}"] = time.time()
                i += 1
                time.sleep(0.1)
            wait_until(lambda: set(appeared) <= set(_started(reader, pid)), 60, 0.2,
                       "every paced entry's instance started")
            started = _started(reader, pid)
            lines.append(_lags(f"feed paced ({len(appeared)} entries, one per 100 ms, "
                               "interval PT1S): entry appeared -> instance's first event",
                               [started[k] - t * 1000 for k, t in appeared.items()]))
        finally:
            reader.close()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.triggers_bench",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="webhook calls")
    parser.add_argument("--clients", type=int, default=16, help="concurrent webhook clients")
    parser.add_argument("--entries", type=int, default=5000, help="feed entries in the burst")
    parser.add_argument("--paced-seconds", type=int, default=10)
    args = parser.parse_args(argv)
    conns = up(Settings.from_env())
    with tempfile.TemporaryDirectory(prefix="laneway-triggers-bench-") as tmp:
        lw = Laneway(bootstrap=conns.kafka_bootstrap_servers, database_url=conns.database_url,
                     redis_url=conns.redis_url, workdir=Path(tmp), services=SERVICES)
        lw.start()
        try:
            for line in webhook(lw, args.calls, args.clients):
                print(line, flush=True)
            for line in feed(lw, args.entries, args.paced_seconds):
                print(line, flush=True)
        finally:
            lw.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
