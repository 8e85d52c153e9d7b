"""A local OTLP/HTTP receiver for the tests: a real HTTP server taking what an OpenTelemetry
exporter posts to `/v1/traces` (protobuf), so a test sees the spans a service exported."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from laneway.connectors.testing import serve

__all__ = ["Received", "otlp_receiver"]


@dataclass
class Received:
    """What arrived, with the receiver's base URL (an `OTEL_EXPORTER_OTLP_ENDPOINT`)."""

    url: str = ""
    requests: list[ExportTraceServiceRequest] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def spans(self) -> list[tuple[str, Span]]:
        """(service.name, span) of every span received so far."""
        with self._lock:
            requests = list(self.requests)
        out = []
        for request in requests:
            for resource_spans in request.resource_spans:
                service = next((a.value.string_value for a in
                                resource_spans.resource.attributes
                                if a.key == "service.name"), "")
                out.extend((service, s) for scope in resource_spans.scope_spans
                           for s in scope.spans)
        return out

    def add(self, request: ExportTraceServiceRequest) -> None:
        """Keep one export request."""
        with self._lock:
            self.requests.append(request)
        self.arrived.set()


@contextmanager
def otlp_receiver() -> Iterator[Received]:
    """Serve a receiver on a free port of 127.0.0.1 for the duration of the block."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                received.add(request)
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve(Handler) as url:
        received.url = url
        yield received
