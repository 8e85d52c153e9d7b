"""The stack's Jaeger (scripts/stack/jaeger.py): a span the OpenTelemetry SDK sends over
OTLP/HTTP comes back from its query API with its service, parent link and attributes; and a
machine that cannot build Jaeger runs the stack without it, saying why."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from scripts.stack import Connections, Settings, down, up
from scripts.stack.testing import unique_name
from tests.jaeger_kit import service_of, tags, wait_for_trace

# the first test may wait for Jaeger's build (minutes on a fresh machine)
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def test_a_span_sent_over_otlp_http_comes_back_from_jaegers_query_api(
        jaeger: Connections) -> None:
    url = jaeger.traces_url
    service = unique_name("laneway-test")
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{jaeger.otlp_endpoint}/v1/traces", timeout=10)))
    tracer = provider.get_tracer("tests.integration.test_stack_jaeger")
    with (tracer.start_as_current_span("start instance") as parent,
          tracer.start_as_current_span("process command") as child):
        child.set_attribute("laneway.instance_id", "i-1")
    assert provider.force_flush(30_000), "the exporter did not flush"
    provider.shutdown()
    trace_id = format(parent.get_span_context().trace_id, "032x")

    trace = wait_for_trace(url, trace_id, lambda t: len(t["spans"]) == 2)

    assert trace["traceID"] == trace_id
    spans = {s["operationName"]: s for s in trace["spans"]}
    assert set(spans) == {"start instance", "process command"}
    parent_id = format(parent.get_span_context().span_id, "016x")
    assert spans["start instance"]["spanID"] == parent_id
    assert spans["start instance"]["references"] == []
    assert spans["process command"]["references"] == [
        {"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent_id}]
    assert {service_of(trace, s) for s in trace["spans"]} == {service}
    assert tags(spans["process command"])["laneway.instance_id"] == "i-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _own_stack(stack: Connections, tmp_path: Path) -> Settings:
    """A stack of its own (state directory, mail and Jaeger ports) over the session's Kafka,
    PostgreSQL and Redis."""
    return Settings.from_env({
        **stack.env(), "HOME": str(tmp_path), "LANEWAY_STACK_DIR": str(tmp_path / "stack"),
        "LANEWAY_MAIL_PORT": str(_free_port()),
        **{name: str(_free_port()) for name in (
            "LANEWAY_JAEGER_UI_PORT", "LANEWAY_JAEGER_QUERY_GRPC_PORT",
            "LANEWAY_JAEGER_OTLP_GRPC_PORT", "LANEWAY_JAEGER_OTLP_HTTP_PORT")}})


def test_without_a_go_toolchain_the_stack_comes_up_without_jaeger_and_says_why(
        stack: Connections, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # a PATH without `go` and an empty tool cache: nothing to start Jaeger from
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert shutil.which("go") is None
    monkeypatch.setenv("LANEWAY_TOOLS_CACHE", str(tmp_path / "tools"))
    settings = _own_stack(stack, tmp_path)
    capsys.readouterr()
    try:
        conns = up(settings, topics=False)
    finally:
        down(settings)

    said = [line for line in capsys.readouterr().err.splitlines() if "jaeger" in line]
    assert len(said) == 1, said
    assert said[0].startswith("[stack] jaeger not started (the stack runs without traces)")
    assert "no Go toolchain" in said[0]
    assert (conns.traces_url, conns.otlp_endpoint) == ("", "")
    assert "no Go toolchain" in conns.traces_note
    # the services get no exporter and the console no link
    assert conns.telemetry_env() == {}


def test_the_tests_stack_neither_builds_jaeger_nor_waits_for_its_build(
        stack: Connections, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Go is here, the tool cache is empty: `up` for the tests must not start a build of
    # minutes (the tests that read traces wait for it, through the `jaeger` fixture)
    assert shutil.which("go") is not None
    tools = tmp_path / "tools"
    monkeypatch.setenv("LANEWAY_TOOLS_CACHE", str(tools))
    settings = _own_stack(stack, tmp_path)
    try:
        conns = up(settings, topics=False, build_jaeger=False)
    finally:
        down(settings)

    assert conns.traces_url == ""
    assert "not built yet" in conns.traces_note
    assert not any(tools.glob("jaeger-*")), "a build was started"
