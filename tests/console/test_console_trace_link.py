"""The instance page links the instance's trace (one instance, one trace: its id is the instance
id's 32 hex digits) in the tracing UI the definitions service names (`LANEWAY_TRACES_URL`, what
`make up` sets to the stack's Jaeger), and shows no link when none is set.

The setting is the definitions service's own: the tests restart that service with and without
it, as an operator would change it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from scripts.services import up
from scripts.stack.testing import unique_name
from tests.console.diagrams import review_process
from tests.console.live_kit import start
from tests.console.ui import sign_in
from tests.e2e.harness import Laneway

TRACES = "http://127.0.0.1:16686/jaeger"


def definitions_with(lw: Laneway, traces_url: str | None) -> None:
    """Run the definitions service with LANEWAY_TRACES_URL = `traces_url` (unset: None)."""
    sup = lw.supervisor
    env = {k: v for k, v in sup.env.items() if k != "LANEWAY_TRACES_URL"}
    if traces_url is not None:
        env["LANEWAY_TRACES_URL"] = traces_url
    if env == dict(sup.env) and sup.pid("definitions") is not None:
        return
    sup.stop("definitions")
    sup.env = env
    up(sup, ["definitions"], 90)


def open_instance(lw: Laneway, page: Page) -> str:
    pid = unique_name("traced").replace("-", "_")
    lw.deploy(review_process(pid))
    iid = start(lw, pid, {"applicant": "Ada"})
    sign_in(page, lw.public_url, "olga")
    page.goto(f"{lw.public_url}/instances/{iid}")
    expect(page.get_by_test_id("status")).not_to_be_empty()
    return iid


def test_the_instance_page_links_its_trace_in_the_tracing_ui(console: Laneway,
                                                             page: Page) -> None:
    definitions_with(console, TRACES + "/")

    iid = open_instance(console, page)

    link = page.get_by_test_id("trace")
    expect(link).to_have_text("Trace")
    # the trailing slash of the setting is dropped; the id's dashes too
    hex_id = iid.replace("-", "")
    assert len(hex_id) == 32
    expect(link).to_have_attribute("href", f"{TRACES}/trace/{hex_id}")
    # the tracing UI opens beside the console, which it must not be able to reach back into
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")


def test_without_a_traces_url_the_instance_page_has_no_trace_link(console: Laneway,
                                                                   page: Page) -> None:
    definitions_with(console, None)

    open_instance(console, page)

    # the page is drawn (its meta line names the instance) and has no trace link
    expect(page.locator(".instance-meta code")).to_be_visible()
    expect(page.get_by_test_id("trace")).to_have_count(0)
