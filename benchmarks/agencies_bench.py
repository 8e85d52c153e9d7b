"""The agency bridge's figures: `python -m benchmarks.agencies_bench` (`make bench-agencies`).

On the local stack (started if needed), two Laneway deployments, A and B (each its own topic
prefix and schemas, engine, definitions and bridge), share the topics `…agency.a.b` and
`…agency.b.a`. A's process `bench_tell` throws one message across to B's pool (two declared
variables); B's process starts on it (a message start) and ends. Measured:

1. **burst**: N instances of A started at once (START_INSTANCE straight to A's `commands`);
   messages per second through B's bridge: from the first envelope on `…agency.a.b` to the last
   correlation on B's `events` (every one correlated once).
2. **paced**: R messages per second for S seconds; the lag from A's engine writing the envelope
   (its Kafka timestamp, inside A's transaction) to B's engine correlating it (the Kafka
   timestamp of B's MESSAGE_CORRELATED): p50, p99, max. This is what a partner waits.

Every run has its own topics and schemas, dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer

from benchmarks.e2e import pct
from benchmarks.scratch_topics import create_topics, delete_topics
from laneway.agencies import decode_envelope
from laneway.kafka import producer_config
from scripts.stack import Settings, up
from scripts.stack.testing import unique_name, wait_until
from tests.e2e.harness import PARTITIONS, Laneway, TopicReader, start_commands

SERVICES = ("engine", "definitions", "bridge")
_NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
       'xmlns:laneway="http://laneway.dev/schema/1.0/bpmn"')

TELL = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {_NS} id="bench_a" targetNamespace="bench">
  <bpmn:message id="m" name="benchTold"/>
  <bpmn:collaboration id="c">
    <bpmn:participant id="pa" processRef="bench_tell" laneway:agency="a"/>
    <bpmn:participant id="pb" laneway:agency="b"/>
    <bpmn:messageFlow id="mf" sourceRef="tell" targetRef="pb" laneway:variables="n,note"/>
  </bpmn:collaboration>
  <bpmn:process id="bench_tell" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:intermediateThrowEvent id="tell" laneway:correlationKey="n">
      <bpmn:messageEventDefinition messageRef="m"/>
    </bpmn:intermediateThrowEvent>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="tell"/>
    <bpmn:sequenceFlow id="f2" sourceRef="tell" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""

TOLD = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {_NS} id="bench_b" targetNamespace="bench">
  <bpmn:message id="m" name="benchTold"/>
  <bpmn:collaboration id="c">
    <bpmn:participant id="pa" laneway:agency="a"/>
    <bpmn:participant id="pb" processRef="bench_told" laneway:agency="b"/>
    <bpmn:messageFlow id="mf" sourceRef="pa" targetRef="s"/>
  </bpmn:collaboration>
  <bpmn:process id="bench_told" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:messageEventDefinition messageRef="m"/></bpmn:startEvent>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


class Pair:
    """The two deployments and the topics between them."""

    def __init__(self, bootstrap: str, database_url: str, redis_url: str, tmp: Path) -> None:
        base = unique_name("bench-agency")
        self.a_to_b, self.b_to_a = f"{base}.agency.a.b", f"{base}.agency.b.a"
        self.bootstrap = bootstrap
        create_topics(bootstrap, dict.fromkeys((self.a_to_b, self.b_to_a), PARTITIONS))
        common = {"bootstrap": bootstrap, "database_url": database_url, "redis_url": redis_url,
                  "services": SERVICES}
        self.a = Laneway(workdir=tmp / "a", env_overrides={
            "LANEWAY_AGENCY_NAME": "a",
            "LANEWAY_AGENCY_PARTNERS": f"b:{self.a_to_b}:{self.b_to_a}"}, **common)  # type: ignore[arg-type]
        self.b = Laneway(workdir=tmp / "b", env_overrides={
            "LANEWAY_AGENCY_NAME": "b",
            "LANEWAY_AGENCY_PARTNERS": f"a:{self.b_to_a}:{self.a_to_b}"}, **common)  # type: ignore[arg-type]

    def __enter__(self) -> Pair:
        self.a.start()
        self.b.start()
        self.a.deploy(TELL.encode(), "bench-a.bpmn")
        self.b.deploy(TOLD.encode(), "bench-b.bpmn")
        self.sent = TopicReader(self.a.bootstrap, self.a_to_b, decode=decode_envelope)
        self.b_events = TopicReader(self.b.bootstrap, self.b.topics.events)
        self.producer = Producer(producer_config(self.a.bootstrap))
        return self

    def __exit__(self, *exc: object) -> None:
        self.sent.close()
        self.b_events.close()
        self.a.close()
        self.b.close()
        delete_topics(self.bootstrap, (self.a_to_b, self.b_to_a))

    def tell(self, count: int) -> list[str]:
        ids = [str(uuid.uuid4()) for _ in range(count)]
        start_commands(self.producer, self.a.topics, "bench_tell", ids,
                       lambda iid: {"n": iid, "note": "x" * 64, "private": "stays in A"})
        return ids

    def sent_at(self) -> dict[str, int]:
        """{B's message id: Kafka timestamp of the envelope on a→b}."""
        return {f"agency:a:{env.message_id}": ts
                for env, (_, _, ts) in zip(self.sent.poll(), self.sent.meta, strict=True)}

    def correlated_at(self) -> dict[str, list[int]]:
        """{message id: Kafka timestamps of B's MESSAGE_CORRELATED for it}."""
        out: dict[str, list[int]] = {}
        for rec, (_, _, ts) in zip(self.b_events.poll(), self.b_events.meta, strict=True):
            if rec.intent == "MESSAGE_CORRELATED" and rec.kind.value == "EVENT":
                out.setdefault(str(rec.value["messageId"]), []).append(ts)
        return out


def burst(pair: Pair, count: int) -> list[str]:
    before = len(pair.correlated_at())
    pair.tell(count)
    wait_until(lambda: len(pair.correlated_at()) >= before + count, 600, 0.2,
               f"{count} messages correlated in B")
    sent, correlated = pair.sent_at(), pair.correlated_at()
    ours = [m for m in sent if m in correlated][-count:]
    first = min(sent[m] for m in ours)
    last = max(correlated[m][0] for m in ours)
    twice = sum(1 for m in ours if len(correlated[m]) > 1)
    rate = count / max(0.001, (last - first) / 1000)
    return [f"burst: {count} messages A -> B in {(last - first) / 1000:.1f} s: {rate:.0f} "
            f"messages/s through the bridge (correlated twice: {twice})"]


def paced(pair: Pair, rate: int, seconds: int) -> list[str]:
    done = set(pair.correlated_at())
    ids: list[str] = []
    interval = 1.0 / rate
    began = time.monotonic()
    for i in range(rate * seconds):
        delay = began + i * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ids += pair.tell(1)
    wait_until(lambda: len(set(pair.correlated_at()) - done) >= len(ids), 300, 0.2,
               "the paced messages correlated in B")
    sent, correlated = pair.sent_at(), pair.correlated_at()
    lags = [float(correlated[m][0] - sent[m]) for m in correlated if m not in done and m in sent]
    return [f"paced {rate}/s for {seconds} s: envelope written in A -> correlated in B: "
            f"p50 {statistics.median(lags):.0f} ms, p99 {pct(lags, 99):.0f} ms, "
            f"max {max(lags):.0f} ms ({len(lags)} messages)"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.agencies_bench",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="messages in the burst")
    parser.add_argument("--rate", type=int, default=20, help="paced messages per second")
    parser.add_argument("--seconds", type=int, default=15, help="how long the paced run lasts")
    args = parser.parse_args(argv)
    conns = up(Settings.from_env())
    with tempfile.TemporaryDirectory(prefix="laneway-agencies-bench-") as tmp, Pair(
            conns.kafka_bootstrap_servers, conns.database_url, conns.redis_url,
            Path(tmp)) as pair:
        pair.tell(20)  # warm both engines and bridges
        wait_until(lambda: len(pair.correlated_at()) >= 20, 120, 0.2, "warm-up correlated")
        for line in paced(pair, args.rate, args.seconds) + burst(pair, args.messages):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
