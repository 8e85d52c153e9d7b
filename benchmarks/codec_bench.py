"""Records per second through the record codec (run: .venv/bin/python benchmarks/codec_bench.py).

Not a test: timings depend on the machine. Encodes and decodes the records of a real run
(every event and command of an order process), a JOB_CREATED projected as a job, and a state
snapshot of a waiting instance; prints records/s and the mean size for each.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from laneway.bpmn import parse
from laneway.codec import (
    JobRecord,
    StateSnapshot,
    decode_job,
    decode_record,
    decode_state,
    encode_job,
    encode_record,
    encode_state,
)
from laneway.engine import DefinitionRepository
from laneway.engine.runner import Answers, LocalRunner
from laneway.records import Principal, PrincipalKind, Record

DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d1" targetNamespace="http://x">
  <process id="order" isExecutable="true">
    <startEvent id="start"/>
    <serviceTask id="charge"><extensionElements><zeebe:taskDefinition type="payment"/>
    </extensionElements></serviceTask>
    <exclusiveGateway id="gw" default="fNo"/>
    <userTask id="review"/>
    <exclusiveGateway id="merge"/>
    <parallelGateway id="split"/><task id="a"/><task id="b"/><parallelGateway id="join"/>
    <endEvent id="end"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>
    <sequenceFlow id="f2" sourceRef="charge" targetRef="gw"/>
    <sequenceFlow id="fYes" sourceRef="gw" targetRef="review">
      <conditionExpression>=amount &gt; 100</conditionExpression></sequenceFlow>
    <sequenceFlow id="fNo" sourceRef="gw" targetRef="merge"/>
    <sequenceFlow id="f3" sourceRef="review" targetRef="merge"/>
    <sequenceFlow id="fm" sourceRef="merge" targetRef="split"/>
    <sequenceFlow id="f4" sourceRef="split" targetRef="a"/>
    <sequenceFlow id="f5" sourceRef="split" targetRef="b"/>
    <sequenceFlow id="f6" sourceRef="a" targetRef="join"/>
    <sequenceFlow id="f7" sourceRef="b" targetRef="join"/>
    <sequenceFlow id="f8" sourceRef="join" targetRef="end"/>
  </process>
</definitions>
"""
VARIABLES: dict[str, Any] = {
    "amount": 150, "currency": "EUR", "customer": {"id": "c-17", "vip": True, "score": 0.82},
    "lines": [{"sku": f"SKU-{i}", "qty": i, "price": 9.99 + i} for i in range(5)],
}
PRINCIPAL = Principal(PrincipalKind.HUMAN, "alice", ("clerk",), {"exp": 1767229200})


def records() -> tuple[list[Record], Record, StateSnapshot]:
    """A run's records, its first JOB_CREATED, and a snapshot while it waits on the job."""
    repo = DefinitionRepository()
    repo.deploy(parse(DIAGRAM))
    runner = LocalRunner(repo, principal=PRINCIPAL)
    iid = runner.start("order", VARIABLES)
    runner.drain()
    inst = runner.instance(iid)
    assert inst is not None
    snapshot = StateSnapshot.of(inst, runner.clock)
    runner.run(iid, Answers(jobs={"payment": {"paid": True}}, tasks={"review": [{"ok": 1}]}))
    job = next(r for r in runner.records if r.intent == "JOB_CREATED")
    return runner.records, job, snapshot


def rate(fn: Callable[[Any], Any], items: Sequence[Any], seconds: float = 1.0) -> float:
    """Items per second of `fn` over `items`, repeated for about `seconds`."""
    count = 0
    start = time.perf_counter()
    while True:
        for item in items:
            fn(item)
        count += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def main() -> None:
    recs, job_event, snapshot = records()
    job = JobRecord.from_event(job_event)
    cases: list[tuple[str, Sequence[Any], Callable[[Any], bytes], Callable[[bytes], Any]]] = [
        (f"record (a run's {len(recs)})", recs, encode_record, decode_record),
        ("job", [job], encode_job, decode_job),
        ("state snapshot", [snapshot], encode_state, decode_state),
    ]
    print(f"{'records':<24}{'encode/s':>12}{'decode/s':>12}{'bytes':>8}")
    for name, items, enc, dec in cases:
        encoded = [enc(x) for x in items]
        size = sum(map(len, encoded)) / len(encoded)
        print(f"{name:<24}{rate(enc, items):>12,.0f}{rate(dec, encoded):>12,.0f}{size:>8.0f}")


if __name__ == "__main__":
    main()
