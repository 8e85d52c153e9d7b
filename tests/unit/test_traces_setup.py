"""The tracing setup from the OTEL_* settings (off without an endpoint, OTLP over HTTP to a
real local server with one), the trace id of an instance, and the JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from laneway.connectors.testing import serve
from laneway.settings import Settings, SettingsError
from laneway.telemetry import (
    JsonFormatter,
    QuietSampler,
    TracingSettings,
    install,
    instance_span,
    instance_trace_id,
    log_handler,
    setup_tracing,
    trace_headers,
    tracer_provider,
    tracing,
    uninstall,
)
from tests.otlp_receiver import otlp_receiver


def test_without_an_endpoint_setup_does_nothing_and_spans_are_not_made() -> None:
    telemetry = setup_tracing("engine", {})
    assert not telemetry.enabled
    assert not tracing()
    with instance_span("x", str(uuid.uuid4())) as span:
        assert not span.get_span_context().is_valid
        assert not span.is_recording()
        assert trace_headers() is None
    telemetry.shutdown()  # a no-op, and safe


def test_the_sdk_disabled_wins_over_an_endpoint() -> None:
    env = {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    assert TracingSettings.from_env("engine", env).endpoint is None
    assert not setup_tracing("engine", env).enabled


@pytest.mark.parametrize(("env", "endpoint", "name"), [
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, "http://c:4318/v1/traces",
     "laneway-audit"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SERVICE_NAME": "audit-eu",
      "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://t/x"}, "https://t/x", "audit-eu"),
    ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, None, "laneway-audit"),
])
def test_the_settings_are_the_standard_ones(env: dict[str, str], endpoint: str | None,
                                            name: str) -> None:
    settings = TracingSettings.from_env("audit", env)
    assert (settings.endpoint, settings.service_name) == (endpoint, name)


@pytest.mark.parametrize("env", [
    {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "c:4318"},
])
def test_settings_it_cannot_follow_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="OTLP"):
        TracingSettings.from_env("audit", env)


def test_with_an_endpoint_spans_are_exported_over_otlp_http_on_shutdown() -> None:
    iid = str(uuid.uuid4())
    with otlp_receiver() as received:
        telemetry = setup_tracing("engine", {"OTEL_EXPORTER_OTLP_ENDPOINT": received.url})
        assert telemetry.enabled
        with instance_span("laneway.test", iid, element_id="task"):
            pass
        telemetry.shutdown()  # flushes the batch
        assert received.arrived.wait(10)
    assert not tracing()
    ((service, span),) = received.spans()
    assert service == "laneway-engine"
    assert span.name == "laneway.test"
    assert span.trace_id.hex() == iid.replace("-", "")
    attributes = {a.key: a.value.string_value for a in span.attributes}
    assert attributes == {"laneway.instance_id": iid, "laneway.element_id": "task"}


def test_an_instance_id_that_is_no_uuid_still_has_one_stable_trace() -> None:
    assert instance_trace_id("order-17") == instance_trace_id("order-17") != 0
    assert instance_trace_id("order-17") != instance_trace_id("order-18")
    iid = uuid.uuid4()
    assert instance_trace_id(str(iid)) == iid.int


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = tracer_provider("laneway-test", None)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    install(provider)
    yield exporter
    uninstall()


def _logged(handler: logging.Handler, emit: Callable[[logging.Logger], None]) -> str:
    stream = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    logger = logging.getLogger(f"laneway.test.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    emit(logger)
    return stream.getvalue()


def test_json_log_lines_carry_the_trace_span_and_instance(
        spans: InMemorySpanExporter) -> None:
    iid = str(uuid.uuid4())

    def emit(logger: logging.Logger) -> None:
        logger.info("outside")
        with instance_span("laneway.test", iid):
            logger.info("inside %s", "it")
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("failed")

    lines = [json.loads(line) for line in
             _logged(log_handler("engine", "json"), emit).splitlines()]
    assert len(lines) == 3
    outside, inside, failed = lines
    assert outside.keys() == {"time", "level", "service", "logger", "message"}
    assert (outside["level"], outside["service"], outside["message"]) == (
        "INFO", "engine", "outside")
    assert outside["time"].endswith("Z")
    (span,) = spans.get_finished_spans()
    assert span.context is not None
    assert inside["message"] == "inside it"
    assert inside["trace_id"] == iid.replace("-", "") == f"{span.context.trace_id:032x}"
    assert inside["span_id"] == f"{span.context.span_id:016x}"
    assert inside["instance_id"] == iid
    assert failed["level"] == "ERROR"
    assert "ValueError: boom" in failed["exception"]


def test_with_tracing_off_a_log_line_still_names_its_instance() -> None:
    iid = str(uuid.uuid4())

    def emit(logger: logging.Logger) -> None:
        with instance_span("laneway.test", iid):
            logger.warning("here")

    (line,) = [json.loads(x) for x in
               _logged(log_handler("audit", "json"), emit).splitlines()]
    assert line["instance_id"] == iid
    assert "trace_id" not in line


def test_the_text_format_is_the_old_line() -> None:
    text = _logged(log_handler("audit", "text"), lambda lg: lg.warning("plain"))
    assert " WARNING audit laneway.test." in text
    assert text.rstrip().endswith(": plain")
    assert not text.startswith("{")


def test_the_log_format_is_a_setting() -> None:
    assert Settings.from_env("audit", {}).log_format == "json"
    assert Settings.from_env("audit", {"LANEWAY_LOG_FORMAT": "TEXT"}).log_format == "text"
    with pytest.raises(SettingsError, match="LANEWAY_LOG_FORMAT"):
        Settings.from_env("audit", {"LANEWAY_LOG_FORMAT": "xml"})
    assert isinstance(log_handler("audit", "json").formatter, JsonFormatter)


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_an_outbound_call_is_a_span_only_inside_one() -> None:
    exporter = InMemorySpanExporter()
    telemetry = setup_tracing("triggers", {}, exporter=exporter)
    try:
        with serve(_Ok) as url, httpx.Client() as client:
            client.get(url + "/poll")  # a feed poll: no one's trace
            with instance_span("laneway.test", str(uuid.uuid4())) as job:
                client.get(url + "/call")
        assert telemetry.provider is not None
        telemetry.provider.force_flush()
    finally:
        telemetry.shutdown()
    spans = exporter.get_finished_spans()
    assert sorted(s.name for s in spans) == ["GET", "laneway.test"]
    (call,) = [s for s in spans if s.name == "GET"]
    assert call.parent is not None
    assert call.parent.span_id == job.get_span_context().span_id


@pytest.mark.parametrize(("path", "kind", "parent", "kept"), [
    ("/health/ready", SpanKind.SERVER, False, False),
    ("/health", SpanKind.SERVER, True, False),
    ("/metrics", SpanKind.SERVER, False, False),
    ("/api/instances", SpanKind.SERVER, False, True),
    ("/poll", SpanKind.CLIENT, False, False),
    ("/call", SpanKind.CLIENT, True, True),
    (None, SpanKind.INTERNAL, False, True),
])
def test_the_sampler_keeps_no_ones_traces_out(path: str | None, kind: SpanKind, parent: bool,
                                              kept: bool) -> None:
    # as FastAPI starts its server span: named by the method, the path an attribute
    context = None
    if parent:
        context = trace.set_span_in_context(NonRecordingSpan(SpanContext(
            1, 2, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))))
    attributes = {"url.path": path} if path is not None else None
    decision = QuietSampler(ALWAYS_ON).should_sample(context, 1, "GET", kind,
                                                     attributes).decision
    assert decision.is_sampled() is kept
