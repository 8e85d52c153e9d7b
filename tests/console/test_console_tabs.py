"""Many instance tabs: a hidden tab lets its live stream go and opens it again when shown.

A browser keeps at most 6 HTTP/1.1 connections to one origin and each open stream holds one,
so without this a seventh instance tab (and every other request of the console) would wait
for a connection forever.
"""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from tests.console.diagrams import review_process
from tests.console.live_kit import complete_task, start, task_of
from tests.console.ui import sign_in
from tests.e2e.harness import Laneway

TABS = 7
HIDE = """() => {
  Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  Object.defineProperty(document, "visibilityState", {value: "visible", configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_hidden_instance_tabs_free_their_connections(console: Laneway, page: Page) -> None:
    pid = f"tabs_{uuid.uuid4().hex[:10]}"
    console.deploy(review_process(pid), name=f"{pid}.bpmn")
    ids = [start(console, pid) for _ in range(TABS)]
    tabs = [page]
    for _ in range(TABS - 1):
        tabs.append(page.context.new_page())
    for tab, iid in zip(tabs, ids, strict=True):
        sign_in(tab, console.public_url, "olga", f"/instances/{iid}")
        expect(tab.get_by_test_id("live")).to_have_text("live")
        tab.evaluate(HIDE)  # the person moves on to the next tab
        expect(tab.get_by_test_id("live")).to_have_text("paused (tab hidden)")

    # shown again, the last tab follows its instance live: the task completed elsewhere
    last, iid = tabs[-1], ids[-1]
    last.evaluate("window.__notReloaded = true")
    last.evaluate(SHOW)
    expect(last.get_by_test_id("live")).to_have_text("live")
    task = task_of(console, iid, "review", "Case Worker")
    complete_task(console, task["taskId"], "carla", "Case Worker", {})
    strip = last.locator('li.lane-strip[data-lane="boss"]')
    expect(strip).to_contain_text("active — Decide", timeout=30_000)
    assert last.evaluate("window.__notReloaded === true")
