"""`GET /api/instances/{id}/trace` (services/audit/routes/trace.py) against the stack's real
Jaeger: spans the OpenTelemetry SDK sends over OTLP with the trace id of a made-up instance
come back as the console's trace view reads them (services, parents, error status, attributes,
events, links to another instance's trace); and its refusals: no token, a role that may not
read traces, an id that is not an instance's, a trace Jaeger does not have, no Jaeger, and a
query service that answers something unusable (problem JSON, never a 500)."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Link, SpanContext, Status, StatusCode

from laneway.web.problems import PROBLEM_JSON
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from tests.auth import ADMIN, auth_header
from tests.integration.api_harness import Api, running_api
from tests.jaeger_kit import wait_for_trace

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

OPERATOR = auth_header("olga", roles=["operator"])
AUDITOR = auth_header("audrey", roles=["auditor"])
CASE_WORKER = auth_header("carla", personas=["Case Worker"])


class _InstanceTrace(RandomIdGenerator):
    """Every root span gets the instance's trace id, as the services give theirs."""

    def __init__(self, instance_id: str) -> None:
        self.trace_id = uuid.UUID(instance_id).int

    def generate_trace_id(self) -> int:
        return self.trace_id


def _provider(jaeger: Connections, service: str, instance_id: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}),
                              id_generator=_InstanceTrace(instance_id))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{jaeger.otlp_endpoint}/v1/traces", timeout=10)))
    return provider


@pytest.fixture(scope="module")
def api(jaeger: Connections) -> Iterator[Api]:
    with running_api(jaeger, "test.trace", Api, LANEWAY_PROJECTION="off",
                     LANEWAY_TRACES_QUERY_URL=jaeger.traces_url) as api:
        yield api


def _check_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith(PROBLEM_JSON)  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    return body


def test_an_instances_spans_come_back_with_parents_services_errors_attributes_and_links(
        api: Api, jaeger: Connections) -> None:
    instance, child_instance = str(uuid.uuid4()), str(uuid.uuid4())
    api_service, engine_service = unique_name("laneway-api"), unique_name("laneway-engine")
    front = _provider(jaeger, api_service, instance)
    engine = _provider(jaeger, engine_service, instance)
    child_context = SpanContext(trace_id=uuid.UUID(child_instance).int, span_id=0x1234,
                                is_remote=True)
    with front.get_tracer("t").start_as_current_span("POST /api/instances") as root:
        root.set_attribute("laneway.instance_id", instance)
        with engine.get_tracer("t").start_as_current_span(
                "process CREATE", links=[Link(child_context)]) as command:
            command.set_attribute("laneway.element", "<b>review</b>")
            command.set_attribute("laneway.events", 3)
            command.add_event("rejected", {"laneway.reason": "not allowed"})
            command.set_status(Status(StatusCode.ERROR, "rejected"))
            with engine.get_tracer("t").start_as_current_span("write events"):
                pass
    for provider in (front, engine):
        assert provider.force_flush(30_000), "the exporter did not flush"
        provider.shutdown()
    hex_id = uuid.UUID(instance).hex
    wait_for_trace(jaeger.traces_url, hex_id, lambda t: len(t["spans"]) == 3)

    response = api.client.get(f"/api/instances/{instance}/trace", headers=OPERATOR)

    assert response.status_code == 200, response.text
    view = response.json()
    assert (view["traceId"], view["spanCount"], view["truncated"]) == (hex_id, 3, False)
    spans = {s["operation"]: s for s in view["spans"]}
    assert [s["operation"] for s in view["spans"]] == [
        "POST /api/instances", "process CREATE", "write events"]  # earliest first
    root_id = format(root.get_span_context().span_id, "016x")
    command_id = format(command.get_span_context().span_id, "016x")
    assert spans["POST /api/instances"]["spanId"] == root_id
    assert spans["POST /api/instances"]["parentSpanId"] is None
    assert spans["process CREATE"]["parentSpanId"] == root_id
    assert spans["write events"]["parentSpanId"] == command_id
    assert [spans[o]["service"] for o in ("POST /api/instances", "process CREATE")] == [
        api_service, engine_service]
    assert [s["error"] for s in view["spans"]] == [False, True, False]
    attributes = {a["key"]: a["value"] for a in spans["process CREATE"]["attributes"]}
    assert attributes["laneway.element"] == "<b>review</b>"  # text, as given
    assert attributes["laneway.events"] == "3"
    [event] = spans["process CREATE"]["events"]
    assert event["name"] == "rejected"
    assert {"key": "laneway.reason", "value": "not allowed"} in event["attributes"]
    assert event["time"] >= spans["process CREATE"]["startTime"]
    assert spans["process CREATE"]["links"] == [
        {"traceId": uuid.UUID(child_instance).hex, "spanId": "0000000000001234",
         "kind": "FOLLOWS_FROM"}]
    assert all(s["duration"] >= 0 and s["startTime"] > 0 for s in view["spans"])

    # an auditor reads it too, and the id's 32 hex digits name the same trace
    again = api.client.get(f"/api/instances/{hex_id}/trace", headers=AUDITOR)
    assert again.status_code == 200, again.text
    assert again.json()["traceId"] == hex_id


def test_a_trace_jaeger_does_not_have_is_404_problem(api: Api) -> None:
    body = _check_problem(api.client.get(f"/api/instances/{uuid.uuid4()}/trace",
                                         headers=ADMIN), 404)
    assert "none (yet)" in str(body["detail"])


@pytest.mark.parametrize(("headers", "status"), [({}, 401), (CASE_WORKER, 403)],
                         ids=["no token", "no operator or auditor role"])
def test_who_may_not_read_traces_is_refused(api: Api, headers: dict[str, str],
                                            status: int) -> None:
    # the refusal comes before Jaeger is asked: even a trace that may exist is not shown
    _check_problem(api.client.get(f"/api/instances/{uuid.uuid4()}/trace", headers=headers),
                   status)


@pytest.mark.parametrize("bad", ["not-a-uuid", "{" + str(uuid.uuid4()) + "}",
                                 "urn:uuid:" + str(uuid.uuid4()), "0" * 31, "g" * 32,
                                 str(uuid.uuid4()) + "0"])
def test_an_id_that_is_not_an_instances_is_422(api: Api, bad: str) -> None:
    _check_problem(api.client.get(f"/api/instances/{bad}/trace", headers=OPERATOR), 422)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_without_jaeger_the_trace_is_503_problem_saying_so(jaeger: Connections) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with running_api(jaeger, "test.trace", Api, LANEWAY_PROJECTION="off",
                     LANEWAY_TRACES_QUERY_URL=url) as down:
        response = down.client.get(f"/api/instances/{uuid.uuid4()}/trace", headers=OPERATOR)
    body = _check_problem(response, 503)
    assert "is Jaeger running" in str(body["detail"])
    assert response.headers["retry-after"] == "5"
    assert url not in response.text  # the internal address is not told


def test_without_a_query_url_the_trace_is_503_problem_naming_the_setting(
        jaeger: Connections) -> None:
    with running_api(jaeger, "test.trace", Api, LANEWAY_PROJECTION="off") as unset:
        body = _check_problem(unset.client.get(f"/api/instances/{uuid.uuid4()}/trace",
                                               headers=OPERATOR), 503)
    assert "LANEWAY_TRACES_QUERY_URL" in str(body["detail"])


class _Broken(BaseHTTPRequestHandler):
    """A query service answering what is not a trace: a 500, HTML, or JSON without `data`."""

    def do_GET(self) -> None:
        kind = self.server.kind  # type: ignore[attr-defined]
        status, body = {"500": (500, b"oops"), "html": (200, b"<html>Jaeger</html>"),
                        "nodata": (200, b'{"errors": null}')}[kind]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_query_service_answering_no_trace_is_502_problem(jaeger: Connections) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with running_api(jaeger, "test.trace", Api, LANEWAY_PROJECTION="off",
                         LANEWAY_TRACES_QUERY_URL=f"http://127.0.0.1:{server.server_port}"
                         ) as broken:
            for kind in ("500", "html", "nodata"):
                server.kind = kind  # type: ignore[attr-defined]
                _check_problem(broken.client.get(f"/api/instances/{uuid.uuid4()}/trace",
                                                 headers=OPERATOR), 502)
    finally:
        server.shutdown()
        server.server_close()


def test_a_trace_whose_spans_arrive_later_is_404_then_200(
        api: Api, jaeger: Connections) -> None:
    # what the console's "no trace yet" and its retry rely on: the same read, later, finds it
    instance = str(uuid.uuid4())
    path = f"/api/instances/{instance}/trace"
    assert api.client.get(path, headers=OPERATOR).status_code == 404
    provider = _provider(jaeger, unique_name("laneway-late"), instance)
    with provider.get_tracer("t").start_as_current_span("late"):
        pass
    assert provider.force_flush(30_000)
    provider.shutdown()
    wait_until(lambda: api.client.get(path, headers=OPERATOR).status_code == 200, 60, 0.25,
               "the late trace")
