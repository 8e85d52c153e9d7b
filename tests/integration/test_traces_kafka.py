"""Traces across real Kafka: a command's W3C context survives produce and consume in its
record headers, and a connector job is a span, child of its job record's context, with the
outbound HTTP call (httpx instrumentation) as its child and the answer carrying its context."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from laneway.codec import encode_job
from laneway.connectors.builtin.http import HttpConnector
from laneway.kafka import producer_config
from laneway.publisher import Publisher
from laneway.records import Command, command
from laneway.telemetry import Telemetry, header_context, instance_span, setup_tracing
from laneway.triggers import TriggerItem
from scripts.stack import Connections
from scripts.stack.testing import wait_until
from services.triggers.starts import Planned, send
from tests.connector_servers import RecordingServer, recording_server
from tests.integration.connector_harness import Env, InProcessWorker, Reader, job_record

pytestmark = pytest.mark.integration


class Traced:
    """Tracing set up as a service has it, spans kept in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.telemetry: Telemetry = setup_tracing("test", {}, exporter=self.exporter)

    def spans(self) -> list[ReadableSpan]:
        """Every span ended so far (the batch processor flushed first)."""
        assert self.telemetry.provider is not None
        self.telemetry.provider.force_flush()
        return list(self.exporter.get_finished_spans())


@pytest.fixture
def traced() -> Iterator[Traced]:
    t = Traced()
    yield t
    t.telemetry.shutdown()


@pytest.fixture
def env(stack: Connections) -> Env:
    e = stack.env()
    made = Env(bootstrap=e["KAFKA_BOOTSTRAP_SERVERS"], redis_url=e["REDIS_URL"])
    made.create_topics({"http": 1})
    return made


@pytest.fixture
def commands(env: Env) -> Iterator[Reader]:
    reader = Reader(env, env.topics.commands)
    yield reader
    reader.close()


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with recording_server() as srv:
        yield srv


def _context_of(headers: list[tuple[str, bytes]]) -> trace.SpanContext:
    return trace.get_current_span(header_context(headers)).get_span_context()


def test_a_commands_trace_context_survives_kafka(env: Env, commands: Reader,
                                                 traced: Traced) -> None:
    iid = str(uuid.uuid4())
    publisher = Publisher(env.bootstrap, env.topics)
    try:
        with instance_span("test.request", iid) as span:
            publisher.send_command(command(Command.CANCEL_INSTANCE, iid, {},
                                           record_id=str(uuid.uuid4()), timestamp=1))
    finally:
        publisher.close()
    wait_until(lambda: commands.poll() or commands.raw, 30, 0.05, "the command")
    ((_, headers),) = commands.raw
    sent = span.get_span_context()
    got = _context_of(headers)
    assert (got.trace_id, got.span_id) == (sent.trace_id, sent.span_id)
    assert f"{got.trace_id:032x}" == iid.replace("-", "")


def test_a_connector_job_is_a_span_with_its_http_call_as_a_child(
        env: Env, commands: Reader, server: RecordingServer, traced: Traced) -> None:
    job = job_record(server.url + "/orders", key=5, method="POST",
                     body='{"order": "{{ orderId }}"}')
    iid = uuid.UUID(job.instance_id)
    engine_span_id = 0x1234567890ABCDEF
    parent = f"00-{iid.hex}-{engine_span_id:016x}-01"
    producer = Producer(producer_config(env.bootstrap))
    producer.produce(env.topics.jobs("http"), key=job.instance_id.encode(),
                     value=encode_job(job), headers=[("traceparent", parent.encode())])
    assert producer.flush(30) == 0

    with InProcessWorker(env, {"http": HttpConnector()}):
        commands.wait_for(lambda cs: len(cs) >= 1, message="COMPLETE_JOB")

    spans = wait_until(lambda: (lambda s: s if any(x.name == "laneway.connector.http"
                                                   for x in s) else None)(traced.spans()),
                       10, 0.05, "the job span")
    (job_span,) = [s for s in spans if s.name == "laneway.connector.http"]
    assert job_span.context is not None
    assert job_span.context.trace_id == iid.int
    assert job_span.parent is not None
    assert job_span.parent.span_id == engine_span_id
    attributes = dict(job_span.attributes or {})
    assert attributes["laneway.instance_id"] == job.instance_id
    assert attributes["laneway.element_id"] == "call"
    assert attributes["laneway.job_outcome"] == "COMPLETE_JOB"
    (http_span,) = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert http_span.parent is not None
    assert http_span.parent.span_id == job_span.context.span_id
    # the instrumentation's (old, default) HTTP semantic conventions
    assert dict(http_span.attributes or {})["http.method"] == "POST"
    assert server.requests[0].path == "/orders"
    # the answer carries the job span's context back to the engine
    ((_, headers),) = commands.raw
    got = _context_of(headers)
    assert (got.trace_id, got.span_id) == (iid.int, job_span.context.span_id)


def test_each_start_of_a_trigger_begins_its_own_instances_trace(
        env: Env, commands: Reader, traced: Traced) -> None:
    iids = [str(uuid.uuid4()) for _ in range(3)]
    planned = [Planned(TriggerItem(f"item-{i}", {}), iid, command(
        Command.START_INSTANCE, iid, {"processId": "p", "variables": {},
                                      "trigger": {"schedule": "s-1", "type": "feed"}},
        record_id=str(uuid.uuid4()), timestamp=1), None) for i, iid in enumerate(iids)]
    publisher = Publisher(env.bootstrap, env.topics)
    try:
        send(publisher, planned)
    finally:
        publisher.close()
    wait_until(lambda: commands.poll() or len(commands.raw) == 3, 30, 0.05, "the starts")
    starts = {s.context.trace_id: s for s in traced.spans()
              if s.name == "laneway.trigger.start" and s.context is not None}
    assert set(starts) == {uuid.UUID(iid).int for iid in iids}
    for span in starts.values():
        assert span.parent is None
        assert not span.links  # no start is another's child or link
        assert dict(span.attributes or {})["laneway.trigger.type"] == "feed"
    for _, headers in commands.raw:  # each start carries its own span's context
        got = _context_of(headers)
        span = starts[got.trace_id]
        assert span.context is not None
        assert got.span_id == span.context.span_id
