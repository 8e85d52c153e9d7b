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

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span as SdkSpan
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
    "put_attributes",
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


def enter_instance(instance_id: str) -> contextvars.Token[str | None]:
    """Name the instance the running code handles, for log lines, without a span: what
    `instance_span` does when tracing is off, minus its generator (the engine's hot path,
    once per command); give the token back to `leave_instance`."""
    return _instance.set(instance_id or None)


def leave_instance(token: contextvars.Token[str | None]) -> None:
    """Undo `enter_instance`."""
    _instance.reset(token)


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
    parent = carrier.get("traceparent")
    if parent is None:
        return None
    if len(carrier) == 1:
        # the common case (what the engine and the API write) without the propagator's
        # regular expression and carrier look-ups: once per record consumed
        parsed = _traceparent(parent)
        if parsed is not None:
            return parsed
    return _PROPAGATOR.extract(carrier)


_HEX = frozenset("0123456789abcdef")


def _traceparent(value: str) -> Context | None:
    """A version-00 `traceparent` without `tracestate` as the propagator reads it; None for
    anything else (the propagator decides)."""
    if (len(value) != 55 or value[2] != "-" or value[35] != "-" or value[52] != "-"
            or not value.startswith("00") or not _HEX.issuperset(value[3:35])
            or not _HEX.issuperset(value[36:52]) or not _HEX.issuperset(value[53:])):
        return None
    trace_id, span_id = int(value[3:35], 16), int(value[36:52], 16)
    if not trace_id or not span_id:
        return None
    return trace.set_span_in_context(trace.NonRecordingSpan(trace.SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(int(value[53:], 16)))))


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
        # what `trace.use_span(span, end_on_exit=True)` does, without its context manager
        # wrappers (once per engine command)
        attached = context_api.attach(trace.set_span_in_context(span))
        try:
            yield span
        except Exception as exc:
            if span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            context_api.detach(attached)
            span.end()
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


def put_attributes(span: Span, attributes: Mapping[str, str | int | tuple[str, ...]]) -> None:
    """Set attributes this code made itself (strings, ints, tuples of strings: already what
    the SDK would keep) on a recording span.

    The SDK's `set_attributes` checks and copies every value, each element of a sequence
    included, under two locks: for the engine's command span (the intents of the events it
    wrote) that was a third of tracing's cost in the engine's own thread. An SDK span with
    room for them gets them straight into its attribute map (under its lock, as the SDK
    writes it); any other span, or one near its attribute limit, through `set_attributes`."""
    if not span.is_recording():
        return
    bounded = getattr(span, "_attributes", None)
    store = getattr(bounded, "_dict", None)
    if (isinstance(span, SdkSpan) and isinstance(bounded, BoundedAttributes)
            and isinstance(store, dict) and bounded.max_value_len is None
            and (bounded.maxlen is None or len(store) + len(attributes) <= bounded.maxlen)):
        with bounded._lock:  # the SDK's own lock of the map
            store.update(attributes)
    else:
        span.set_attributes(attributes)


def fail(span: Span, description: str, event: str, attributes: Mapping[str, Any]) -> None:
    """Mark `span` as an error with `event` (a rejection, an incident) saying why."""
    if span.is_recording():
        span.add_event(event, dict(attributes))
        span.set_status(Status(StatusCode.ERROR, description))
