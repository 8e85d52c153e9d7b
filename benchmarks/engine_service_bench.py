"""The engine service against the local Kafka: restore time and commands per second
(run: .venv/bin/python benchmarks/engine_service_bench.py [instances] [commands]).

Not a test: timings depend on the machine. Needs the local stack (`python -m scripts.stack up`,
or KAFKA_BOOTSTRAP_SERVERS). Uses its own topics under a fresh prefix.

1. Restore: N parked instances (a user task with a one-hour boundary timer), each written
   twice to one partition of `state` as an uncompacted topic holds them, then read back and
   rebuilt as the service does on assignment (`read_latest` + `build_partition`).
2. Throughput: M START_INSTANCE commands of a start -> task -> end process written ahead, then
   one engine replica (4 partitions, in this process) runs them; commands per second from the
   moment it joined its group to the moment all offsets are committed.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.scratch_topics import create_topics, engine_topics
from laneway.bpmn import parse
from laneway.codec import (
    DefinitionRecord,
    StateSnapshot,
    encode_definition,
    encode_record,
    encode_state,
)
from laneway.engine import DefinitionRepository
from laneway.engine.runner import LocalRunner
from laneway.kafka import consumer_config, producer_config
from laneway.records import Command, command
from laneway.settings import Settings
from laneway.topics import Topics
from services.engine.loop import EngineLoop
from services.engine.partitions import build_partition
from services.engine.restore import read_latest
from services.engine.settings import EngineSettings

PARTITIONS = 4
NS = 'xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"'
PARKED = f"""<definitions {NS} id="d" targetNamespace="t"><process id="parked" isExecutable="true">
  <startEvent id="s"/><userTask id="review"/><endEvent id="e"/><endEvent id="late"/>
  <boundaryEvent id="timeout" attachedToRef="review"><timerEventDefinition>
    <timeDuration>PT1H</timeDuration></timerEventDefinition></boundaryEvent>
  <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
  <sequenceFlow id="f2" sourceRef="review" targetRef="e"/>
  <sequenceFlow id="f3" sourceRef="timeout" targetRef="late"/></process></definitions>""".encode()
SIMPLE = f"""<definitions {NS} id="d" targetNamespace="t"><process id="simple" isExecutable="true">
  <startEvent id="s"/><task id="t"/><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
  <sequenceFlow id="f2" sourceRef="t" targetRef="e"/></process></definitions>""".encode()


def make_topics(bootstrap: str) -> Topics:
    """Fresh topics under a new prefix."""
    topics = Topics(f"bench-{uuid.uuid4().hex[:8]}.")
    create_topics(bootstrap, engine_topics(topics, PARTITIONS))
    return topics


def bench_restore(bootstrap: str, instances: int) -> None:
    """Time reading and rebuilding one partition holding `instances` parked instances."""
    topics = make_topics(bootstrap)
    repo = DefinitionRepository()
    repo.load(parse(PARKED), "parked", 1)
    runner = LocalRunner(repo, keep_records=False)
    ids = [runner.start("parked") for _ in range(instances)]
    runner.drain()
    producer = Producer(producer_config(bootstrap))
    size = 0
    for _round in range(2):
        for iid in ids:
            inst = runner.instance(iid)
            assert inst is not None
            data = encode_state(StateSnapshot.of(inst, 0))
            size += len(data)
            producer.produce(topics.state, data, iid.encode(), partition=0)
            producer.poll(0)
    producer.flush(60)
    started = time.perf_counter()
    latest = read_latest(bootstrap, topics.state, 0, 120)
    read = time.perf_counter() - started
    part = build_partition(0, repo, latest.values())
    total = time.perf_counter() - started
    assert len(part.state.instances) == instances
    assert len(part.timers) == instances
    print(f"restore: {instances} instances ({2 * instances} records, "
          f"{size / 2 / instances:.0f} B each): read {read:.2f}s, total {total:.2f}s "
          f"({instances / total:,.0f} instances/s)")


def bench_throughput(bootstrap: str, commands: int) -> None:
    """Commands per second through one replica."""
    topics = make_topics(bootstrap)
    producer = Producer(producer_config(bootstrap))
    producer.produce(topics.definitions, encode_definition(
        DefinitionRecord("simple", 1, SIMPLE, "x", 0)), b"simple@1")
    for i in range(commands):
        iid = str(uuid.uuid4())
        producer.produce(topics.commands, encode_record(command(
            Command.START_INSTANCE, iid, {"processId": "simple"}, record_id=f"b{i}",
            timestamp=0)), iid.encode())
        producer.poll(0)
    producer.flush(60)
    group = f"{topics.prefix}engine"
    common = dataclasses.replace(Settings.from_env("engine", {"KAFKA_BOOTSTRAP_SERVERS":
                                                              bootstrap}),
                                 topic_prefix=topics.prefix)
    loop = EngineLoop(EngineSettings(common=common, replica="bench", group=group,
                                     batch_size=500, poll_timeout_s=0.05,
                                     definitions_wait_s=5, restore_timeout_s=60))
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    while not loop.joined:
        time.sleep(0.01)
    started = time.perf_counter()
    watcher = Consumer(consumer_config(bootstrap, group))
    tps = [TopicPartition(topics.commands, p) for p in range(PARTITIONS)]
    while True:
        done = sum(max(tp.offset, 0) for tp in watcher.committed(tps, timeout=10))
        if done >= commands:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    loop.stop()
    thread.join(30)
    watcher.close()
    print(f"throughput: {commands} START_INSTANCE (start -> task -> end: 8 events, a snapshot "
          f"and a tombstone each) in {elapsed:.2f}s: {commands / elapsed:,.0f} commands/s")


def main() -> None:
    """Run both measurements."""
    bootstrap = Settings.from_env("engine").kafka_bootstrap_servers
    instances = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    commands = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    bench_restore(bootstrap, instances)
    bench_throughput(bootstrap, commands)


if __name__ == "__main__":
    main()
