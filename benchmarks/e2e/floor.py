"""The raw-Kafka floor of a latency target's path, in the same run (`benchmarks.e2e`: three
hops; `benchmarks.visibility_bench`: one, a task's completion).

The e2e's paced latency is start -> service task -> end as a reader of `events` sees it: three
hops through Kafka, two of them transactional. Here the same three hops with nothing in
them, each in a process of its own as in the e2e run:
- "engine": a transactional echo, polled as the engine polls (`laneway.kafka.fetch`); a start
  goes to the job topic, an answer to the end topic, each with the offsets and a commit per
  batch, as the engine's transaction;
- "worker": the no-op worker's loop (read_committed poll, produce, flush, asynchronous offset
  commit), sending each job back to the echo as its answer;
- this process: the starts at the paced rate, and the end read read_committed.

One record of 400 B per hop (the engine writes more: events, state, the job), so this is the
least three hops cost on this broker and this machine at that rate: a latency target below it
cannot be met by any engine over Kafka transactions here. With `hops=1` the echo sends each
start straight to the end and there is no worker: a command produced (as the worklist
produces it) -> the engine's transaction -> its output read (as the worklist's projection
reads it), the Kafka part of a user task's completion.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import statistics
import threading
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess

from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.e2e import pct
from benchmarks.hop_bench import Reader, paced
from benchmarks.scratch_topics import create_topics, delete_topics
from laneway.kafka import consumer_config, fetch, producer_config
from scripts.stack.testing import wait_until

SIZE = 400
"""Bytes of each record (as the throughput ceiling's)."""
_START, _ANSWER = b"s", b"a"
_READY_S = 120.0
_DRAIN_S = 120.0


@dataclass(frozen=True)
class Floor:
    """The chain's start -> end latency at the paced rate."""
    rate: int
    hops: int
    p50_ms: float
    p99_ms: float
    p99_by_second: tuple[float, ...]
    """The p99 of the starts of each second of the run: a stall, or a lag that grows."""

    def show(self) -> str:
        seconds = " ".join(f"{ms:.0f}" for ms in self.p99_by_second)
        hops = {1: "one-hop", 3: "three-hop"}.get(self.hops, f"{self.hops}-hop")
        return (f"raw {hops} floor at {self.rate}/s: start->end read p50 {self.p50_ms:.0f} ms,"
                f" p99 {self.p99_ms:.0f} ms (p99 per second: {seconds})")


def echo_child(bootstrap: str, prefix: str, partitions: int, hops: int, conn: Connection
               ) -> None:
    """The engine's hop without the engine: starts to the job topic (to the end with
    `hops` 1), answers to the end."""
    src, jobs, end = _topics(prefix)
    jobs = jobs if hops == 3 else end
    producer = Producer({**producer_config(bootstrap, transactional_id=f"{prefix}echo"),
                         "log_level": 0})
    producer.init_transactions(30)
    consumer, stop = _member(bootstrap, f"{prefix}echo", src, conn)
    ready = False
    while not stop.is_set():
        ready = _announce(consumer, partitions, conn, ready)
        got = [m for m in fetch(consumer, 500, 0.1) if m.error() is None]
        if not got:
            continue
        producer.begin_transaction()
        offsets: dict[int, int] = {}
        for m in got:
            value = m.value() or b""
            producer.produce(jobs if value[:1] == _START else end, value, m.key())
            offsets[m.partition() or 0] = (m.offset() or 0) + 1
        producer.send_offsets_to_transaction(
            [TopicPartition(src, p, o) for p, o in offsets.items()],
            consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
    consumer.close()
    conn.send("stopped")


def worker_child(bootstrap: str, prefix: str, partitions: int, _hops: int, conn: Connection
                 ) -> None:
    """The no-op worker's loop (benchmarks.e2e.clients.NoopWorker) on raw records."""
    src, jobs, _end = _topics(prefix)
    producer = Producer({**producer_config(bootstrap), "log_level": 0})
    consumer, stop = _member(bootstrap, f"{prefix}worker", jobs, conn)
    ready = False
    while not stop.is_set():
        ready = _announce(consumer, partitions, conn, ready)
        first = consumer.poll(0.05)
        if first is None:
            continue
        got = [m for m in [first, *consumer.consume(499, timeout=0)] if m.error() is None]
        for m in got:
            producer.produce(src, _ANSWER + (m.value() or b"")[1:], m.key())
        while producer.flush(1) and not stop.is_set():
            pass
        last = {m.partition() or 0: (m.offset() or 0) + 1 for m in got}
        consumer.commit(offsets=[TopicPartition(jobs, p, o) for p, o in last.items()],
                        asynchronous=True)
    consumer.close()
    conn.send("stopped")


def chain_floor(bootstrap: str, rate: int, seconds: float, partitions: int,
                warmup_s: float = 1.0, prefix: str = "", hops: int = 3) -> Floor:
    """The chain of `hops` (3, or 1: the echo alone) on its own topics (`prefix`, default a
    fresh one; deleted at the end): `warmup_s` at 20/s, then `rate` starts a second for
    `seconds`; the latency of each paced start."""
    if hops not in (1, 3):
        raise ValueError(f"Expected 1 or 3 hops, but got {hops}")
    prefix = prefix or f"floor-{uuid.uuid4().hex[:8]}."
    src, jobs, end = _topics(prefix)
    create_topics(bootstrap, dict.fromkeys((src, jobs, end), partitions))
    ctx = mp.get_context("spawn")
    children: list[tuple[SpawnProcess, Connection]] = []
    reader: Reader | None = None
    try:
        for target in (echo_child, worker_child)[:1 if hops == 1 else 2]:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=target, args=(bootstrap, prefix, partitions, hops, child),
                               daemon=True)
            proc.start()
            children.append((proc, parent))
        for proc, parent in children:
            if not parent.poll(_READY_S):
                raise RuntimeError(f"the floor's {proc.name} did not join in {_READY_S:g} s")
            parent.recv()
        reader = Reader(bootstrap, end, partitions)
        reader.start()
        producer = Producer({**producer_config(bootstrap), "log_level": 0})
        pad = os.urandom(SIZE - 1)

        def produce(key: bytes) -> None:
            producer.produce(src, _START + pad, key)
            producer.poll(0)

        warm = paced(produce, 20, warmup_s)
        producer.flush(30)
        seen = reader.seen
        wait_until(lambda: all(k in seen for k in warm), _DRAIN_S, 0.02,
                   "the warm-up read at the end")
        sent = paced(produce, rate, seconds)
        producer.flush(30)
        wait_until(lambda: all(k in seen for k in sent), _DRAIN_S, 0.02,
                   "the paced starts read at the end")
    finally:
        if reader is not None:  # stopped on every way out: a failed wait leaves no poller
            reader.stop.set()
            reader.join(10)
        for proc, parent in children:
            if proc.is_alive():
                parent.send("stop")
        for proc, _parent in children:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        delete_topics(bootstrap, [src, jobs, end])
    began = min(sent.values())
    latencies = {k: 1000 * seen[k] - ms for k, ms in sent.items()}
    by_second: dict[int, list[float]] = {}
    for k, ms in sent.items():
        by_second.setdefault(int((ms - began) // 1000), []).append(latencies[k])
    values = list(latencies.values())
    return Floor(rate, hops, statistics.median(values), pct(values, 99),
                 tuple(pct(v, 99) for _s, v in sorted(by_second.items())))


def _topics(prefix: str) -> tuple[str, str, str]:
    """The echo's input, the job topic and the end topic."""
    return prefix + "in", prefix + "jobs", prefix + "end"


def _member(bootstrap: str, group: str, topic: str, conn: Connection
            ) -> tuple[Consumer, threading.Event]:
    """A child's consumer of `topic` in `group`, and the event the parent's stop sets."""
    consumer = Consumer({**consumer_config(bootstrap, group), "log_level": 0})
    consumer.subscribe([topic])
    return consumer, _stopper(conn)


def _announce(consumer: Consumer, partitions: int, conn: Connection, ready: bool) -> bool:
    """Tell the parent once the group has given this child every partition."""
    if not ready and len(consumer.assignment()) == partitions:
        conn.send("ready")
        return True
    return ready


def _stopper(conn: Connection) -> threading.Event:
    """Set when the parent says stop (or goes away)."""
    stop = threading.Event()

    def wait() -> None:
        with contextlib.suppress(EOFError):  # the parent went away: stop too
            conn.recv()
        stop.set()

    threading.Thread(target=wait, daemon=True).start()
    return stop
