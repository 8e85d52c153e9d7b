"""Audit sink benchmark: rows per second it sustains, and the availability lag.

    .venv/bin/python benchmarks/audit_bench.py [--instances 5000] [--rates 2000,5000]
        [--pipeline on|off] [--commit async|sync]

Against the local stack (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL; the defaults point at
`make up`), on a fresh topic and a fresh PostgreSQL schema, both dropped at the end.

1. Backlog: the records of `--instances` LocalRunner runs of a one-service-task process are
   produced first; the sink (in process, batches of `--batch`) then drains them. Printed: rows
   per second from its first poll to its last commit.
2. Paced: records are produced at each of `--rates` records per second for `--seconds`,
   each stamped with the time it is produced; the lag of each row is its commit time minus
   that timestamp (what `laneway_audit_availability_lag_seconds` observes). Printed: p50,
   p99 and max. Records are encoded before the clock starts, so the producer costs the sink's
   thread little; the producer still shares the process (and the GIL) with the sink.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from confluent_kafka import Consumer, Producer  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from psycopg import sql  # noqa: E402

from benchmarks.scratch_topics import create_topics, delete_topics  # noqa: E402
from laneway.bpmn import LANEWAY_NS, parse  # noqa: E402
from laneway.codec import encode_record  # noqa: E402
from laneway.engine import DefinitionRepository  # noqa: E402
from laneway.engine.runner import Answers, LocalRunner  # noqa: E402
from laneway.kafka import RenewingProducer, consumer_config, producer_config  # noqa: E402
from laneway.records import Record  # noqa: E402
from laneway.settings import Settings  # noqa: E402
from laneway.topics import Topics  # noqa: E402
from services.audit.db import connect, ensure_schema, migrate  # noqa: E402
from services.audit.metrics import SinkMetrics  # noqa: E402
from services.audit.sink import AuditSink  # noqa: E402

PROCESS = f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:laneway="{LANEWAY_NS}"
  id="d" targetNamespace="http://laneway.bench">
<process id="bench" isExecutable="true">
  <startEvent id="s"/><serviceTask id="t" laneway:type="w"/><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
  <sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
</process></definitions>""".encode()


def engine_records(instances: int) -> list[Record]:
    """The records of `instances` completed runs, with ids unique to this call."""
    repository = DefinitionRepository()
    repository.deploy(parse(PROCESS, "bench.bpmn"))
    runner = LocalRunner(repository)
    ids = [runner.start("bench", {"n": n}, instance_id=str(uuid.uuid4()))
           for n in range(instances)]
    runner.run(ids[0], Answers(auto_jobs=True))
    tag = uuid.uuid4().hex[:8]
    return [dataclasses.replace(r, record_id=f"{tag}-{r.record_id}") for r in runner.records]


class Collector:
    """The sink's on_commit hook: rows and lags, with the time of the last commit."""

    def __init__(self) -> None:
        self.rows = 0
        self.lags: list[float] = []
        self.last_commit = 0.0
        self.first_commit = 0.0
        self.first_rows = 0
        self.batches = 0

    def __call__(self, stamps: Sequence[int], committed: float) -> None:
        if not self.batches:
            self.first_commit, self.first_rows = committed, len(stamps)
        self.rows += len(stamps)
        self.batches += 1
        self.lags.extend(committed - ts / 1000 for ts in stamps)
        self.last_commit = committed


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    """Run both phases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--rates", default="2000,5000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--pipeline", choices=("on", "off"), default="on",
                        help="decode the next batch while one is written (the service's "
                             "LANEWAY_AUDIT_PIPELINE)")
    parser.add_argument("--commit", choices=("async", "sync"), default="async",
                        help="the offsets after the database commit without (async, the "
                             "sink's) or with waiting for the broker's answer")
    args = parser.parse_args(argv)
    settings = Settings.from_env("audit")
    bootstrap, url = settings.kafka_bootstrap_servers, settings.database_url
    topics = Topics(f"audit-bench-{uuid.uuid4().hex[:8]}.")
    schema = f"audit_bench_{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, {topics.events: args.partitions, topics.dlq: 1})
    ensure_schema(url, schema)
    with connect(url, schema) as conn:
        migrate(conn)
    producer = Producer({**producer_config(bootstrap), "linger.ms": 5})
    collector = Collector()
    sink = AuditSink(
        Consumer(consumer_config(bootstrap, f"{topics.prefix}audit")),
        RenewingProducer.from_config(producer_config(bootstrap)),
        lambda: connect(url, schema), events_topic=topics.events, dlq_topic=topics.dlq,
        batch_size=args.batch, poll_timeout_s=0.05, metrics=SinkMetrics(CollectorRegistry()),
        on_commit=collector, pipelined=args.pipeline == "on", commit_async=args.commit == "async")
    try:
        print(f"audit sink benchmark: batch {args.batch}, {args.partitions} partitions, "
              f"pipeline {args.pipeline}, offsets committed {args.commit}, "
              f"Python {sys.version.split()[0]}")
        backlog = engine_records(args.instances)
        for rec in backlog:
            producer.produce(topics.events, key=rec.instance_id.encode(),
                             value=encode_record(rec))
            producer.poll(0)
        producer.flush(60)
        thread = threading.Thread(target=sink.run, daemon=True)
        started = time.time()
        thread.start()
        while collector.rows < len(backlog):
            time.sleep(0.05)
        seconds = collector.last_commit - started
        steady = (len(backlog) - collector.first_rows) / (
            collector.last_commit - collector.first_commit)
        print(f"backlog  {len(backlog):>8,} rows in {seconds:6.2f}s from start: "
              f"{len(backlog) / seconds:>8,.0f} rows/s with the group join, "
              f"{steady:>8,.0f} rows/s from the first commit ({collector.batches} batches)")
        for rate in (int(r) for r in args.rates.split(",") if r.strip()):
            paced(producer, topics, collector, rate, args.seconds, args.instances)
    finally:
        sink.stop()
        time.sleep(0.2)
        sink.close()
        delete_topics(bootstrap, (topics.events, topics.dlq))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return 0


def paced(producer: Producer, topics: Topics, collector: Collector, rate: int,
          seconds: float, instances: int) -> None:
    """Produce at `rate` records/s, stamped with their production time; print the lag."""
    pool = engine_records(max(1, int(rate * seconds) // 13 + 1))
    count = min(len(pool), int(rate * seconds))
    start_ms = int(time.time() * 1000) + 2000 + count // 40  # encoding takes a while
    encoded = [(r.instance_id.encode(),
                encode_record(dataclasses.replace(r, timestamp=start_ms + i * 1000 // rate)))
               for i, r in enumerate(pool[:count])]
    rows_before = collector.rows
    collector.lags = []
    while time.time() * 1000 < start_ms:
        time.sleep(0.001)
    t0 = time.monotonic()
    for i, (key, value) in enumerate(encoded):
        due = t0 + i / rate
        delay = due - time.monotonic()
        if delay > 0.002:
            time.sleep(delay)
        producer.produce(topics.events, key=key, value=value)
        producer.poll(0)
    producer.flush(30)
    while collector.rows - rows_before < count:
        time.sleep(0.05)
    lags = collector.lags
    print(f"paced    {rate:>8,} rows/s for {seconds:.0f}s ({count:,} rows): availability lag "
          f"p50 {percentile(lags, 50) * 1000:6.1f} ms, p99 {percentile(lags, 99) * 1000:6.1f} "
          f"ms, max {max(lags) * 1000:6.1f} ms, mean {statistics.fmean(lags) * 1000:6.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
