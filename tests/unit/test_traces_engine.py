"""The engine's span per command: in the instance's trace, its attributes, its context in the
headers of what it writes, a rejection as an error, a call activity's child in a trace of its
own linked both ways. Spans go to the SDK's in-memory exporter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Message
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from laneway.bpmn import parse
from laneway.codec import decode_record, encode_record
from laneway.engine import DefinitionRepository
from laneway.records import Command, Record, command
from laneway.telemetry import header_context, install, tracer_provider, uninstall
from laneway.topics import Topics
from services.engine.batch import BatchWriter, Inbound, Outgoing, decode_all
from services.engine.partitions import build_partition

_DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
             targetNamespace="http://laneway.test">
  <process id="parent" isExecutable="true">
    <startEvent id="s"/><callActivity id="call" calledElement="child"/><endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="call"/>
    <sequenceFlow id="f2" sourceRef="call" targetRef="e"/>
  </process>
  <process id="child" isExecutable="true">
    <startEvent id="cs"/><endEvent id="ce"/>
    <sequenceFlow id="f3" sourceRef="cs" targetRef="ce"/>
  </process>
  <process id="broken" isExecutable="true">
    <startEvent id="bs"/><callActivity id="lost" calledElement="missing"/>
    <sequenceFlow id="f4" sourceRef="bs" targetRef="lost"/>
  </process>
</definitions>"""

T = Topics("t.")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = tracer_provider("laneway-test", None)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    install(provider)
    yield exporter
    uninstall()
    provider.shutdown()


def _writer() -> BatchWriter:
    repository = DefinitionRepository()
    repository.deploy(parse(_DIAGRAM))
    return BatchWriter(T, {0: build_partition(0, repository, [])}, 1, lambda _t: None)


def _inbound(cmd: Record, offset: int = 0,
             headers: list[tuple[str, str | bytes | None]] | None = None) -> Inbound:
    value = encode_record(cmd)
    message = Message(topic=T.commands, partition=0, offset=offset,
                      key=cmd.instance_id.encode(), value=value, headers=headers)
    return Inbound(message, cmd, None)


def _start(process_id: str, instance_id: str) -> Record:
    return command(Command.START_INSTANCE, instance_id, {"processId": process_id,
                                                         "variables": {}},
                   record_id=str(uuid.uuid4()), timestamp=1)


def _parent_of(out: Outgoing) -> tuple[int, int]:
    context = trace.get_current_span(header_context(out.headers)).get_span_context()
    return context.trace_id, context.span_id


def test_a_command_without_headers_is_a_span_in_its_instances_trace(
        spans: InMemorySpanExporter) -> None:
    iid = str(uuid.uuid4())
    writer = _writer()
    writer.handle(_inbound(_start("child", iid)))
    (span,) = spans.get_finished_spans()
    assert span.context is not None
    assert span.parent is None
    assert f"{span.context.trace_id:032x}" == iid.replace("-", "")
    assert span.name == "laneway.engine.start_instance"
    attributes = dict(span.attributes or {})
    assert attributes["laneway.instance_id"] == iid
    assert attributes["laneway.intent"] == "START_INSTANCE"
    events = [o for o in writer.out if o.topic == T.events]
    assert attributes["laneway.events.count"] == len(events) > 0
    assert list(attributes["laneway.events.intents"]) == [  # type: ignore[arg-type]
        decode_record(o.value or b"").intent for o in events]
    # every event it wrote carries the command span's context
    assert {_parent_of(o) for o in events} == {(span.context.trace_id, span.context.span_id)}
    assert span.status.status_code != StatusCode.ERROR


def test_a_command_with_a_traceparent_is_its_child(spans: InMemorySpanExporter) -> None:
    iid = uuid.uuid4()
    parent = f"00-{iid.hex}-00f067aa0ba902b7-01"
    _writer().handle(_inbound(_start("child", str(iid)), headers=[("traceparent", parent)]))
    (span,) = spans.get_finished_spans()
    assert span.parent is not None
    assert span.parent.span_id == 0x00f067aa0ba902b7
    assert span.context is not None
    assert span.context.trace_id == iid.int


def test_without_headers_the_trace_parent_in_the_value_is_the_parent(
        spans: InMemorySpanExporter) -> None:
    # what a partner agency's message brings through the bridge (Avro's traceParent)
    iid = uuid.uuid4()
    parent = f"00-{iid.hex}-00f067aa0ba902b7-01"
    cmd = _start("child", str(iid))
    message = Message(topic=T.commands, partition=0, offset=0, key=str(iid).encode(),
                      value=encode_record(cmd, trace_parent=parent))
    (inbound,) = decode_all([message])
    _writer().handle(inbound)
    (span,) = spans.get_finished_spans()
    assert span.parent is not None
    assert span.parent.span_id == 0x00f067aa0ba902b7


def test_a_rejection_is_an_event_with_error_status(spans: InMemorySpanExporter) -> None:
    iid = str(uuid.uuid4())
    writer = _writer()
    writer.handle(_inbound(_start("no-such-process", iid)))
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    (event,) = [e for e in span.events if e.name == "rejection"]
    assert dict(event.attributes or {})["laneway.intent"] == "START_INSTANCE"
    assert "no-such-process" in (span.status.description or "")


def test_an_incident_is_an_event_with_error_status(spans: InMemorySpanExporter) -> None:
    _writer().handle(_inbound(_start("broken", str(uuid.uuid4()))))
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    (event,) = [e for e in span.events if e.name == "incident"]
    attributes = dict(event.attributes or {})
    assert attributes["laneway.element_id"] == "lost"
    assert attributes["laneway.incident_type"] == "CALLED_ELEMENT_ERROR"
    assert "missing" in (span.status.description or "")


def test_a_call_activitys_child_has_its_own_trace_linked_both_ways(
        spans: InMemorySpanExporter) -> None:
    parent_id = str(uuid.uuid4())
    writer = _writer()
    writer.handle(_inbound(_start("parent", parent_id)))
    started = [o for o in writer.out if o.topic == T.commands]
    assert len(started) == 1
    by_name = {s.name: s for s in spans.get_finished_spans()}
    call = by_name["laneway.engine.call_activity"]
    command_span = by_name["laneway.engine.start_instance"]
    assert call.context is not None
    assert command_span.context is not None
    child_id = dict(call.attributes or {})["laneway.instance_id"]
    assert call.context.trace_id == uuid.UUID(str(child_id)).int != command_span.context.trace_id
    assert dict(call.attributes or {})["laneway.parent_instance_id"] == parent_id
    # linked both ways
    assert [link.context.span_id for link in call.links] == [command_span.context.span_id]
    assert [link.context.span_id for link in command_span.links] == [call.context.span_id]
    # the child's start carries the call span's context: its engine span is the call's child
    assert _parent_of(started[0]) == (call.context.trace_id, call.context.span_id)
    spans.clear()
    child_start = decode_record(started[0].value or b"")
    writer.handle(_inbound(child_start, 1, headers=list(started[0].headers or [])))
    child_span = next(s for s in spans.get_finished_spans()
                      if s.name == "laneway.engine.start_instance")
    assert child_span.parent is not None
    assert child_span.parent.span_id == call.context.span_id
    assert child_span.context is not None
    assert child_span.context.trace_id == call.context.trace_id


def test_with_tracing_off_nothing_is_recorded_and_no_header_written() -> None:
    iid = str(uuid.uuid4())
    writer = _writer()
    writer.handle(_inbound(_start("child", iid)))
    assert writer.out
    assert all(o.headers is None for o in writer.out)
