"""Restore of parked instances after an engine restart, and memory per parked instance
(run: `make bench-restore`, or
`.venv/bin/python -m benchmarks.restore_bench [--instances N] [--repeat R] [--keep] [--topic T]`).

Not a test: timings depend on the machine. Needs the local stack (KAFKA_BOOTSTRAP_SERVERS).
Uses a fresh one-partition `state` topic under a unique name, deleted at the end unless
`--keep` (then `--topic` measures it again, e.g. from a copy of another commit).

1. N instances of start -> user task (two variables each) are run by the engine's own code
   (`LocalRunner`) and their snapshots (`instance_snapshot`, what the engine service writes
   after the batch that started them) produced transactionally to partition 0 of `state`.
2. In a fresh subprocess each (so nothing of this process is counted), repeated `--repeat`
   times:
   - the ceiling: a raw read of the same partition to its end with the restore's consumer
     settings, no decoding, nothing kept;
   - the restore: `read_latest` + `build_partition`, as the engine service does on
     assignment; the process's RSS before it and after it (the partition kept, the reader
     closed, after a garbage collection), divided by N.
   The best time of each is printed with the ratio restore / raw read.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from laneway.bpmn import parse
from laneway.codec import default_codec
from laneway.engine import DefinitionRepository
from laneway.engine.runner import LocalRunner
from laneway.kafka import admin_config, producer_config
from laneway.settings import Settings
from services.engine.admin import watermarks
from services.engine.partitions import build_partition, instance_snapshot
from services.engine.restore import read_latest, reader_config

NS = 'xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"'
PARKED = f"""<definitions {NS} id="d" targetNamespace="t"><process id="parked" isExecutable="true">
  <startEvent id="s"/><userTask id="review"/><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
  <sequenceFlow id="f2" sourceRef="review" targetRef="e"/></process></definitions>""".encode()
MAX_INSTANCES = 1_000_000
TRANSACTION_RECORDS = 10_000  # records per producer transaction, as a large engine batch


def repository() -> DefinitionRepository:
    """The benchmark's one definition."""
    repo = DefinitionRepository()
    repo.load(parse(PARKED), "parked", 1)
    return repo


def fill(bootstrap: str, topic: str, instances: int) -> int:
    """Park `instances` instances and write their snapshots; returns the bytes written."""
    admin = AdminClient(admin_config(bootstrap, quiet=False))
    for future in admin.create_topics([NewTopic(topic, num_partitions=1,
                                                replication_factor=1)],
                                      operation_timeout=30).values():
        future.result(30)
    producer = Producer(producer_config(bootstrap, transactional_id=f"{topic}-fill"))
    producer.init_transactions(30)
    size = 0
    done = 0
    while done < instances:
        # runs of at most TRANSACTION_RECORDS instances: the runner keeps only one run
        runner = LocalRunner(repository(), keep_records=False)
        count = min(TRANSACTION_RECORDS, instances - done)
        ids = [runner.start("parked", {"orderId": f"order-{done + n}", "amount": done + n},
                            instance_id=str(uuid.uuid4()))
               for n in range(count)]
        runner.drain()
        producer.begin_transaction()
        for iid in ids:
            inst = runner.instance(iid)
            assert inst is not None
            assert inst.user_tasks
            data = instance_snapshot(inst, int(time.time() * 1000), done)
            size += len(data)
            producer.produce(topic, data, iid.encode(), partition=0)
            producer.poll(0)
        producer.commit_transaction(60)
        done += count
    return size


def raw_read(bootstrap: str, topic: str) -> dict[str, Any]:
    """Read the partition to its end as `read_latest` does, but decode and keep nothing."""
    consumer = Consumer(reader_config(bootstrap, "restore-bench-raw"))
    started = time.perf_counter()
    tp = TopicPartition(topic, 0)
    _low, high = watermarks(consumer, tp, 60)
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    records = 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for msg in consumer.consume(10_000, timeout=0.2):
            if msg.error() is not None:
                raise KafkaException(msg.error())
            records += 1
        if consumer.position([tp])[0].offset >= high:
            break
    seconds = time.perf_counter() - started
    consumer.close()
    return {"seconds": seconds, "records": records}


def rss_bytes() -> int:
    """The resident set size of this process."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def restore(bootstrap: str, topic: str) -> dict[str, Any]:
    """Restore the partition as the engine service does; time and RSS growth."""
    repo = repository()
    # the engine service has its codec's schemas loaded long before it restores
    default_codec()
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    latest = read_latest(bootstrap, topic, 0, 600)
    part = build_partition(0, repo, latest.values())
    seconds = time.perf_counter() - started
    del latest
    gc.collect()
    after = rss_bytes()
    return {"seconds": seconds, "instances": len(part.state.instances),
            "rss_growth": after - before}


def child(mode: str, bootstrap: str, topic: str) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its JSON line back."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.restore_bench", "--child", mode,
                          "--topic", topic], check=True, capture_output=True, text=True,
                         timeout=900, env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap})
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Fill a topic, then measure the raw read and the restore in subprocesses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", choices=("raw", "restore"))
    parser.add_argument("--topic", help="measure a topic an earlier run filled with "
                        "--instances instances (to compare two versions on the same records)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the topic this run fills (for --topic later)")
    args = parser.parse_args()
    bootstrap = Settings.from_env("engine").kafka_bootstrap_servers
    if args.child is not None:
        measure = raw_read if args.child == "raw" else restore
        print(json.dumps(measure(bootstrap, args.topic)), flush=True)
        return
    if not 1 <= args.instances <= MAX_INSTANCES or not 1 <= args.repeat <= 10:
        parser.error(f"--instances 1..{MAX_INSTANCES}, --repeat 1..10")
    topic = args.topic
    if topic is None:
        topic = f"bench-restore-{uuid.uuid4().hex[:8]}.state"
        started = time.perf_counter()
        size = fill(bootstrap, topic, args.instances)
        print(f"[restore] {args.instances:,} parked instances (start -> user task), "
              f"{size / args.instances:.0f} B per snapshot, written in "
              f"{time.perf_counter() - started:.1f}s to {topic}", flush=True)
    else:
        print(f"[restore] {args.instances:,} parked instances already in {topic}", flush=True)
    try:
        measure_all(bootstrap, topic, args.instances, args.repeat)
    finally:
        if args.topic is None and not args.keep:
            admin = AdminClient(admin_config(bootstrap, quiet=False))
            for future in admin.delete_topics([topic], operation_timeout=30).values():
                future.result(30)


def measure_all(bootstrap: str, topic: str, instances: int, repeat: int) -> None:
    """The raw reads and the restores, each in its own subprocess; the figures printed."""
    raws: list[float] = []
    restores: list[dict[str, Any]] = []
    for _ in range(repeat):
        raws.append(child("raw", bootstrap, topic)["seconds"])
        got = child("restore", bootstrap, topic)
        assert got["instances"] == instances, got
        restores.append(got)
    raw = min(raws)
    times = [r["seconds"] for r in restores]
    growths = [r["rss_growth"] for r in restores]
    best = min(times)
    growth = min(growths)
    print(f"[restore] raw read (ceiling): {raw:.2f}s "
          f"({', '.join(f'{s:.2f}' for s in raws)})")
    print(f"[restore] restore (read_latest + build_partition): {best:.2f}s "
          f"({', '.join(f'{s:.2f}' for s in times)}), "
          f"{instances / best:,.0f} instances/s, {best / raw:.2f}x the raw read")
    print(f"[restore] RSS growth per parked instance: {growth / instances:,.0f} B "
          f"({', '.join(f'{g / instances:,.0f}' for g in growths)}; "
          f"{growth / 2**20:.1f} MiB in all)", flush=True)


if __name__ == "__main__":
    main()
