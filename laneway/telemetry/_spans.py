"""Spans in an instance's trace, and W3C trace context in Kafka record headers.

One instance, one trace: the trace id of every span about an instance is the instance id's 128
bits (instance ids are UUIDs), so an instance id from a log line, an audit row or the console
opens its trace directly. A span whose parent (from a record's headers, or the current span) is
in the instance's trace is its child; otherwise it starts the instance's trace anew (a root
whose trace id the `InstanceIdGenerator` takes from a context variable) and links to the
parent it had, so a call activity's child instance, whose start command carries the parent's
context, gets its own trace linked to its parent's.

When tracing is off (`setup_tracing` installed no tracer) `instance_span` only sets
the instance id the log lines carry: no span, no context, no header.
"""

from __future__ import annotations

import contextvars
import hashlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "ATTR_ELEMENT_ID",
    "ATTR_INSTANCE_ID",
    "InstanceIdGenerator",
    "KafkaHeaders",
    "child_span",
    "current_instance",
    "ended_span",
    "fail",
    "header_context",
    "install",
    "instance_span",
    "instance_trace_id",
    "link_to",
    "linked_trace",
    "start_instance_span",
    "trace_headers",
    "tracing",
    "uninstall",
]

ATTR_INSTANCE_ID = "laneway.instance_id"
ATTR_ELEMENT_ID = "laneway.element_id"

KafkaHeaders = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None]
"""Headers as confluent-kafka hands them (a list of pairs; a dict in some of its paths)."""

_TRACE_HEADERS = ("traceparent", "tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()

# the trace id the next root span gets (set only around starting one)
_next_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "laneway_next_trace_id", default=None)
# the instance the code running now is about: log lines carry it (laneway.telemetry._logs)
_instance: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "laneway_instance", default=None)

_tracer: trace.Tracer | None = None


def install(provider: TracerProvider) -> None:
    """Make `provider` the tracer behind every `instance_span` (`setup_tracing` does; a test
    installs one with an in-memory exporter)."""
    global _tracer
    _tracer = provider.get_tracer("laneway")


def uninstall() -> None:
    """Tracing off again: `instance_span` makes no spans."""
    global _tracer
    _tracer = None


def tracing() -> bool:
    """Whether spans are made at all (a tracer is installed)."""
    return _tracer is not None


def current_instance() -> str | None:
    """The instance the running code handles (for log lines), None outside one."""
    return _instance.get()


def instance_trace_id(instance_id: str) -> int:
    """The trace id of an instance: its UUID's 128 bits; an id that is no UUID (a client may
    name its own in some paths) gets the first 128 bits of its SHA-256, still one trace."""
    try:
        # the common case, a UUID's canonical text, without building a UUID (hot path)
        value = (int(instance_id.replace("-", ""), 16) if len(instance_id) == 36
                 and instance_id.count("-") == 4 else uuid.UUID(instance_id).int)
    except ValueError:
        value = 0
    if value == 0:  # the nil UUID is no valid trace id either
        value = int.from_bytes(hashlib.sha256(instance_id.encode()).digest()[:16], "big") or 1
    return value


class InstanceIdGenerator(RandomIdGenerator):
    """Random ids, except a root span started by `instance_span`: its instance's id."""

    def generate_trace_id(self) -> int:
        wanted = _next_trace_id.get()
        return wanted if wanted is not None else super().generate_trace_id()

    def is_trace_id_random(self) -> bool:
        # W3C's random-trace-id flag promises random low bits; an instance id a client chose
        # need not have them, so the flag is never set
        return False


def header_context(headers: KafkaHeaders | None) -> Context | None:
    """The trace context a Kafka record's headers carry, None when they carry none."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    carrier: dict[str, str] = {}
    for name, value in pairs:
        if name in _TRACE_HEADERS and value is not None:
            carrier[name] = value.decode("latin-1") if isinstance(value, bytes) else value
    if "traceparent" not in carrier:
        return None
    return _PROPAGATOR.extract(carrier)



def trace_headers(span: Span | None = None) -> list[tuple[str, str | bytes | None]] | None:
    """`traceparent` (and `tracestate`) of `span` (default: the current one) as Kafka
    headers; None when there is no valid span (tracing off)."""
    if _tracer is None:
        return None
    span = span if span is not None else trace.get_current_span()
    context = span.get_span_context()
    if not context.is_valid:
        return None
    # the W3C format written directly: the propagator's dict round trip costs more than the
    # rest of this per command
    headers: list[tuple[str, str | bytes | None]] = [("traceparent", (
        f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    ).encode())]
    if context.trace_state:
        headers.append(("tracestate", context.trace_state.to_header().encode()))
    return headers


@contextmanager
def instance_span(name: str, instance_id: str, *, element_id: str | None = None,
                  headers: KafkaHeaders | None = None, parent: Context | None = None,
                  links: Sequence[Link] = (), kind: SpanKind = SpanKind.INTERNAL,
                  attributes: Mapping[str, Any] | None = None) -> Iterator[Span]:
    """A span about `instance_id` in the instance's trace, current while the block runs.

    Its parent is the context of `headers` (a consumed record's), else `parent`, else the
    current span, when that is in the instance's trace; a parent in another trace becomes a
    link instead. The instance id is set for log lines whether or not tracing is on; with it
    off the block gets the invalid span and nothing else happens. An exception leaving the
    block marks the span as an error."""
    token = _instance.set(instance_id or None)
    try:
        tracer = _tracer
        if tracer is None:
            yield INVALID_SPAN
            return
        given: dict[str, Any] = dict(attributes) if attributes else {}
        if instance_id:
            given[ATTR_INSTANCE_ID] = instance_id
        if element_id:
            given[ATTR_ELEMENT_ID] = element_id
        span = start_instance_span(tracer, name, instance_id, headers=headers, parent=parent,
                                   links=links, kind=kind, attributes=given)
        with trace.use_span(span, end_on_exit=True, record_exception=True,
                            set_status_on_exception=True):
            yield span
    finally:
        _instance.reset(token)


def start_instance_span(tracer: trace.Tracer, name: str, instance_id: str, *,
                        headers: KafkaHeaders | None = None, parent: Context | None = None,
                        links: Sequence[Link] = (), kind: SpanKind = SpanKind.INTERNAL,
                        start_time: int | None = None,
                        attributes: Mapping[str, Any] | None = None) -> Span:
    """Start (not make current) a span in the instance's trace; see `instance_span`. With
    no instance id (a message keyed by its correlation key) it is an ordinary span, in its
    parent's trace."""
    context = header_context(headers) if headers else None
    if context is None:
        context = parent
    found = trace.get_current_span(context).get_span_context()
    all_links = list(links)
    wanted = instance_trace_id(instance_id) if instance_id else found.trace_id
    if not instance_id or (found.is_valid and found.trace_id == wanted):
        return tracer.start_span(name, context=context, kind=kind, links=all_links,
                                 start_time=start_time, attributes=attributes)
    if found.is_valid:
        all_links.append(Link(found))
    token = _next_trace_id.set(wanted)
    try:
        # an empty context: a root, whatever span is current
        return tracer.start_span(name, context=Context(), kind=kind, links=all_links,
                                 start_time=start_time, attributes=attributes)
    finally:
        _next_trace_id.reset(token)


def linked_trace(name: str, instance_id: str, element_id: str = ""
                 ) -> list[tuple[str, str | bytes | None]] | None:
    """Start another instance's trace with a span linked both ways with the current span
    (a call activity's child: its start command carries what this returns as its headers);
    None when tracing is off."""
    tracer = _tracer
    if tracer is None:
        return None
    current = trace.get_current_span()
    span = start_instance_span(tracer, name, instance_id)  # links to `current` itself
    if span.is_recording():
        span.set_attribute(ATTR_INSTANCE_ID, instance_id)
        if element_id:
            span.set_attribute(ATTR_ELEMENT_ID, element_id)
        parent = current_instance()
        if parent is not None:
            span.set_attribute("laneway.parent_instance_id", parent)
    link_to(current, span)
    span.end()
    return trace_headers(span)


def ended_span(name: str, instance_id: str, *, headers: KafkaHeaders | None,
               start_time: int, attributes: Mapping[str, Any] | None = None) -> None:
    """Record a span about `instance_id` from `start_time` (epoch ns) until now, a child of
    `headers`' context: the audit sink's write of one instance's records in a batch, made
    after the batch committed. Nothing when tracing is off."""
    tracer = _tracer
    if tracer is None:
        return
    span = start_instance_span(tracer, name, instance_id, headers=headers, parent=Context(),
                               start_time=start_time)
    if span.is_recording():
        span.set_attribute(ATTR_INSTANCE_ID, instance_id)
        if attributes:
            span.set_attributes(attributes)
    span.end()


@contextmanager
def child_span(name: str, *, kind: SpanKind = SpanKind.INTERNAL,
               attributes: Mapping[str, Any] | None = None) -> Iterator[Span]:
    """A span, child of the current one (an SMTP send inside a connector's job span);
    the invalid span when tracing is off. An exception leaving the block marks it an error."""
    tracer = _tracer
    if tracer is None:
        yield INVALID_SPAN
        return
    with tracer.start_as_current_span(name, kind=kind, attributes=attributes) as span:
        yield span


def link_to(span: Span, other: Span) -> None:
    """Link `span` to `other` (a call activity's parent span to its child's first)."""
    if span.is_recording() and other.get_span_context().is_valid:
        span.add_link(other.get_span_context())


def fail(span: Span, description: str, event: str, attributes: Mapping[str, Any]) -> None:
    """Mark `span` as an error with `event` (a rejection, an incident) saying why."""
    if span.is_recording():
        span.add_event(event, dict(attributes))
        span.set_status(Status(StatusCode.ERROR, description))
