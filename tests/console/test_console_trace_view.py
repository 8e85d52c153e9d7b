"""The console's trace view (`/instances/<id>/trace`, console/src/pages/trace.js): spans the
OpenTelemetry SDK sends to the stack's real Jaeger with the trace id of a made-up instance are
drawn as a waterfall read through the audit service (`GET /api/instances/{id}/trace`): one row
per span, nested under its parent, errors marked, a click shows a span's attributes (as text)
and events, a linked trace is a link to its own view; before any span arrives the page says
"no trace yet" and its Refresh finds the spans once they are there. The instance page links
the view when the server reads traces (`LANEWAY_TRACES_QUERY_URL`), and Jaeger's UI beside it
when one is named too (`LANEWAY_TRACES_URL`).

The settings are the definitions' (the console config) and the audit's (the route): the tests
restart those two services with them, as an operator would set them."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Link, SpanContext, Status, StatusCode
from playwright.sync_api import Page, expect

from scripts.services import up
from scripts.stack import Connections
from scripts.stack.testing import unique_name
from tests.console.test_console_trace_link import open_instance
from tests.console.ui import sign_in
from tests.e2e.harness import Laneway
from tests.integration.conftest import jaeger
from tests.jaeger_kit import wait_for_trace

__all__ = ["jaeger"]  # the fixture, from the integration tests

pytestmark = pytest.mark.timeout(900)

HOSTILE = '<img src=x onerror="window.__pwned=1">'
JAEGER_UI = "http://jaeger.example:16686"


def services_with(lw: Laneway, env: dict[str, str]) -> None:
    """Run the definitions and audit services with exactly the trace settings in `env`."""
    sup = lw.supervisor
    names = ("LANEWAY_TRACES_URL", "LANEWAY_TRACES_QUERY_URL")
    new = {**{k: v for k, v in sup.env.items() if k not in names}, **env}
    if new == dict(sup.env):
        return
    for name in ("definitions", "audit"):
        sup.stop(name)
    sup.env = new
    up(sup, ["definitions", "audit"], 90)


class _InstanceTrace(RandomIdGenerator):
    """Root spans get the instance's trace id, as the services give theirs."""

    def __init__(self, instance_id: str) -> None:
        self.trace_id = uuid.UUID(instance_id).int

    def generate_trace_id(self) -> int:
        return self.trace_id


def send_spans(jaeger: Connections, instance_id: str, linked: str) -> tuple[str, str]:
    """An API span, the engine's command under it (in error, with a hostile attribute, an
    event and a link to `linked`'s trace) and a write under that; the two service names."""
    services = unique_name("laneway-api"), unique_name("laneway-engine")
    providers = []
    for service in services:
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}),
                                  id_generator=_InstanceTrace(instance_id))
        provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{jaeger.otlp_endpoint}/v1/traces", timeout=10)))
        providers.append(provider)
    api, engine = (p.get_tracer("tests.console") for p in providers)
    link = Link(SpanContext(trace_id=uuid.UUID(linked).int, span_id=0xABC, is_remote=True))
    with (api.start_as_current_span("POST /api/instances"),
          engine.start_as_current_span("process CREATE", links=[link]) as command):
        command.set_attribute("laneway.element", HOSTILE)
        command.add_event("rejected", {"laneway.reason": "no such element"})
        command.set_status(Status(StatusCode.ERROR))
        with engine.start_as_current_span("write events"):
            pass
    for provider in providers:
        assert provider.force_flush(30_000), "the exporter did not flush"
        provider.shutdown()
    wait_for_trace(jaeger.traces_url, uuid.UUID(instance_id).hex,
                   lambda t: len(t["spans"]) == 3)
    return services


def test_the_trace_view_draws_the_spans_nested_and_a_click_shows_a_spans_attributes(
        console: Laneway, jaeger: Connections, page: Page) -> None:
    services_with(console, {"LANEWAY_TRACES_QUERY_URL": jaeger.traces_url})
    instance, linked = str(uuid.uuid4()), str(uuid.uuid4())
    sign_in(page, console.public_url, "olga")
    page.goto(f"{console.public_url}/instances/{instance}/trace")

    # nothing sent yet: no trace, said so, with a way to look again
    expect(page.get_by_test_id("trace-empty")).to_contain_text("No trace yet")
    expect(page.get_by_test_id("span-row")).to_have_count(0)

    api_service, engine_service = send_spans(jaeger, instance, linked)
    page.get_by_test_id("trace-refresh").click()

    rows = page.get_by_test_id("span-row")
    expect(rows).to_have_count(3)
    expect(page.get_by_test_id("trace-empty")).to_have_count(0)
    expect(rows.get_by_test_id("span-operation")).to_have_text(
        ["POST /api/instances", "process CREATE", "write events"])
    # nested by parent: each span one level under the one before
    assert [rows.nth(i).get_attribute("data-depth") for i in range(3)] == ["0", "1", "2"]
    expect(rows.get_by_test_id("span-service")).to_have_text(
        [api_service, engine_service, engine_service])
    # the command's error is marked, in words, on its row only
    expect(rows.nth(1).get_by_test_id("span-error")).to_have_text("error")
    expect(page.get_by_test_id("span-error")).to_have_count(1)
    expect(page.get_by_test_id("trace-summary")).to_contain_text("3 spans · 2 services")

    # a click shows the span's attributes and events; the data is text, never markup
    details = page.get_by_test_id("span-details").nth(1)
    expect(details).to_be_hidden()
    rows.nth(1).click()
    expect(details).to_be_visible()
    attributes = details.get_by_test_id("span-attributes")
    expect(attributes.locator("tr", has_text="laneway.element").locator("td")).to_have_text(HOSTILE)
    expect(details.locator("img")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None
    expect(details.get_by_test_id("span-events")).to_contain_text("rejected")
    expect(details.get_by_test_id("span-events")).to_contain_text("no such element")
    expect(rows.nth(1)).to_have_attribute("aria-expanded", "true")

    # the linked trace (a call activity's other instance) is a link to its own view
    link = page.get_by_test_id("trace-links").get_by_test_id("trace-link")
    expect(link).to_have_text(linked)
    expect(link).to_have_attribute("href", f"/instances/{linked}/trace")
    link.click()
    expect(page).to_have_url(f"{console.public_url}/instances/{linked}/trace")
    expect(page.get_by_test_id("trace-empty")).to_be_visible()


def test_a_role_that_may_not_read_traces_is_told_so(console: Laneway, page: Page) -> None:
    sign_in(page, console.public_url, "carla")
    page.goto(f"{console.public_url}/instances/{uuid.uuid4()}/trace")
    expect(page.get_by_text("Traces are for operators and auditors.")).to_be_visible()
    expect(page.get_by_test_id("trace-refresh")).to_have_count(0)


def test_the_instance_page_links_the_trace_view_and_jaegers_ui_when_both_are_set(
        console: Laneway, jaeger: Connections, page: Page) -> None:
    services_with(console, {"LANEWAY_TRACES_QUERY_URL": jaeger.traces_url})
    iid = open_instance(console, page)
    view = page.get_by_test_id("trace-view")
    expect(view).to_have_text("Trace")
    expect(view).to_have_attribute("href", f"/instances/{iid}/trace")
    expect(page.get_by_test_id("trace")).to_have_count(0)  # no UI named: no Jaeger link

    services_with(console, {"LANEWAY_TRACES_QUERY_URL": jaeger.traces_url,
                            "LANEWAY_TRACES_URL": JAEGER_UI})
    page.reload()
    expect(page.get_by_test_id("trace-view")).to_have_attribute("href", f"/instances/{iid}/trace")
    expect(page.get_by_test_id("trace")).to_have_text("Trace in Jaeger")
    expect(page.get_by_test_id("trace")).to_have_attribute(
        "href", f"{JAEGER_UI}/trace/{iid.replace('-', '')}")

    page.get_by_test_id("trace-view").click()
    expect(page).to_have_url(f"{console.public_url}/instances/{iid}/trace")
    expect(page.get_by_test_id("trace-state").or_(page.get_by_test_id("trace-waterfall"))
           ).to_be_visible()


def test_without_jaeger_the_trace_view_says_the_backend_cannot_be_reached(
        console: Laneway, page: Page) -> None:
    # a query URL nothing listens on: Jaeger is down
    services_with(console, {"LANEWAY_TRACES_QUERY_URL": "http://127.0.0.1:9"})
    sign_in(page, console.public_url, "olga")
    page.goto(f"{console.public_url}/instances/{uuid.uuid4()}/trace")
    expect(page.get_by_test_id("trace-error")).to_contain_text("is Jaeger running?")
