"""OTLP/HTTP span export with a lean encoder: the same `ExportTraceServiceRequest` bytes the
SDK's encoder makes, written straight as protobuf wire format.

Why: the exporter runs in the service's process (the batch processor's thread, under the
GIL). The SDK's `encode_spans` builds a protobuf object per span, attribute and value before
serialising them, about 75 µs a span on the benchmark machine: for the engine that was as much
as the rest of tracing together (docs/telemetry.md, "What tracing costs"). Written directly,
with the resource and scope encoded once and the key/value pairs that repeat (intents, element
ids, keys) cached, a span takes a few µs. `tests/unit/test_traces_otlp.py` checks the bytes
parse to exactly what `encode_spans` makes, spans of every shape included.

A value the encoder does not know (nothing the SDK's attribute cleaning lets through) makes it
hand the batch to the SDK's encoder, which logs and skips it as before.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common._internal import (
    _encode_instrumentation_scope,
    _encode_resource,
)
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

__all__ = ["LeanOTLPSpanExporter", "encode_request"]

_Q = struct.Struct("<Q").pack
_I = struct.Struct("<I").pack
_D = struct.Struct("<d").pack
# a key/value pair of strings (as the field `tag` of a span, an event or a link) costs a dict
# look-up once seen; bounded (cleared when full)
_CACHE_MAX = 8192
_kv_cache: dict[tuple[bytes, str, str | tuple[str, ...]], bytes] = {}
_header_cache: dict[tuple[Resource, InstrumentationScope | None],
                    tuple[bytes, bytes, bytes, bytes]] = {}
# SpanFlags: the context-has-is-remote bit, and is-remote (what the SDK's encoder sets)
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200


class _Unknown(Exception):
    """A value of a type this encoder does not write."""


def _varint(n: int) -> bytes:
    if 0 <= n < 0x80:
        return bytes((n,))
    out = bytearray()
    if n < 0:
        n += 1 << 64  # int64 as protobuf writes it: ten bytes of two's complement
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field."""
    size = len(payload)
    return tag + (bytes((size,)) if size < 0x80 else _varint(size)) + payload


def _value(value: Any) -> bytes:
    """An AnyValue's fields."""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(b"\x0a", value.encode())
    if isinstance(value, int):
        if not -(1 << 63) <= value < (1 << 63):
            raise _Unknown("an int beyond int64")  # the SDK's encoder logs and skips it
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _D(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if value is None:
        return b""
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _value(v)) for v in value))
    if isinstance(value, Mapping):
        return _field(b"\x32", b"".join(_field(b"\x0a", _key_value(str(k), v))
                                        for k, v in value.items()))
    raise _Unknown(type(value).__name__)


def _key_value(key: str, value: Any) -> bytes:
    return _field(b"\x0a", key.encode()) + _field(b"\x12", _value(value))


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    if not attributes:
        return b""
    out = []
    for key, value in attributes.items():
        kind = type(value)
        # strings and tuples of them (the SDK keeps a list as a tuple): ids, names and
        # intents that repeat from span to span
        if kind is str or (kind is tuple and all(type(v) is str for v in value)):
            cached = _kv_cache.get((tag, key, value))
            if cached is None:
                cached = _field(tag, _key_value(key, value))
                if len(cached) <= 512:  # long texts do not repeat
                    if len(_kv_cache) >= _CACHE_MAX:
                        _kv_cache.clear()
                    _kv_cache[(tag, key, value)] = cached
            out.append(cached)
        else:
            out.append(_field(tag, _key_value(key, value)))
    return b"".join(out)


def _flags(parent: Any) -> bytes:
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)
    return _I(flags)


def _span(span: ReadableSpan) -> bytes:
    context = span.get_span_context()
    assert context is not None
    parts = [b"\x0a\x10", context.trace_id.to_bytes(16, "big"),
             b"\x12\x08", context.span_id.to_bytes(8, "big")]
    if context.trace_state:
        parts.append(_field(b"\x1a", ",".join(
            f"{k}={v}" for k, v in context.trace_state.items()).encode()))
    parent = span.parent
    if parent:
        parts += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
    parts += (_field(b"\x2a", span.name.encode()), b"\x30", bytes((span.kind.value + 1,)),
              b"\x39", _Q(span.start_time or 0), b"\x41", _Q(span.end_time or 0))
    parts.append(_attributes(b"\x4a", span.attributes))
    if span.dropped_attributes:
        parts += (b"\x50", _varint(span.dropped_attributes))
    for event in span.events:
        body = [b"\x09", _Q(event.timestamp), _field(b"\x12", event.name.encode()),
                _attributes(b"\x1a", event.attributes)]
        if event.dropped_attributes:
            body += (b"\x20", _varint(event.dropped_attributes))
        parts.append(_field(b"\x5a", b"".join(body)))
    if span.dropped_events:
        parts += (b"\x60", _varint(span.dropped_events))
    for link in span.links:
        body = [b"\x0a\x10", link.context.trace_id.to_bytes(16, "big"),
                b"\x12\x08", link.context.span_id.to_bytes(8, "big"),
                _attributes(b"\x22", link.attributes)]
        if link.dropped_attributes:
            body += (b"\x28", _varint(link.dropped_attributes))
        body += (b"\x35", _flags(link.context))
        parts.append(_field(b"\x6a", b"".join(body)))
    if span.dropped_links:
        parts += (b"\x70", _varint(span.dropped_links))
    status = span.status
    body = []
    if status.description:
        body.append(_field(b"\x12", status.description.encode()))
    if status.status_code.value:
        body += (b"\x18", _varint(status.status_code.value))
    parts += (_field(b"\x7a", b"".join(body)), b"\x85\x01", _flags(parent))
    return b"".join(parts)


def _headers(resource: Resource, scope: InstrumentationScope | None
             ) -> tuple[bytes, bytes, bytes, bytes]:
    """A resource's encoded Resource, its scope's InstrumentationScope, the schema URLs
    (ScopeSpans', ResourceSpans' fields): once per pair."""
    key = (resource, scope)
    found = _header_cache.get(key)
    if found is None:
        resource_bytes = _field(b"\x0a", _encode_resource(resource).SerializeToString())
        # the SDK's encoder takes None for "no scope" though its annotation says otherwise
        scope_message = _encode_instrumentation_scope(scope)  # type: ignore[arg-type]
        scope_bytes = _field(b"\x0a", scope_message.SerializeToString())
        scope_url = _field(b"\x1a", scope.schema_url.encode()) if scope and scope.schema_url \
            else b""
        resource_url = (_field(b"\x1a", resource.schema_url.encode()) if resource.schema_url
                        else b"")
        found = (resource_bytes, scope_bytes, scope_url, resource_url)
        if len(_header_cache) >= 64:
            _header_cache.clear()
        _header_cache[key] = found
    return found


def encode_request(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialised ExportTraceServiceRequest of `spans`, grouped by resource and scope as
    the SDK's encoder groups them."""
    # grouped by identity first: a Resource's hash is a JSON dump of its attributes, and
    # every span of a provider has the same one
    by_id: dict[tuple[int, int], tuple[Resource, InstrumentationScope | None, list[bytes]]] = {}
    try:
        for span in spans:
            scope = span.instrumentation_scope or None
            key = (id(span.resource), id(scope))
            group = by_id.get(key)
            if group is None:
                group = by_id[key] = (span.resource, scope, [])
            group[2].append(_field(b"\x12", _span(span)))
    except _Unknown:
        return bytes(encode_spans(spans).SerializePartialToString())
    groups: dict[Resource, dict[InstrumentationScope | None, list[bytes]]] = {}
    for resource, scope, encoded in by_id.values():
        groups.setdefault(resource, {}).setdefault(scope, []).extend(encoded)
    out = []
    for resource, scopes in groups.items():
        body = []
        resource_url = b""
        resource_bytes = b""
        for scope, encoded in scopes.items():
            resource_bytes, scope_bytes, scope_url, resource_url = _headers(resource, scope)
            body.append(_field(b"\x12", scope_bytes + b"".join(encoded) + scope_url))
        out.append(_field(b"\x0a", resource_bytes + b"".join(body) + resource_url))
    return b"".join(out)


class LeanOTLPSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP exporter (its endpoint, headers, retries and timeouts) with the
    lean encoder."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        result = self._client.export(encode_request(spans))
        return SpanExportResult.SUCCESS if result.success else SpanExportResult.FAILURE
