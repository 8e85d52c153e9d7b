"""An operator's operations on the live instance page, in Chromium against the real services
(docs/instance-operations.md): set a variable, move a token, activate and terminate an element
from the diagram, and cancel the instance; a person without the role sees none of them.

Setup (deploying, starting) goes through the API; what is under test goes through the browser,
and the engine's own records (read through the API) say each operation happened as the
operator."""

from __future__ import annotations

import httpx
from playwright.sync_api import Locator, Page, expect

from scripts.stack.testing import unique_name, wait_until
from tests.auth import auth_header
from tests.console.diagrams import Step, line_diagram
from tests.console.live_kit import instance, start
from tests.console.ui import sign_in
from tests.e2e.harness import Laneway


def token_on(page: Page, element_id: str) -> Locator:
    return page.locator(f'.lw-token[data-element="{element_id}"]')


def _steps(pid: str) -> bytes:
    return line_diagram(pid, [
        Step("begin", "startEvent", "Begin"),
        Step("a", "userTask", "Collect"),
        Step("b", "userTask", "Check"),
        Step("c", "userTask", "Approve"),
        Step("end", "endEvent", "End"),
    ])


def _history(console: Laneway, iid: str) -> list[dict[str, object]]:
    r = httpx.get(f"{console.public_url}/api/instances/{iid}/history", timeout=10,
                  headers=auth_header("audrey", roles=["auditor"]))
    assert r.status_code == 200, r.text
    events: list[dict[str, object]] = r.json()["events"]
    return events


def test_an_operator_sets_a_variable_moves_activates_terminates_and_cancels(
        console: Laneway, page: Page) -> None:
    pid = unique_name("ops").replace("-", "_")
    console.deploy(_steps(pid))
    iid = start(console, pid)
    base = console.public_url

    sign_in(page, base, "olga")
    page.goto(f"{base}/instances/{iid}")
    expect(token_on(page, "a")).to_have_text("1")

    # a variable, its value read as JSON
    page.get_by_test_id("var-name").fill("limit")
    page.get_by_test_id("var-value").fill("42")
    page.get_by_test_id("set-variable").get_by_role("button", name="Set").click()
    expect(page.get_by_test_id("variables")).to_contain_text('"limit": 42')

    # move the token from a to c, picked on the diagram
    page.locator('[data-element-id="c"]').click()
    ops = page.get_by_test_id("operations")
    expect(ops.get_by_test_id("op-move-from")).to_have_value("a")
    ops.get_by_test_id("op-move").click()
    expect(token_on(page, "c")).to_have_text("1")
    expect(token_on(page, "a")).to_have_count(0)

    # activate b beside it, then terminate it again
    page.locator('[data-element-id="b"]').click()
    page.get_by_test_id("operations").get_by_test_id("op-activate").click()
    expect(token_on(page, "b")).to_have_text("1")
    page.get_by_test_id("operations").get_by_test_id("op-terminate").click()
    expect(token_on(page, "b")).to_have_count(0)
    expect(token_on(page, "c")).to_have_text("1")

    # cancel: the second click confirms
    page.get_by_test_id("op-cancel").click()
    page.get_by_role("button", name="Confirm: cancel instance").click()
    expect(page.get_by_test_id("status")).to_have_text("TERMINATED", timeout=30_000)
    expect(page.get_by_test_id("op-cancel")).to_be_hidden()
    instance(console, iid, until=lambda i: i["status"] == "TERMINATED")

    # the audit log has each operation, as olga
    events = wait_until(lambda: (lambda ev: ev if any(
        e["intent"] == "ELEMENT_TERMINATED" and e["elementType"] == "process" for e in ev)
        else None)(_history(console, iid)), 30, 0.2, "the cancel in the history")
    mine = [(e["intent"], e["elementId"]) for e in events
            if (e.get("principal") or {}).get("id") == "olga"]
    assert ("VARIABLES_UPDATED", pid) in mine
    assert [i for i, _ in mine].count("INSTANCE_MODIFIED") == 3
    assert ("ELEMENT_ACTIVATED", "c") in mine
    assert ("ELEMENT_TERMINATED", "a") in mine
    assert ("ELEMENT_TERMINATED", "b") in mine


def test_a_person_without_the_operator_role_gets_no_operations(
        console: Laneway, page: Page) -> None:
    pid = unique_name("noops").replace("-", "_")
    console.deploy(_steps(pid))
    iid = start(console, pid)
    sign_in(page, console.public_url, "ida")
    page.goto(f"{console.public_url}/instances/{iid}")
    expect(token_on(page, "a")).to_have_text("1")
    page.locator('[data-element-id="b"]').click()
    expect(page.get_by_test_id("element")).to_be_visible()
    expect(page.get_by_test_id("operations")).to_have_count(0)
    expect(page.get_by_test_id("op-cancel")).to_have_count(0)
    page.get_by_role("tab", name="Variables").click()
    expect(page.get_by_test_id("set-variable")).to_have_count(0)
