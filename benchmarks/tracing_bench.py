"""The engine's hot path with tracing off and on (run: .venv/bin/python -m
benchmarks.tracing_bench).

Not a test: timings depend on the machine. Drives the engine service's `BatchWriter` in process
(no Kafka): batches of START_INSTANCE commands of a process with a service task (each writes
its events, a job and a snapshot), in three modes:

- `off`: no OTLP endpoint, the default: no tracer, no span, no header;
- `on`: the SDK at 100 % sampling with its `BatchSpanProcessor` (batches of 2,048) and an
  exporter that encodes what it is handed as the OTLP exporter does
  (`laneway.telemetry._otlp`, counted: the processor's thread is the process's CPU time) and
  drops the bytes (sending them is an HTTP request a batch; what the collector does with them
  is the collector's cost, not the engine's);
  the commands carry no trace context (each span is a root in its instance's trace);
- `on+headers`: the same, the commands carrying a `traceparent` (as from the API).

Prints commands per CPU second of each (best of the rounds, the modes interleaved) and the
overhead against `off`.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence

from confluent_kafka import Message
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from laneway.bpmn import parse
from laneway.codec import encode_record
from laneway.engine import DefinitionRepository
from laneway.records import Command, command
from laneway.telemetry import install, tracer_provider, uninstall
from laneway.telemetry._otlp import encode_request
from laneway.topics import Topics
from services.engine.batch import BatchWriter, Inbound
from services.engine.partitions import build_partition

DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d1" targetNamespace="http://x">
  <process id="order" isExecutable="true">
    <startEvent id="start"/><task id="check"/>
    <serviceTask id="charge"><extensionElements><zeebe:taskDefinition type="payment"/>
    </extensionElements></serviceTask>
    <endEvent id="end"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
    <sequenceFlow id="f2" sourceRef="check" targetRef="charge"/>
    <sequenceFlow id="f3" sourceRef="charge" targetRef="end"/>
  </process>
</definitions>"""

TOPICS = Topics("bench.")


class _Dropping(SpanExporter):
    """Encodes every batch as the OTLP exporter does (`laneway.telemetry._otlp`) and drops
    the bytes."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.requests += 1
        self.bytes += len(encode_request(spans))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _batch(count: int, offset: int, headers: bool) -> list[Inbound]:
    out = []
    for i in range(count):
        iid = uuid.uuid4()
        cmd = command(Command.START_INSTANCE, str(iid), {"processId": "order",
                                                         "variables": {"amount": i}},
                      record_id=str(uuid.uuid4()), timestamp=1)
        parent = f"00-{iid.hex}-{uuid.uuid4().hex[:16]}-01".encode()
        sent: list[tuple[str, str | bytes | None]] | None = (
            [("traceparent", parent)] if headers else None)
        message = Message(topic=TOPICS.commands, partition=0, offset=offset + i,
                          key=str(iid).encode(), value=encode_record(cmd), headers=sent)
        out.append(Inbound(message, cmd, None))
    return out


def _run(commands: int, batch: int, headers: bool,
         provider: TracerProvider | None = None) -> float:
    """Commands per second through BatchWriter.handle and finish."""
    repository = DefinitionRepository()
    repository.deploy(parse(DIAGRAM))
    part = build_partition(0, repository, [])
    batches = [_batch(batch, n, headers) for n in range(0, commands, batch)]
    # CPU time of the process (the batch processor's thread included): on a shared machine
    # wall-clock time measures the neighbours as much as this
    started = time.process_time()
    for inbound in batches:
        writer = BatchWriter(TOPICS, {0: part}, 1, lambda _t: None)
        for each in inbound:
            writer.handle(each)
        writer.finish(1)
    if provider is not None:
        provider.force_flush()  # the queued spans' encoding counts too
    return commands / (time.process_time() - started)


def main() -> None:
    """Print commands/s for each mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    best: dict[str, float] = {}
    exporter = _Dropping()
    for _ in range(args.rounds):
        for mode in ("off", "on", "on+headers"):
            provider = None
            if mode != "off":
                # the SDK's default sampler: parent-based, always on (100 %)
                provider = tracer_provider("laneway-engine", exporter)
                install(provider)
            try:
                rate = _run(args.commands, args.batch, headers=mode == "on+headers",
                            provider=provider)
            finally:
                uninstall()
                if provider is not None:
                    provider.shutdown()
            best[mode] = max(best.get(mode, 0.0), rate)
    off = best["off"]
    print(f"engine hot path, {args.commands} START_INSTANCE commands in batches of "
          f"{args.batch}, best of {args.rounds} (per CPU second); {exporter.requests} "
          f"OTLP requests, {exporter.bytes / 1e6:.1f} MB encoded")
    for mode, rate in best.items():
        print(f"  tracing {mode:<11} {rate:9.0f} commands/s  "
              f"({(off - rate) / off * 100:+.1f} % slower than off)" if mode != "off"
              else f"  tracing {mode:<11} {rate:9.0f} commands/s")


if __name__ == "__main__":
    main()
