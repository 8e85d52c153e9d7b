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
3. `--live` (issue 16: instances parked by a running engine): in a fresh subprocess, one
   engine replica (`EngineLoop`, the engine service's loop, on one partition of fresh topics
   under a unique prefix) starts `--warm-up` instances of the same diagram, then (the RSS taken
   after a garbage collection) N more; the RSS growth once all N are committed, divided by N,
   is printed next to the restore's. Its ceiling is the restore's figure (the same snapshot
   bytes kept, no Kafka client buffers), printed in the same run unless `--live-only`.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from benchmarks.scratch_topics import create_topics, delete_topics, engine_topics
from laneway.bpmn import parse
from laneway.codec import (
    DefinitionRecord,
    decode_state,
    default_codec,
    encode_definition,
    encode_record,
)
from laneway.engine import DefinitionRepository
from laneway.engine.runner import LocalRunner
from laneway.kafka import producer_config
from laneway.records import Command, command
from laneway.settings import Settings
from laneway.topics import Topics
from services.engine.admin import watermarks
from services.engine.loop import EngineLoop
from services.engine.partitions import ParkedInstances, build_partition, instance_snapshot
from services.engine.restore import read_latest, reader_config
from services.engine.settings import EngineSettings

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
    create_topics(bootstrap, {topic: 1})
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


def _start_many(bootstrap: str, topics: Topics, first: int, count: int) -> None:
    """Write `count` START_INSTANCE commands of the benchmark's diagram (two variables each)."""
    producer = Producer(producer_config(bootstrap))
    for n in range(first, first + count):
        iid = str(uuid.uuid4())
        producer.produce(topics.commands, encode_record(command(
            Command.START_INSTANCE, iid, {"processId": "parked", "variables": {
                "orderId": f"order-{n}", "amount": n}}, record_id=f"live-{n}", timestamp=0)),
            iid.encode())
        producer.poll(0)
    producer.flush(60)


def _committed(consumer: Consumer, topics: Topics, until: int, seconds: float) -> None:
    """Wait until the engine's group has committed `until` on the one commands partition."""
    tp = TopicPartition(topics.commands, 0)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            [got] = consumer.committed([tp], timeout=10)
        except KafkaException as exc:
            # a broker busy with the engine's 100,000 starts can take longer than one ask's
            # 10 s to answer: ask again until the deadline
            if exc.args[0].code() != KafkaError._TIMED_OUT:
                raise
            continue
        if got.offset >= until:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the engine did not commit {until} commands in {seconds:.0f}s")


def live(bootstrap: str, instances: int, warm_up: int) -> dict[str, Any]:
    """One engine replica starts `warm_up` then `instances` instances that park on a user
    task; the RSS growth over the second run."""
    topics = Topics(f"bench-live-{uuid.uuid4().hex[:8]}.")
    names = engine_topics(topics, 1)
    create_topics(bootstrap, names)
    try:
        producer = Producer(producer_config(bootstrap))
        producer.produce(topics.definitions, encode_definition(
            DefinitionRecord("parked", 1, PARKED, "x", 0)), b"parked@1")
        producer.flush(30)
        group = f"{topics.prefix}engine"
        common = dataclasses.replace(
            Settings.from_env("engine", {"KAFKA_BOOTSTRAP_SERVERS": bootstrap}),
            topic_prefix=topics.prefix)
        loop = EngineLoop(EngineSettings(common=common, replica="bench", group=group,
                                         batch_size=500, poll_timeout_s=0.05,
                                         definitions_wait_s=5, restore_timeout_s=60))
        thread = threading.Thread(target=loop.run, daemon=True)
        thread.start()
        watcher = Consumer({**reader_config(bootstrap, "restore-bench-live"), "group.id": group})
        _start_many(bootstrap, topics, 0, warm_up)
        _committed(watcher, topics, warm_up, 600)
        gc.collect()
        before = rss_bytes()
        started = time.perf_counter()
        _start_many(bootstrap, topics, warm_up, instances)
        _committed(watcher, topics, warm_up + instances, 1800)
        seconds = time.perf_counter() - started
        gc.collect()
        after = rss_bytes()
        parts = dict(loop.partitions)
        kept = sum(len(p.state.instances) for p in parts.values())
        parked = sum(p.state.instances.parked() for p in parts.values()
                     if isinstance(p.state.instances, ParkedInstances))
        loop.stop()
        thread.join(60)
        watcher.close()
        return {"seconds": seconds, "instances": kept, "parked": parked,
                "rss_growth": after - before}
    finally:
        delete_topics(bootstrap, names)


def redecode_cost(rounds: int = 2_000) -> tuple[float, float]:
    """CPU seconds to decode one parked instance of the diagram from its snapshot (what the
    next command on an instance parked after its batch pays), and to encode that snapshot
    (what every batch pays for each touched instance), best of three runs of `rounds`."""
    runner = LocalRunner(repository(), keep_records=False)
    iid = runner.start("parked", {"orderId": "order-1", "amount": 1})
    runner.drain()
    inst = runner.instance(iid)
    assert inst is not None
    snapshot = instance_snapshot(inst, 1, 1)
    decodes: list[float] = []
    encodes: list[float] = []
    for _ in range(3):
        started = time.process_time()
        for _ in range(rounds):
            decode_state(snapshot).instance()
        decodes.append((time.process_time() - started) / rounds)
        started = time.process_time()
        for _ in range(rounds):
            instance_snapshot(inst, 1, 1)
        encodes.append((time.process_time() - started) / rounds)
    return min(decodes), min(encodes)


def child(mode: str, bootstrap: str, topic: str, extra: tuple[str, ...] = ()
          ) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its JSON line back."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.restore_bench", "--child", mode,
                          "--topic", topic, *extra], check=True, capture_output=True, text=True,
                         timeout=900, env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap})
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Fill a topic, then measure the raw read and the restore in subprocesses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", choices=("raw", "restore", "live"))
    parser.add_argument("--live", action="store_true", help="also measure the RSS per "
                        "instance parked by a running engine (N starts of the same diagram)")
    parser.add_argument("--live-only", action="store_true",
                        help="only the running engine's figure (no restore)")
    parser.add_argument("--warm-up", type=int, default=2_000,
                        help="starts before the running engine's RSS is taken")
    parser.add_argument("--topic", help="measure a topic an earlier run filled with "
                        "--instances instances (to compare two versions on the same records)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the topic this run fills (for --topic later)")
    args = parser.parse_args()
    bootstrap = Settings.from_env("engine").kafka_bootstrap_servers
    if args.child == "live":
        print(json.dumps(live(bootstrap, args.instances, args.warm_up)), flush=True)
        return
    if args.child is not None:
        measure = raw_read if args.child == "raw" else restore
        print(json.dumps(measure(bootstrap, args.topic)), flush=True)
        return
    if (not 1 <= args.instances <= MAX_INSTANCES or not 1 <= args.repeat <= 10
            or not 0 <= args.warm_up <= MAX_INSTANCES):
        parser.error(f"--instances 1..{MAX_INSTANCES}, --repeat 1..10, "
                     f"--warm-up 0..{MAX_INSTANCES}")
    if args.live or args.live_only:
        got = child("live", bootstrap, "-", ("--instances", str(args.instances),
                                             "--warm-up", str(args.warm_up)))
        assert got["instances"] == args.warm_up + args.instances, got
        print(f"[live] {args.instances:,} instances started and parked by a running engine "
              f"in {got['seconds']:.1f}s ({got['parked']:,} of "
              f"{got['instances']:,} kept as bytes): RSS growth per parked instance "
              f"{got['rss_growth'] / args.instances:,.0f} B "
              f"({got['rss_growth'] / 2**20:.1f} MiB in all)", flush=True)
        decode, encode = redecode_cost()
        print(f"[live] a parked instance of this diagram decoded again on its next command: "
              f"{decode * 1e6:.0f} µs CPU (its snapshot written after each batch: "
              f"{encode * 1e6:.0f} µs, {decode / encode:.1f}x)", flush=True)
        if args.live_only:
            return
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
            delete_topics(bootstrap, [topic])


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
