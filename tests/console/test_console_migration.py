"""The migration screen and a batch's progress page, in Chromium against a whole Laneway
(docs/console.md, "Migration"): two versions of a process deployed, an operator migrates one
instance from its page (refused first, with the engine's reason beside the button, then done
once the renamed task is mapped), then every running instance of version 1 as a batch, whose
page counts what was done and refused (with the reason) and reads again until nothing is
pending.

Setup (deploying, starting, moving a token) goes through the API; the migrations go through
the browser, and the audit's projection (read through the API) says where each instance runs.
"""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from scripts.stack.testing import unique_name
from tests.auth import auth_header
from tests.console.diagrams import Step, line_diagram
from tests.console.live_kit import instance, start
from tests.console.ui import sign_in
from tests.e2e.harness import Laneway

OPERATOR = auth_header("setup-olga", roles=["operator"])


def _v1(pid: str) -> bytes:
    return line_diagram(pid, [Step("s", "startEvent", "Begin"),
                              Step("review", "userTask", "Review"),
                              Step("extra", "userTask", "Extra"),
                              Step("e", "endEvent", "End")])


def _v2(pid: str) -> bytes:
    """`review` is `check` now, `extra` is gone, `archive` follows."""
    return line_diagram(pid, [Step("s", "startEvent", "Begin"),
                              Step("check", "userTask", "Check"),
                              Step("archive", "userTask", "Archive"),
                              Step("e", "endEvent", "End")])


def _on(console: Laneway, iid: str, version: int, element: str) -> None:
    instance(console, iid, until=lambda i: i["version"] == version
             and element in i["activeElements"])


def test_an_operator_migrates_one_instance_then_a_batch_and_follows_its_progress(
        console: Laneway, page: Page) -> None:
    pid = unique_name("mig").replace("-", "_")
    console.deploy(_v1(pid))
    first, second, moved = (start(console, pid) for _ in range(3))
    console.deploy(_v2(pid))
    base = console.public_url
    r = httpx.post(f"{base}/api/instances/{moved}/modification", headers=OPERATOR, timeout=30,
                   json={"instructions": [{"type": "MOVE", "fromElementId": "review",
                                           "elementId": "extra"}]})
    assert r.status_code == 202, r.text
    for iid in (first, second):
        _on(console, iid, 1, "review")
    _on(console, moved, 1, "extra")

    # one instance, from its page: the mapping is prefilled where the ids are the same
    sign_in(page, base, "olga")
    page.goto(f"{base}/instances/{first}")
    page.get_by_test_id("op-migrate").click()
    expect(page.get_by_test_id("migrate-target")).to_have_value("2")
    expect(page.get_by_test_id("scope-one")).to_be_checked()
    expect(page.locator('input[data-source="s"]')).to_have_value("s")
    expect(page.locator('input[data-source="review"]')).to_have_value("")
    # sent as it is, the engine refuses: the task holding the token maps to nothing
    page.get_by_test_id("migrate-submit").click()
    outcome = page.get_by_test_id("migrate-outcome")
    expect(outcome).to_have_attribute("data-state", "REFUSED", timeout=30_000)
    expect(outcome).to_contain_text("'review'")
    expect(outcome).to_contain_text("maps to no element of version 2")
    expect(outcome).to_contain_text("INVALID_STATE")
    instance(console, first, until=lambda i: i["version"] == 1)
    # mapped to the renamed task, it migrates
    page.locator('input[data-source="review"]').fill("check")
    page.get_by_test_id("migrate-submit").click()
    expect(outcome).to_have_attribute("data-state", "DONE", timeout=30_000)
    expect(outcome).to_contain_text("migrated to version 2")
    _on(console, first, 2, "check")

    # every running instance of version 1, from the version's page, as a batch
    page.goto(f"{base}/definitions/{pid}/1")
    page.get_by_test_id("migrate-version").click()
    expect(page.get_by_test_id("scope-one")).to_have_count(0)
    expect(page.get_by_test_id("scope-all")).to_be_checked()
    page.locator('input[data-source="review"]').fill("check")
    page.get_by_test_id("migrate-submit").click()
    expect(page.get_by_test_id("batch-total")).to_have_text("2", timeout=15_000)
    # it reads again until every instance answered
    expect(page.get_by_test_id("batch-pending")).to_have_text("0", timeout=30_000)
    expect(page.get_by_test_id("batch-done")).to_have_text("1")
    expect(page.get_by_test_id("batch-refused")).to_have_text("1")
    expect(page.get_by_test_id("batch-state")).to_have_text("Every instance answered.")
    refused = page.locator(f'[data-testid="batch-item"][data-instance="{moved}"]')
    expect(refused).to_have_attribute("data-state", "REFUSED")
    expect(refused).to_contain_text("'extra'")
    expect(refused).to_contain_text("maps to no element of version 2")
    expect(page.locator(f'[data-testid="batch-item"][data-instance="{second}"]')
           ).to_have_attribute("data-state", "DONE")
    assert "/migrations/" in page.url
    _on(console, second, 2, "check")
    _on(console, moved, 1, "extra")


def test_the_migration_screen_is_for_operators(console: Laneway, page: Page) -> None:
    pid = unique_name("nomig").replace("-", "_")
    console.deploy(_v1(pid))
    iid = start(console, pid)
    sign_in(page, console.public_url, "ida")
    page.goto(f"{console.public_url}/instances/{iid}")
    expect(page.get_by_test_id("status")).to_have_text("ACTIVE")
    expect(page.get_by_test_id("op-migrate")).to_have_count(0)
    page.goto(f"{console.public_url}/migrate/{pid}/1?instance={iid}")
    expect(page.get_by_role("alert")).to_contain_text("needs the role operator")
    expect(page.get_by_test_id("migrate-form")).to_have_count(0)
