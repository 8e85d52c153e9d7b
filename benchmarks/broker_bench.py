"""What the broker's CPU goes to: `python -m benchmarks.broker_bench`.

The broker's CPU (its process, from /proc: scripts/stack/usage.py; it must be this machine's)
for the three things Laneway asks of it, each alone, on topics of its own:

1. idle: the broker with nothing to do but the clients' metadata and the consumers' empty
   fetches (`--consumers` read_committed consumers, each polling, as the services' are);
2. transactions: `--transactions` hops as the engine makes them at low load: consume one
   record, produce one, send the offsets, commit (the per-transaction cost);
3. records: `--records` records of 400 B produced in transactions of `--batch` (the engine's
   batches under a burst) and read back read_committed (the per-record cost).

It prints the broker's CPU per second idle, per transaction (µs) and per 1,000 records (ms),
and the same work's client-side time, the ceiling of the hop: `--set name=value` passes a
librdkafka property to every client (an A/B of a client setting against the same broker).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.scratch_topics import create_topics, delete_topics
from laneway.kafka import consumer_config, producer_config
from scripts.stack import Settings
from scripts.stack.testing import unique_name
from scripts.stack.usage import Server, kafka_server

_VALUE = os.urandom(400)


def measure(broker: Server, work: Callable[[], None]) -> tuple[float, float]:
    """(the broker's CPU seconds, wall seconds) of `work`."""
    before, began = broker.cpu(), time.perf_counter()
    work()
    after, took = broker.cpu(), time.perf_counter() - began
    if before is None or after is None:
        raise SystemExit(f"the broker ended during the run ({broker.note})")
    return after - before, took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.broker_bench",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--consumers", type=int, default=4)
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a librdkafka property for every client (repeatable)")
    args = parser.parse_args(argv)
    if not 0 < args.idle_seconds <= 60 or not 0 <= args.consumers <= 32 \
            or not 1 <= args.transactions <= 100_000 or not 1 <= args.records <= 10_000_000 \
            or not 1 <= args.batch <= 100_000 or len(args.set) > 20:
        parser.error("idle 0-60 s, 0-32 consumers, 1-100,000 transactions, "
                     "1-10,000,000 records, batches of 1-100,000, at most 20 --set")
    extra: dict[str, Any] = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"expected --set name=value, got {item!r}")
        extra[name] = int(value) if value.isdigit() else value
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip() \
        or Settings.from_env().kafka_bootstrap
    broker = kafka_server(Settings.from_env(), bootstrap)
    if broker.pid is None:
        raise SystemExit(f"the broker at {bootstrap} is {broker.note}: its CPU cannot be read")
    base = unique_name("bench.broker")
    topics = [f"{base}.in", f"{base}.out", f"{base}.bulk"]
    create_topics(bootstrap, dict.fromkeys(topics, 1))
    clients: list[Consumer] = []
    try:
        # the services' consumers wait on empty partitions between batches: as many here
        for n in range(args.consumers):
            c = Consumer({**consumer_config(bootstrap, f"{base}-idle{n}"), **extra,
                          "log_level": 0})
            c.assign([TopicPartition(topics[1], 0, 0)])
            clients.append(c)

        def idle() -> None:
            end = time.monotonic() + args.idle_seconds
            while time.monotonic() < end:
                for c in clients:
                    c.poll(0.01)

        idle_cpu, idle_s = measure(broker, idle)
        txn_cpu, txn_s, hop_ms = transactions(broker, bootstrap, topics, args.transactions,
                                              extra)
        bulk_cpu, bulk_s = measure(broker, lambda: bulk(bootstrap, topics[2], args.records,
                                                        args.batch, extra))
    finally:
        for c in clients:
            c.close()
        delete_topics(bootstrap, topics)
    settings = " ".join(args.set) or "the clients' defaults"
    print(f"broker pid {broker.pid} ({broker.note}), {settings}:\n"
          f"  idle with {args.consumers} consumers: {1000 * idle_cpu / idle_s:.0f} ms CPU "
          f"per second\n"
          f"  {args.transactions} transactions of one hop (consume 1, produce 1, offsets, "
          f"commit): {1e6 * txn_cpu / args.transactions:.0f} µs broker CPU each; the hop "
          f"p50 {hop_ms[0]:.1f} ms, p99 {hop_ms[1]:.1f} ms ({txn_s:.1f} s)\n"
          f"  {args.records} records of 400 B in transactions of {args.batch}, read "
          f"read_committed: {1000 * bulk_cpu / args.records * 1000:.1f} ms broker CPU per "
          f"1,000 records ({args.records / bulk_s:,.0f} records/s)", flush=True)
    return 0


def transactions(broker: Server, bootstrap: str, topics: list[str], count: int,
                 extra: dict[str, Any]) -> tuple[float, float, tuple[float, float]]:
    """`count` hops; the broker's CPU, the seconds and the hop's p50 and p99 (ms)."""
    source = Producer({**producer_config(bootstrap), **extra})
    for _ in range(count):
        source.produce(topics[0], b"x")
    source.flush(30)
    producer = Producer({**producer_config(bootstrap, transactional_id=unique_name("bb")),
                         **extra})
    producer.init_transactions(30)
    consumer = Consumer({**consumer_config(bootstrap, unique_name("bb")), **extra,
                         "log_level": 0})
    consumer.assign([TopicPartition(topics[0], 0, 0)])
    hops: list[float] = []

    def work() -> None:
        deadline = time.monotonic() + 600
        while len(hops) < count and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error() is not None:
                continue
            began = time.perf_counter()
            producer.begin_transaction()
            producer.produce(topics[1], b"x")
            producer.send_offsets_to_transaction(
                [TopicPartition(topics[0], 0, (msg.offset() or 0) + 1)],
                consumer.consumer_group_metadata())
            producer.commit_transaction(30)
            hops.append(1000 * (time.perf_counter() - began))

    cpu, took = measure(broker, work)
    consumer.close()
    ordered = sorted(hops)
    return cpu, took, (ordered[len(ordered) // 2], ordered[int(0.99 * (len(ordered) - 1))])


def bulk(bootstrap: str, topic: str, records: int, batch: int, extra: dict[str, Any]) -> None:
    producer = Producer({**producer_config(bootstrap, transactional_id=unique_name("bb")),
                         **extra})
    producer.init_transactions(30)
    for start in range(0, records, batch):
        producer.begin_transaction()
        for i in range(start, min(records, start + batch)):
            while True:
                try:
                    producer.produce(topic, _VALUE, str(i).encode())
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.commit_transaction(30)
    consumer = Consumer({**consumer_config(bootstrap, unique_name("bb")), **extra,
                         "log_level": 0})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = 0
    deadline = time.monotonic() + 600
    while got < records and time.monotonic() < deadline:
        got += sum(1 for m in consumer.consume(5000, 1.0) if m.error() is None)
    consumer.close()


if __name__ == "__main__":
    sys.exit(main())
