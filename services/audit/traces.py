"""An instance's trace read from a Jaeger query API (`LANEWAY_TRACES_QUERY_URL`) and cut down to
what the console's trace view draws (`GET /api/instances/{id}/trace`, docs/console.md).

Jaeger's answer is untrusted input from another service: it is read with a deadline and a
size limit, and what comes back is bounded (spans, attributes per span, events, links, text
length) before any of it is sent on. Jaeger's JSON (what its UI reads):
`{"data": [{"traceID", "spans": [{"spanID", "operationName", "references": [{"refType",
"traceID", "spanID"}], "startTime" (µs), "duration" (µs), "tags": [{"key", "type", "value"}],
"logs": [{"timestamp", "fields": [...]}], "processID"}], "processes": {"p1": {"serviceName"}}}]}`.
An OpenTelemetry span's parent is its CHILD_OF reference within the trace; its links (a call
activity's child instance and its parent link each other's traces) arrive as FOLLOWS_FROM
references, or as references into another trace.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import Field

from services.audit.models import ApiModel

__all__ = ["MAX_SPANS", "TraceQuery", "TraceUnavailable", "TraceView", "shape"]

MAX_SPANS = 2000
"""Most spans a view holds (the earliest ones); `truncated` says when a trace has more."""
MAX_ATTRIBUTES = 100
MAX_EVENTS = 50
MAX_LINKS = 20
MAX_TEXT = 2000
"""Longest key, name or value sent on, in characters (cut with '…')."""
MAX_BYTES = 32 * 1024 * 1024
"""Largest answer read from Jaeger: a trace of MAX_SPANS spans with their attributes is a few
MiB; past this one the view refuses rather than holding more in memory."""
TIMEOUT_S = 10.0


class TraceUnavailable(Exception):
    """The query service could not give the trace: `status` is what the route answers (502:
    it answered something unusable; 503: it does not answer)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Attribute(ApiModel):
    key: str = Field(description="The attribute's name.")
    value: str = Field(description="Its value as text (numbers and booleans as JSON writes "
                                   "them).")


class SpanEvent(ApiModel):
    time: int = Field(description="When, in microseconds since the epoch.")
    name: str | None = Field(description="The event's name (its `event` field), if it has one.")
    attributes: list[Attribute] = Field(description="Its other fields.")


class SpanLink(ApiModel):
    trace_id: str = Field(description="The linked trace (32 hex digits); an instance's trace "
                                      "id is its id without dashes.")
    span_id: str = Field(description="The linked span.")
    kind: Literal["FOLLOWS_FROM", "CHILD_OF"] = Field(description="Jaeger's reference type.")


class SpanView(ApiModel):
    span_id: str = Field(description="The span id (16 hex digits).")
    parent_span_id: str | None = Field(description="Its parent within this trace; null for a "
                                                   "root (or a parent not in the trace).")
    service: str = Field(description="The service that reported it.")
    operation: str = Field(description="The span's name.")
    start_time: int = Field(description="Start, in microseconds since the epoch.")
    duration: int = Field(description="Duration in microseconds.")
    error: bool = Field(description="Whether it ended in error (`otel.status_code` ERROR or "
                                    "`error` true).")
    attributes: list[Attribute] = Field(description="Its attributes (at most 100).")
    events: list[SpanEvent] = Field(description="Its events (Jaeger's logs, at most 50).")
    links: list[SpanLink] = Field(description="Its links to spans of other traces, or "
                                              "FOLLOWS_FROM ones (at most 20).")


class TraceView(ApiModel):
    """One trace, as the console's trace view draws it."""

    trace_id: str = Field(description="The trace id: the instance id's 32 hex digits.")
    span_count: int = Field(description="How many spans the trace has.")
    truncated: bool = Field(description="Whether `spans` holds fewer than `spanCount` (at "
                                        "most 2,000, the earliest).")
    spans: list[SpanView] = Field(description="Its spans, earliest first.")


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """Jaeger's query API at `url` (`LANEWAY_TRACES_QUERY_URL`)."""

    url: str
    timeout_s: float = TIMEOUT_S
    max_bytes: int = MAX_BYTES

    def read(self, trace_id: str) -> dict[str, Any] | None:
        """Jaeger's trace `trace_id` (32 hex digits), None when it has none of its spans (yet).

        Raises TraceUnavailable when the service does not answer in time (503) or answers
        something else than a trace (502)."""
        deadline = time.monotonic() + self.timeout_s
        try:
            with httpx.stream("GET", f"{self.url}/api/traces/{trace_id}",
                              timeout=self.timeout_s, follow_redirects=False,
                              headers={"Accept": "application/json"}) as response:
                if response.status_code == 404:
                    return None
                if response.status_code != 200:
                    raise TraceUnavailable(502, f"Expected the traces query service to answer "
                                                f"200 or 404, but it answered "
                                                f"{response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise TraceUnavailable(502, f"Expected a trace of at most "
                                                    f"{self.max_bytes // 2**20} MiB from the "
                                                    "traces query service, but it is larger: "
                                                    "open it in the tracing UI")
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the trace came too slowly")
        except httpx.TimeoutException:
            raise TraceUnavailable(503, f"Expected the traces query service to answer within "
                                        f"{self.timeout_s:g} s, but it did not: retry "
                                        "shortly") from None
        except httpx.HTTPError:
            raise TraceUnavailable(503, "Expected the traces query service "
                                        "(LANEWAY_TRACES_QUERY_URL) to answer, but it cannot "
                                        "be reached: is Jaeger running?") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise TraceUnavailable(502, "Expected JSON from the traces query service, but "
                                        "it answered something else") from None
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, list):
            raise TraceUnavailable(502, "Expected a trace from the traces query service "
                                        "(`data`), but its answer has none")
        trace = next((t for t in data if isinstance(t, dict)
                      and str(t.get("traceID", "")).lower().zfill(32) == trace_id), None)
        return trace if trace is not None and trace.get("spans") else None


def shape(trace_id: str, trace: dict[str, Any]) -> TraceView:
    """Jaeger's trace as the view's bounded model; what does not look like a span is left out."""
    raw = trace.get("spans")
    spans = [s for s in raw if isinstance(s, dict)] if isinstance(raw, list) else []
    processes = trace.get("processes")
    processes = processes if isinstance(processes, dict) else {}
    spans.sort(key=lambda s: _int(s.get("startTime")))
    kept = [_span(trace_id, s, processes) for s in spans[:MAX_SPANS]]
    return TraceView(trace_id=trace_id, span_count=len(spans),
                     truncated=len(spans) > MAX_SPANS, spans=kept)


def _span(trace_id: str, span: dict[str, Any], processes: dict[str, Any]) -> SpanView:
    parent = None
    links: list[SpanLink] = []
    refs = span.get("references")
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict):
            continue
        ref_trace = _hex(ref.get("traceID"), 32)
        ref_span = _hex(ref.get("spanID"), 16)
        kind: Literal["FOLLOWS_FROM", "CHILD_OF"] = (
            "CHILD_OF" if ref.get("refType") == "CHILD_OF" else "FOLLOWS_FROM")
        if not ref_trace or not ref_span:
            continue
        if kind == "CHILD_OF" and ref_trace == trace_id and parent is None:
            parent = ref_span
        elif len(links) < MAX_LINKS:
            links.append(SpanLink(trace_id=ref_trace, span_id=ref_span, kind=kind))
    tags = _attributes(span.get("tags"), MAX_ATTRIBUTES)
    values = {a.key: a.value for a in tags}
    process = processes.get(str(span.get("processID")))
    service = process.get("serviceName") if isinstance(process, dict) else None
    logs = span.get("logs")
    events = [_event(log) for log in (logs if isinstance(logs, list) else [])[:MAX_EVENTS]
              if isinstance(log, dict)]
    return SpanView(
        span_id=_hex(span.get("spanID"), 16) or "", parent_span_id=parent,
        service=_text(service) if service is not None else "unknown",
        operation=_text(span.get("operationName", "")),
        start_time=_int(span.get("startTime")), duration=_int(span.get("duration")),
        error=values.get("otel.status_code") == "ERROR" or values.get("error") == "true",
        attributes=tags, events=events, links=links)


def _event(log: dict[str, Any]) -> SpanEvent:
    fields = _attributes(log.get("fields"), MAX_ATTRIBUTES)
    name = next((f.value for f in fields if f.key == "event"), None)
    return SpanEvent(time=_int(log.get("timestamp")), name=name,
                     attributes=[f for f in fields if f.key != "event"])


def _attributes(raw: Any, limit: int) -> list[Attribute]:
    out: list[Attribute] = []
    for tag in raw if isinstance(raw, list) else []:
        if len(out) >= limit:
            break
        if isinstance(tag, dict) and "key" in tag:
            value = tag.get("value")
            text = value if isinstance(value, str) else json.dumps(value)
            out.append(Attribute(key=_text(tag["key"]), value=_text(text)))
    return out


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def _int(value: Any) -> int:
    # bool is an int to Python: not a time; the bound keeps it in JSON's safe integers
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    try:
        return max(0, min(int(value), 2**53 - 1))
    except (OverflowError, ValueError):  # inf, nan
        return 0


def _hex(value: Any, digits: int) -> str | None:
    """A trace or span id as `digits` lowercase hex digits (Jaeger drops leading zeros)."""
    if not isinstance(value, str) or not value or len(value) > digits:
        return None
    text = value.lower().zfill(digits)
    return text if all(c in "0123456789abcdef" for c in text) else None
