"""The audit timeline in Chromium against the real services: every record with its principal
in order, "Verify" green for an untouched log, and the replay slider showing the tokens of
the instance at the record it is moved to."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from scripts.stack.testing import unique_name, wait_until
from tests.auth import auth_header
from tests.console.diagrams import review_process
from tests.console.live_kit import complete_task, instance, start, task_of
from tests.console.ui import sign_in
from tests.e2e.harness import Laneway, history


def test_the_timeline_lists_principals_in_order_verifies_and_replays(
        console: Laneway, page: Page) -> None:
    pid = unique_name("audit").replace("-", "_")
    console.deploy(review_process(pid))
    iid = start(console, pid, user="applicant-ann")
    task = task_of(console, iid, "review", "Case Worker")
    complete_task(console, task["taskId"], "carla", "Case Worker")
    instance(console, iid, until=lambda i: i["activeElements"] == ["decide"])
    base = console.public_url
    # the projection above and the audit log are written by different consumers: the page
    # reads the log once, so it opens when the log holds the decision's task too
    with httpx.Client(base_url=base, timeout=10,
                      headers=auth_header("watcher", roles=["operator"])) as api:
        wait_until(lambda: sum(e["intent"] == "USER_TASK_CREATED"
                               for e in history(api, iid)) >= 2,
                   30, 0.1, "the audit log's second USER_TASK_CREATED")

    sign_in(page, base, "ida")
    page.goto(f"{base}/instances/{iid}/audit")
    log = page.get_by_test_id("audit-log")
    expect(log.locator("tbody tr td.intent", has_text="USER_TASK_CREATED")).to_have_count(2)
    rows = log.locator("tbody tr")
    seqs = rows.evaluate_all("(rs) => rs.map((r) => Number(r.dataset.seq))")
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    # who acted, in order: the applicant started it, the case worker completed the review
    people = [p for p in log.locator("td.principal .principal-id").all_inner_texts()
              if p in ("applicant-ann", "carla")]
    assert people[0] == "applicant-ann", people
    assert people[-1] == "carla", people
    assert people.index("carla") > people.index("applicant-ann")
    expect(log.locator("td.principal", has_text="carla").first).to_contain_text("(human)")

    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_test_id("verify-result")).to_contain_text("chain intact")

    # at the last record the token waits on the decision
    slider = page.get_by_test_id("replay")
    last = int(seqs[-1])
    expect(page.get_by_test_id("diagram")).to_have_attribute("data-replayed-to", str(last))
    expect(page.locator('.lw-token[data-element="decide"]')).to_have_text("1")
    expect(page.locator('.lw-token[data-element="review"]')).to_have_count(0)
    # moved (with the keyboard) back to the review's creation, the token is on the review
    creation = page.locator("td.intent", has_text="USER_TASK_CREATED")
    created = int(log.locator("tbody tr", has=creation).first.get_attribute("data-seq") or 0)
    slider.focus()
    page.keyboard.press("Home")
    for _ in range(created - 1):
        page.keyboard.press("ArrowRight")
    expect(slider).to_have_value(str(created))
    expect(page.get_by_test_id("diagram")).to_have_attribute("data-replayed-to", str(created))
    expect(page.locator('.lw-token[data-element="review"]')).to_have_text("1")
    expect(page.locator('.lw-token[data-element="decide"]')).to_have_count(0)
    expect(page.locator('[data-lane="case"] .lane-label')).to_have_text(
        "Case Worker — active — Review case")
    expect(page.get_by_test_id("replay-at")).to_contain_text(f"seq {created} of {last}")
    expect(log.locator(f'tr[data-seq="{created}"]')).to_have_class("EVENT replayed-to")


def test_the_timeline_is_for_auditors_and_operators(console: Laneway, page: Page) -> None:
    pid = unique_name("audit-no").replace("-", "_")
    console.deploy(review_process(pid))
    iid = start(console, pid, user="carla")
    sign_in(page, console.public_url, "carla")
    page.goto(f"{console.public_url}/instances/{iid}/audit")
    expect(page.get_by_role("alert")).to_contain_text("for auditors and operators")
