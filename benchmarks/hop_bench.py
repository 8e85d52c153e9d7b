"""The engine's hop next to a raw transactional hop: `python -m benchmarks.hop_bench`.

A hop: a command produced on `commands` -> the engine's transaction that handles it committed
-> its first event readable by a read_committed consumer. The ceiling, in the same run and the
same way: a raw Kafka echo (poll, produce one record per record read, send the offsets,
commit: no engine). Both run in a process of their own (as the service does), fed the same
paced START_INSTANCE records (start -> user task) by this process, which reads the outputs
read_committed and times each record from its Kafka timestamp to the moment it was read.

Per batch, where the time went (the loop's `EngineLoop.on_batch` probe; the echo times the
same stages): the first record's timestamp -> the poll returned it (`wait`), -> the
transaction begun and the offsets handed to the sender thread (`begin`), -> every record
handled and produced (`process`), -> the offsets' send returned (`offsets`), -> the produce
acknowledged (`acks`, a flush before the commit: the probe adds it), -> the commit returned
(`commit`), and the commit -> the first record's output read (`visible`).

`--rounds N` runs echo then engine N times; `--env KEY=VALUE` sets an engine setting
(`LANEWAY_ENGINE_*`) for an A/B; `--raw-conf prop=value` adds a librdkafka property to the
echo's clients (its `retry.backoff.ms` is the engine's default, 5). Needs Kafka
(KAFKA_BOOTSTRAP_SERVERS).
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import multiprocessing as mp
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.scratch_topics import create_topics, delete_topics, engine_topics
from laneway.codec import DefinitionRecord, encode_definition, encode_record
from laneway.kafka import consumer_config, fetch, producer_config
from laneway.records import Command, command
from laneway.settings import Settings
from laneway.topics import Topics
from services.engine.loop import BatchTiming

PARTITIONS = 4
_NS = 'xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"'
PROCESS = f"""<definitions {_NS} id="d" targetNamespace="t"><process id="hop"
  isExecutable="true"><startEvent id="s"/><userTask id="review"/><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
  <sequenceFlow id="f2" sourceRef="review" targetRef="e"/></process></definitions>""".encode()
STAGES = ("wait", "begin", "process", "offsets", "acks", "commit", "visible")
_MAX_BATCHES = 100_000  # timings kept per run


Timing = BatchTiming
"""One batch's stamps, the engine's and the echo's alike (services/engine/loop.py)."""


def stages(t: Timing, read_at: float | None) -> dict[str, float]:
    """Each stage in ms (`visible` when the first record's output was read)."""
    out = {"begin": t.begun - t.woke, "process": t.processed - t.begun,
           "offsets": t.offsets_sent - t.processed,
           "acks": t.acked - t.offsets_sent, "commit": t.committed - t.acked}
    ms = {k: 1000 * v for k, v in out.items()}
    if t.first_ms is not None:
        ms["wait"] = 1000 * t.woke_at - t.first_ms
    if read_at is not None:
        ms["visible"] = 1000 * (read_at - (t.woke_at + t.committed - t.woke))
    return ms


def make_topics(bootstrap: str) -> Topics:
    """The engine's topics under a fresh prefix, and the echo's `<prefix>echo` out topic."""
    topics = Topics(f"hop-{uuid.uuid4().hex[:8]}.")
    create_topics(bootstrap, all_topics(topics))
    return topics


def all_topics(topics: Topics) -> dict[str, int]:
    return {**engine_topics(topics, PARTITIONS),
            **dict.fromkeys((topics.prefix + "echo-in", topics.prefix + "echo"), PARTITIONS)}


def _conf(pairs: Sequence[str]) -> dict[str, Any]:
    return {k: (int(v) if v.lstrip("-").isdigit() else v)
            for k, v in (p.split("=", 1) for p in pairs)}


# -- the two processes under test ---------------------------------------------------------

def engine_child(bootstrap: str, prefix: str, env: Mapping[str, str], conn: Connection
                 ) -> None:
    """One engine replica (the service's loop) on `prefix`'s topics, timing each batch."""
    from services.engine.loop import EngineLoop
    from services.engine.settings import load_settings

    settings = load_settings({**env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                              "LANEWAY_TOPIC_PREFIX": prefix,
                              "LANEWAY_ENGINE_REPLICA": f"hop-{os.getpid()}",
                              "LANEWAY_ENGINE_GROUP": f"{prefix}engine"})
    loop = EngineLoop(settings)
    timings: list[Timing] = []

    def on_batch(t: BatchTiming) -> None:
        if len(timings) < _MAX_BATCHES:
            timings.append(t)

    loop.on_batch = on_batch
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not loop.restored and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.01)  # the child's own start-up wait, bounded
    conn.send("ready")
    conn.recv()  # stop
    loop.stop()
    thread.join(30)
    conn.send(timings)


def echo_child(bootstrap: str, prefix: str, conf: Sequence[str], conn: Connection) -> None:
    """The raw transactional hop: poll (as the engine's `fetch`), one record out per record
    in, the offsets, the commit; nothing else."""
    # producer_config's transactional retry backoff (5 ms) is the engine's too, so the
    # ceiling is the best this broker gives; `--raw-conf retry.backoff.ms=100` for
    # librdkafka's default
    extra = _conf(conf)
    src, out = prefix + "echo-in", prefix + "echo"
    producer = Producer({**producer_config(bootstrap, transactional_id=f"{prefix}echo"),
                         **extra})
    producer.init_transactions(30)
    consumer = Consumer({**consumer_config(bootstrap, f"{prefix}echo"), **extra})
    consumer.subscribe([src])
    timings: list[Timing] = []
    stop = threading.Event()

    def stopper() -> None:
        conn.recv()
        stop.set()

    threading.Thread(target=stopper, daemon=True).start()
    ready = False
    while not stop.is_set():
        if not ready and consumer.assignment():
            ready = True
            conn.send("ready")
        got = [m for m in fetch(consumer, 500, 0.1) if m.error() is None]
        if not got:
            continue
        woke_at, woke = time.time(), time.monotonic()
        producer.begin_transaction()
        begun = time.monotonic()
        for m in got:
            producer.produce(out, m.value(), m.key())
        processed = time.monotonic()
        offsets: dict[int, int] = {}
        for m in got:
            offsets[m.partition() or 0] = (m.offset() or 0) + 1
        producer.send_offsets_to_transaction(
            [TopicPartition(src, p, o) for p, o in offsets.items()],
            consumer.consumer_group_metadata(), 30)
        offsets_sent = time.monotonic()
        producer.flush(30)
        acked = time.monotonic()
        producer.commit_transaction(30)
        if len(timings) < _MAX_BATCHES:
            timings.append(Timing(len(got), got[0].key(), got[0].timestamp()[1], woke_at,
                                  woke, begun, processed, offsets_sent, acked,
                                  time.monotonic()))
    consumer.close()
    conn.send(timings)


# -- this process: the paced commands and the read_committed reader -----------------------

class Reader(threading.Thread):
    """First read (epoch s) of each key on `topic`, read_committed, poll then drain."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(consumer_config(bootstrap, f"hop-reader-{uuid.uuid4().hex[:8]}"))
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.seen: dict[bytes, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for m in fetch(self.consumer, 10_000, 0.05):
                key = m.key()
                if m.error() is None and key is not None and key not in self.seen:
                    self.seen[key] = time.time()
        self.consumer.close()


def paced(produce: Callable[[bytes], None], rate: int, seconds: float) -> dict[bytes, int]:
    """`rate` keys a second for `seconds`, each produced at its time; key -> its epoch ms."""
    sent: dict[bytes, int] = {}
    n = int(rate * seconds)
    started = time.monotonic()
    for i in range(n):
        due = started + i / rate
        while (left := due - time.monotonic()) > 0:
            time.sleep(left)
        key = uuid.uuid4().hex.encode()
        sent[key] = int(time.time() * 1000)
        produce(key)
    return sent


def start_record(key: bytes) -> bytes:
    return encode_record(command(Command.START_INSTANCE, key.decode(), {"processId": "hop"},
                                 record_id=f"hop-{key.decode()}",
                                 timestamp=int(time.time() * 1000)))


@dataclasses.dataclass
class Result:
    name: str
    hops_ms: list[float]
    stages: dict[str, list[float]]
    batches: int
    records: int
    slowest: list[str] = dataclasses.field(default_factory=list)
    """The `--worst` slowest hops, each with the batches around it."""


def measure(name: str, bootstrap: str, topics: Topics, args: argparse.Namespace) -> Result:
    """One side: its process up, `--warmup` records, then the paced run; the hop of each."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    if name == "engine":
        proc = ctx.Process(target=engine_child, args=(
            bootstrap, topics.prefix, dict(kv.split("=", 1) for kv in args.env), child))
        src, out = topics.commands, topics.events
    else:
        proc = ctx.Process(target=echo_child, args=(bootstrap, topics.prefix, args.raw_conf,
                                                    child))
        src, out = topics.prefix + "echo-in", topics.prefix + "echo"
    proc.start()
    try:
        if not parent.poll(120):
            raise RuntimeError(f"the {name} process did not start in 120 s")
        parent.recv()
        reader = Reader(bootstrap, out)
        reader.start()
        producer = Producer(producer_config(bootstrap))

        def produce(key: bytes) -> None:
            producer.produce(src, start_record(key), key)
            producer.poll(0)

        warm = paced(produce, 20, args.warmup)
        producer.flush(30)
        _wait(lambda: all(k in reader.seen for k in warm), 60)
        sent = paced(produce, args.rate, args.seconds)
        producer.flush(30)
        _wait(lambda: all(k in reader.seen for k in sent), 60)
        reader.stop.set()
        reader.join(10)
        parent.send("stop")
        if not parent.poll(60):
            raise RuntimeError(f"the {name} process did not stop in 60 s")
        timings: list[Timing] = parent.recv()
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    hops = [1000 * reader.seen[k] - ts for k, ts in sent.items() if k in reader.seen]
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    measured = [t for t in timings if t.first_key in sent]
    for t in measured:
        read = reader.seen.get(t.first_key) if t.first_key is not None else None
        for stage, ms in stages(t, read).items():
            per_stage[stage].append(ms)
    return Result(name, hops, per_stage, len(measured), sum(t.records for t in measured),
                  slowest(sent, reader.seen, timings, args.worst))


def slowest(sent: Mapping[bytes, int], seen: Mapping[bytes, float], timings: list[Timing],
            worst: int) -> list[str]:
    """The `worst` slowest hops, each with the batch under way when it was sent and the one
    that took it (the first whose poll returned after it was sent)."""
    woke = [t.woke_at for t in timings]
    lines = []
    hops = sorted(((1000 * seen[k] - ts, ts) for k, ts in sent.items() if k in seen),
                  reverse=True)
    for hop, ts in hops[:worst]:
        i = bisect.bisect_left(woke, ts / 1000)
        parts = [f"hop {hop:6.1f} ms, sent at {ts % 100_000:5d}"]
        for label, j in (("under way", i - 1), ("took it", i)):
            if 0 <= j < len(timings):
                t = timings[j]
                spent = " ".join(f"{k} {v:.1f}" for k, v in stages(t, None).items())
                parts.append(f"{label}: woke {1000 * t.woke_at % 100_000:7.0f} "
                             f"({t.records} records) {spent}")
        lines.append("; ".join(parts))
    return lines


def _wait(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError("the outputs were not all read in time")
        time.sleep(0.02)


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def show(results: Sequence[Result]) -> str:
    lines = [f"{'':8} {'hop p50':>8} {'p99':>7} {'batches':>8} {'rec/batch':>9}  "
             + "  ".join(f"{s:>13}" for s in STAGES) + "   (stage p50/p99 ms)"]
    for r in results:
        per = r.records / r.batches if r.batches else float("nan")
        cells = "  ".join(f"{pct(r.stages[s], .5):6.1f}/{pct(r.stages[s], .99):6.1f}"
                          for s in STAGES)
        lines.append(f"{r.name:8} {pct(r.hops_ms, .5):8.1f} {pct(r.hops_ms, .99):7.1f} "
                     f"{r.batches:8d} {per:9.2f}  {cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hop_bench",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=100, help="commands per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to send them")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds at 20/s first")
    parser.add_argument("--rounds", type=int, default=1, help="echo/engine pairs, alternated")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="an engine setting for the run")
    parser.add_argument("--raw-conf", action="append", default=[], metavar="PROP=VALUE",
                        help="a librdkafka property of the echo's clients")
    parser.add_argument("--engine-only", action="store_true", help="skip the echo")
    parser.add_argument("--worst", type=int, default=0,
                        help="print the N slowest hops of each side with their batches")
    args = parser.parse_args(argv)
    bootstrap = Settings.from_env("engine").kafka_bootstrap_servers
    for round_no in range(args.rounds):
        topics = make_topics(bootstrap)
        try:
            producer = Producer(producer_config(bootstrap))
            producer.produce(topics.definitions, encode_definition(
                DefinitionRecord("hop", 1, PROCESS, "x", 0)), b"hop@1")
            producer.flush(30)
            results = []
            if not args.engine_only:
                results.append(measure("raw", bootstrap, topics, args))
            results.append(measure("engine", bootstrap, topics, args))
        finally:
            delete_topics(bootstrap, all_topics(topics))
        print(f"round {round_no + 1}: {args.rate}/s for {args.seconds:g} s"
              + (f", {' '.join(args.env + args.raw_conf)}" if args.env or args.raw_conf else ""))
        print(show(results))
        for r in results:
            for line in r.slowest:
                print(f"  {r.name} {line}")
        if len(results) == 2:
            raw, eng = results
            print(f"engine hop / raw hop: p50 {pct(eng.hops_ms, .5) / pct(raw.hops_ms, .5):.1f}x"
                  f", p99 {pct(eng.hops_ms, .99) / pct(raw.hops_ms, .99):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
