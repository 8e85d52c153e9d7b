"""The lean OTLP encoder (laneway/telemetry/_otlp.py): its bytes parse to exactly the request
the SDK's own encoder makes, for spans of every shape a service records, and the exporter
built on it delivers them to a real OTLP/HTTP receiver."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from laneway.telemetry import install, instance_span, tracer_provider, uninstall
from laneway.telemetry._otlp import LeanOTLPSpanExporter, encode_request
from tests.otlp_receiver import otlp_receiver


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = tracer_provider("laneway-test", None)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _parsed(data: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(data)
    return request


def _same_as_the_sdk(finished: tuple[ReadableSpan, ...]) -> ExportTraceServiceRequest:
    ours = _parsed(encode_request(finished))
    assert ours == encode_spans(finished)
    return ours


def test_spans_of_every_shape_encode_as_the_sdk_encodes_them(
        spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("laneway", "1.2", schema_url="https://schema/x")
    other = provider.get_tracer("other")
    remote = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0x00F067AA0BA902B7, is_remote=True,
                         trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")]))
    parent = trace.set_span_in_context(NonRecordingSpan(remote))
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER, attributes={
            "s": "text", "empty": "", "b": True, "f": False, "i": 0, "neg": -5,
            "big": 2**62, "d": 1.5, "strs": ["a", "b"], "ints": (1, 2, 300), "bools": [True],
            "long": "x" * 300}):
        with tracer.start_as_current_span("child", links=[Link(remote, {"l": 1})]) as child:
            child.add_event("rejection", {"laneway.intent": "START_INSTANCE", "n": 7})
            child.add_event("bare")
            child.set_status(Status(StatusCode.ERROR, "because ü"))
        with other.start_span("remote child", context=parent, kind=SpanKind.CONSUMER) as s:
            s.set_status(Status(StatusCode.OK))
    with tracer.start_as_current_span("no attributes", kind=SpanKind.PRODUCER):
        pass
    finished = exporter.get_finished_spans()
    assert len(finished) == 4
    request = _same_as_the_sdk(finished)
    # two scopes under the one resource, as the SDK groups them
    (resource_spans,) = request.resource_spans
    assert len(resource_spans.scope_spans) == 2


def test_the_engines_spans_encode_as_the_sdk_encodes_them_across_resources(
        spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = spans
    iid = str(uuid.uuid4())
    install(provider)
    try:
        for _ in range(3):  # the cached key/value pairs the second time round
            with instance_span("laneway.engine.start_instance", iid, element_id="task") as span:
                span.set_attributes({"laneway.intent": "START_INSTANCE",
                                     "laneway.events.count": 2,
                                     "laneway.events.intents": ["A", "B"]})
    finally:
        uninstall()
    another = TracerProvider(resource=Resource.create({"service.name": "laneway-audit"}))
    memory = InMemorySpanExporter()
    another.add_span_processor(SimpleSpanProcessor(memory))
    with another.get_tracer("laneway").start_as_current_span("laneway.audit.write"):
        pass
    finished = exporter.get_finished_spans() + memory.get_finished_spans()
    request = _same_as_the_sdk(finished)
    assert len(request.resource_spans) == 2
    assert request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex() == \
        iid.replace("-", "")


def test_an_unknown_value_falls_back_to_the_sdks_encoder(
        spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = spans
    with provider.get_tracer("laneway").start_as_current_span("x") as span:
        span.set_attribute("ok", "yes")
    (finished,) = exporter.get_finished_spans()
    # what the SDK's cleaning never lets through, smuggled in past it
    finished._attributes = {"ok": "yes", "odd": object()}  # type: ignore[dict-item]
    assert _parsed(encode_request([finished])) == encode_spans([finished])


def test_the_lean_exporter_delivers_to_an_otlp_receiver(
        spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = spans
    with provider.get_tracer("laneway").start_as_current_span("sent", attributes={"a": "b"}):
        pass
    with otlp_receiver() as received:
        lean = LeanOTLPSpanExporter(endpoint=f"{received.url}/v1/traces")
        assert lean.export(exporter.get_finished_spans()).name == "SUCCESS"
        assert received.arrived.wait(10)
        lean.shutdown()  # type: ignore[no-untyped-call]
        assert lean.export(exporter.get_finished_spans()).name == "FAILURE"
    ((service, span),) = received.spans()
    assert (service, span.name) == ("laneway-test", "sent")
