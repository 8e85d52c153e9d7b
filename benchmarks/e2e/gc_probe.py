"""The collector's share of the engine's CPU per instance, without Kafka:
`python -m benchmarks.e2e.gc_probe`.

A `BatchWriter` over `--parked` parked instances runs start -> service task -> end for
`--instances` instances in batches of 25 (a start batch, then its COMPLETE_JOB batch), once
per collector setting, all in this process, interleaved over `--rounds`: the CPU (process
time) per instance and the time spent in collections (`gc.callbacks`). The first setting,
Python's own thresholds, is the peer the others are a ratio of (docs/e2e.md, issue 16).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import uuid
from typing import Any

from confluent_kafka import Message

from laneway.bpmn import LANEWAY_NS, parse
from laneway.codec import decode_job, encode_record
from laneway.engine import DefinitionRepository
from laneway.records import Command, Record, command
from laneway.topics import Topics
from services.engine.batch import BatchWriter, decode_all
from services.engine.partitions import PartitionState, build_partition

DIAGRAM = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:laneway="{ns}" id="d" targetNamespace="t">
  <process id="p" isExecutable="true">
    <startEvent id="s"/><serviceTask id="work" laneway:type="jt"/><endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
    <sequenceFlow id="f2" sourceRef="work" targetRef="e"/>
  </process>
</definitions>"""

SETTINGS = (("python's own (700)", 700, False), ("young 20000", 20_000, False),
            ("freeze only", 700, True), ("young 20000 + freeze", 20_000, True))
BATCH = 25
T = Topics("probe.")


class Probe:
    """One partition's engine and the offsets of what it read."""

    def __init__(self, parked: int) -> None:
        repository = DefinitionRepository()
        repository.deploy(parse(DIAGRAM.format(ns=LANEWAY_NS).encode()))
        self.parts: dict[int, PartitionState] = {0: build_partition(0, repository, [])}
        self.offset = 0
        for _ in range(parked // 500):
            self.batch([_start() for _ in range(500)])

    def batch(self, cmds: list[Record]) -> BatchWriter:
        messages = []
        for cmd in cmds:
            messages.append(Message(topic=T.commands, partition=0, offset=self.offset,
                                    key=cmd.instance_id.encode(), value=encode_record(cmd)))
            self.offset += 1
        writer = BatchWriter(T, self.parts, 1, lambda _t: None)
        for inbound in decode_all(messages):
            writer.handle(inbound)
        writer.finish(time.time_ns() // 1_000_000)
        return writer

    def instances(self, n: int) -> None:
        """`n` instances through start, job and completion."""
        for _ in range(max(1, n // BATCH)):
            writer = self.batch([_start() for _ in range(BATCH)])
            jobs = [decode_job(o.value or b"") for o in writer.out if o.topic == T.jobs("jt")]
            self.batch([command(Command.COMPLETE_JOB, j.instance_id,
                                {"jobKey": j.key, "variables": {}},
                                record_id=str(uuid.uuid4()), timestamp=2) for j in jobs])


def _start() -> Record:
    return command(Command.START_INSTANCE, str(uuid.uuid4()),
                   {"processId": "p", "variables": {}}, record_id=str(uuid.uuid4()),
                   timestamp=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e.gc_probe",
                                     description=__doc__)
    parser.add_argument("--parked", type=int, default=20_000)
    parser.add_argument("--instances", type=int, default=2_500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if not 0 <= args.parked <= 1_000_000 or not BATCH <= args.instances <= 100_000 \
            or not 1 <= args.rounds <= 20:
        parser.error("expected 0..1,000,000 parked, 25..100,000 instances, 1..20 rounds")
    probe = Probe(args.parked)
    spent = [0.0]
    began = [0.0]

    def clock(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - began[0]

    gc.callbacks.append(clock)
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in SETTINGS}
    collector: dict[str, list[float]] = {name: [] for name, _, _ in SETTINGS}
    try:
        for _ in range(args.rounds):
            for name, young, freeze in SETTINGS:
                gc.unfreeze()
                gc.collect()
                gc.set_threshold(young, 10, 10)
                if freeze:
                    gc.freeze()
                spent[0] = 0.0
                started = time.process_time()
                probe.instances(args.instances)
                cpu[name].append(1000 * (time.process_time() - started) / args.instances)
                collector[name].append(1000 * spent[0] / args.instances)
    finally:
        gc.callbacks.remove(clock)
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)
    peer = statistics.median(cpu[SETTINGS[0][0]])
    print(f"{args.parked} parked, {args.instances} instances per setting, {args.rounds} "
          f"rounds (medians)")
    for name, _, _ in SETTINGS:
        mid = statistics.median(cpu[name])
        print(f"  {name:<22} {mid:.3f} ms CPU per instance ({mid / peer:.2f} of python's own), "
              f"of it in the collector {statistics.median(collector[name]):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
