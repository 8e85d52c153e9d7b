"""The live instance page in Chromium against the real services: the token moves by itself
when a task is completed elsewhere, an incident shows on its element and an operator's retry
resolves it, and the search lists instances and opens them.

Setup (deploying, starting, completing a task) goes through the API with tokens of
tests/auth.py; what is under test goes through the browser."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from scripts.stack.testing import unique_name, wait_until
from tests.console.diagrams import Step, line_diagram, review_process
from tests.console.live_kit import (
    answering,
    closed_port,
    complete_task,
    instance,
    start,
    task_of,
)
from tests.console.ui import sign_in
from tests.e2e.harness import Laneway


def token_on(page: Page, element_id: str) -> Locator:
    return page.locator(f'.lw-token[data-element="{element_id}"]')


def test_an_open_instance_page_moves_its_token_when_a_task_is_completed_elsewhere(
        console: Laneway, page: Page) -> None:
    pid = unique_name("live").replace("-", "_")
    console.deploy(review_process(pid))
    iid = start(console, pid, {"applicant": "Ada"})
    base = console.public_url

    sign_in(page, base, "olga")
    page.goto(f"{base}/instances/{iid}")
    expect(token_on(page, "review")).to_have_text("1")
    expect(page.locator('[data-lane="case"] .lane-label')).to_have_text(
        "Case Worker — active — Review case")
    expect(page.locator('[data-lane="boss"] .lane-label')).to_have_text("Supervisor — waiting")
    expect(page.get_by_test_id("variables")).to_contain_text('"applicant": "Ada"')
    expect(page.get_by_test_id("live")).to_have_text("live")
    # a reload would lose this
    page.evaluate("window.__stillThisPage = 'yes'")

    task = task_of(console, iid, "review", "Case Worker")
    complete_task(console, task["taskId"], "carla", "Case Worker", {"note": "fine"})

    expect(token_on(page, "decide")).to_have_text("1")
    expect(token_on(page, "review")).to_have_count(0)
    expect(page.locator('[data-lane="boss"] .lane-label')).to_have_text(
        "Supervisor — active — Decide")
    expect(page.locator('[data-lane="case"] .lane-label')).to_have_text("Case Worker — waiting")
    # the path taken: the start, its flow and the reviewed task
    for done in ("submitted", "f_submitted_review", "review"):
        expect(page.locator(f'[data-element-id="{done}"]')).to_have_class(re.compile("lw-taken"))
    assert page.evaluate("window.__stillThisPage") == "yes", "the page was reloaded"
    # it moved by the live feed's events, each recorded for the benchmark
    live = wait_until(lambda: page.evaluate("window.__lanewayLive"), 10, 0.1, "live events shown")
    assert all(e["shownAt"] >= e["at"] > 0 and e["position"] for e in live), live
    # the variables the completion set show once the projection has them
    expect(page.get_by_test_id("variables")).to_contain_text('"note": "fine"')

    # the clicked element's attribute bag
    page.locator('[data-element-id="review"]').click()
    expect(page.get_by_test_id("element")).to_contain_text("laneway:slaMinutes")
    expect(page.get_by_test_id("element")).to_contain_text("60")


def test_an_incident_shows_on_its_element_and_an_operators_retry_resolves_it(
        console: Laneway, page: Page) -> None:
    pid = unique_name("incident").replace("-", "_")
    port = closed_port()
    console.deploy(line_diagram(pid, [
        Step("begin", "startEvent", "Begin"),
        Step("fetch", "serviceTask", "Fetch the record", attrs={
            "laneway:type": "http", "laneway:url": f"http://127.0.0.1:{port}/record",
            "laneway:retries": "1", "laneway:timeout": "PT5S"}),
        Step("end", "endEvent", "End"),
    ]))
    iid = start(console, pid)
    base = console.public_url

    sign_in(page, base, "olga")
    page.goto(f"{base}/instances/{iid}")
    incident = page.locator('.lw-incident-box[data-element="fetch"]')
    expect(incident).to_be_visible(timeout=30_000)
    expect(page.locator('[data-element-id="fetch"]')).to_have_class(re.compile("lw-incident"))
    expect(page.get_by_test_id("status")).to_have_text("INCIDENT")
    page.evaluate("window.__stillThisPage = 'yes'")

    with answering(port):
        incident.get_by_role("button", name="Retry").click()
        expect(page.get_by_test_id("status")).to_have_text("COMPLETED", timeout=30_000)
        expect(incident).to_have_count(0)
        expect(token_on(page, "fetch")).to_have_count(0)
        expect(page.locator('[data-element-id="end"]')).to_have_class(re.compile("lw-taken"))
    assert page.evaluate("window.__stillThisPage") == "yes", "the page was reloaded"
    # the projection says so too (the page may have shown it first, from the live feed)
    instance(console, iid, until=lambda i: i["status"] == "COMPLETED")


def test_a_person_without_the_operator_role_sees_the_incident_but_no_retry(
        console: Laneway, page: Page) -> None:
    pid = unique_name("noretry").replace("-", "_")
    console.deploy(line_diagram(pid, [
        Step("begin", "startEvent", "Begin"),
        Step("fetch", "serviceTask", "Fetch the record", attrs={
            "laneway:type": "http", "laneway:url": f"http://127.0.0.1:{closed_port()}/x",
            "laneway:retries": "1"}),
        Step("end", "endEvent", "End"),
    ]))
    iid = start(console, pid)
    instance(console, iid, until=lambda i: i["status"] == "INCIDENT")
    sign_in(page, console.public_url, "ida")
    page.goto(f"{console.public_url}/instances/{iid}")
    incident = page.locator('.lw-incident-box[data-element="fetch"]')
    expect(incident).to_contain_text("Incident")
    expect(incident.get_by_role("button", name="Retry")).to_have_count(0)


def test_the_search_lists_instances_by_process_and_status_and_opens_one(
        console: Laneway, page: Page) -> None:
    pid = unique_name("search").replace("-", "_")
    console.deploy(review_process(pid))
    ids = [start(console, pid) for _ in range(3)]
    base = console.public_url

    sign_in(page, base, "ida")
    page.goto(f"{base}/instances")
    page.get_by_label("Process id").fill(pid)
    page.get_by_label("Status").select_option("ACTIVE")
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_test_id("instances").locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(page.get_by_test_id("range")).to_have_text("1\N{EN DASH}3 of 3")
    assert sorted(rows.evaluate_all("(rs) => rs.map((r) => r.dataset.instance)")) == sorted(ids)
    assert f"processId={pid}" in page.url
    assert "status=ACTIVE" in page.url

    page.get_by_label("Status").select_option("COMPLETED")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No instance matches.")).to_be_visible()
    page.go_back()
    expect(rows).to_have_count(3)

    rows.first.get_by_role("link").click()
    expect(page.get_by_test_id("diagram")).to_be_visible()
    expect(page.locator(".lw-token")).to_have_count(1)


def test_the_instances_a_call_activity_started_are_one_click_away(
        console: Laneway, page: Page) -> None:
    child = unique_name("child").replace("-", "_")
    parent = unique_name("parent").replace("-", "_")
    console.deploy(review_process(child))
    console.deploy(line_diagram(parent, [
        Step("begin", "startEvent", "Begin"),
        Step("call", "callActivity", "Run the review", attrs={"calledElement": child}),
        Step("end", "endEvent", "End"),
    ]))
    iid = start(console, parent)
    instance(console, iid, until=lambda i: i["activeElements"] == ["call"])
    base = console.public_url

    sign_in(page, base, "olga")
    page.goto(f"{base}/instances/{iid}")
    expect(token_on(page, "call")).to_have_text("1")
    page.get_by_role("tab", name="Called instances").click()
    called = page.get_by_test_id("children").get_by_role("link", name="Run the review")
    expect(page.get_by_test_id("children")).to_contain_text("ACTIVE")
    called.click()
    expect(token_on(page, "review")).to_have_text("1")
    expect(page.get_by_role("heading", level=1)).to_contain_text(child)
    expect(page.get_by_role("link", name=iid)).to_be_visible()  # "called by" the parent
