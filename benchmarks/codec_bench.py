"""Records per second through the record codec (run: .venv/bin/python benchmarks/codec_bench.py).

Not a test: timings depend on the machine. Encodes and decodes the records of a real run
(every event and command of an order process), a JOB_CREATED projected as a job, and a state
snapshot of a waiting instance; prints records per CPU second and the mean size for each,
through the direct writer and reader (`laneway.codec.fast`, what the services use) and,
in the same run, through fastavro's generic writer and reader (`Codec(direct=False)`: the
same bytes and values), and the ratio. The last row writes a snapshot from the instance
(`encode_instance`, what the engine service does) against `to_dict()` then the generic
writer.
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
    Codec,
    JobRecord,
    StateSnapshot,
    decode_job,
    decode_record,
    decode_state,
    default_codec,
    encode_instance,
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
    """Items per CPU second of `fn` over `items`, repeated for about `seconds` (the best of
    three: the machine is shared)."""
    best = 0.0
    for _ in range(3):
        count = 0
        start = time.process_time()
        while True:
            for item in items:
                fn(item)
            count += len(items)
            elapsed = time.process_time() - start
            if elapsed >= seconds / 3:
                break
        best = max(best, count / elapsed)
    return best


Case = tuple[str, Sequence[Any], Callable[[Any, Codec], bytes], Callable[[bytes, Codec], Any]]


def bind(fn: Callable[[Any, Codec], Any], codec: Codec) -> Callable[[Any], Any]:
    """`fn` with its codec."""
    return lambda x: fn(x, codec)


def main() -> None:
    recs, job_event, snapshot = records()
    job = JobRecord.from_event(job_event)
    inst = snapshot.instance()
    direct, generic = default_codec(), Codec(default_codec().versions, direct=False)
    cases: list[Case] = [
        (f"record (a run's {len(recs)})", recs, lambda r, c: encode_record(r, codec=c),
         lambda d, c: decode_record(d, codec=c)),
        ("job", [job], lambda j, c: encode_job(j, codec=c), lambda d, c: decode_job(d, codec=c)),
        ("state snapshot", [snapshot], lambda s, c: encode_state(s, codec=c),
         lambda d, c: decode_state(d, codec=c)),
        ("instance -> snapshot", [inst],
         lambda i, c: (encode_instance(i, 1, 2) if c is direct
                       else encode_state(StateSnapshot.of(i, 1, 2), codec=c)),
         lambda d, c: decode_state(d, codec=c)),
    ]
    print(f"{'records per CPU second':<24}{'encode':>10}{'generic':>10}{'ratio':>7}"
          f"{'decode':>10}{'generic':>10}{'ratio':>7}{'bytes':>7}")
    for name, items, enc, dec in cases:
        encoded = [enc(x, direct) for x in items]
        assert encoded == [enc(x, generic) for x in items], f"{name}: the bytes differ"
        size = sum(map(len, encoded)) / len(encoded)
        e_fast, e_gen = rate(bind(enc, direct), items), rate(bind(enc, generic), items)
        d_fast, d_gen = rate(bind(dec, direct), encoded), rate(bind(dec, generic), encoded)
        print(f"{name:<24}{e_fast:>10,.0f}{e_gen:>10,.0f}{e_fast / e_gen:>6.1f}x"
              f"{d_fast:>10,.0f}{d_gen:>10,.0f}{d_fast / d_gen:>6.1f}x{size:>7.0f}")


if __name__ == "__main__":
    main()
