"""The worklist and a task's page in Chromium, against the real services (issue 11, items 6
and 8): the permit from a citizen's public form through the case worker's review to the
supervisor's decision; the engine's refusal of the wrong person on screen; a form's field error
from the server on its field; the list updating itself, marking overdue tasks, sorting by due
date and paging, at 1280x800 and 390x844."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from scripts.stack.testing import wait_until
from tests.auth import ADMIN
from tests.console.conftest import ARTIFACTS, Mailbox
from tests.console.permit import APPLICATION, put_permit_in_force, tasks_of
from tests.console.ui import (
    PHONE,
    assert_fits_width,
    assert_labelled,
    focus_by_tab,
    sign_in,
)
from tests.e2e.harness import Laneway

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _row(page: Page, instance_id: str) -> Any:
    return page.locator(f'tr[data-task-id^="{instance_id}:"]')


def test_a_permit_from_the_public_form_through_the_worklist(
        console: Laneway, page: Page, mailbox: tuple[Mailbox, str]) -> None:
    base = console.public_url
    permit = put_permit_in_force(base)

    # carla's worklist is open before the application arrives
    sign_in(page, base, "carla", f"/tasks?process={permit.process_id}")
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    expect(page.get_by_test_id("task-count")).to_have_text("No tasks match.")
    page.evaluate("window.__notReloaded = true")

    # a citizen fills in the public form in another tab: the server's field error first
    citizen = page.context.new_page()
    citizen.goto(f"{base}/forms/{permit.process_id}")
    expect(citizen.get_by_role("heading", name="Building permit application")).to_be_visible()
    citizen.get_by_label("Name").fill(APPLICATION["applicant"]["name"])
    citizen.get_by_label("Address").fill(APPLICATION["address"])
    citizen.get_by_label("Description").fill(APPLICATION["description"])
    citizen.get_by_role("button", name="Submit").click()
    email = citizen.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()
    expect(citizen.locator(".field", has=email).locator(".field-error")).to_contain_text(
        "Expected 'email', but it is missing")
    email.fill(APPLICATION["applicant"]["email"])
    citizen.get_by_role("button", name="Submit").click()
    reference = citizen.get_by_test_id("reference")
    expect(reference).to_have_text(UUID)
    instance_id = reference.inner_text().strip()

    # an operator watches the instance: the token moves from lane to lane on this page by
    # itself (the live feed), while carla and sam work in theirs
    watcher = page.context.new_page()
    sign_in(watcher, base, "olga", f"/instances/{instance_id}")
    watcher.evaluate("window.__watching = true")
    case_worker = watcher.locator('li.lane-strip[data-lane="lane_case_worker"]')
    supervisor = watcher.locator('li.lane-strip[data-lane="lane_supervisor"]')
    expect(case_worker).to_contain_text("Case Worker — active — Review application",
                                        timeout=30_000)
    expect(supervisor).to_contain_text("Supervisor — waiting")

    # the review task shows up in carla's list by itself (no reload)
    row = _row(page, instance_id)
    expect(row).to_be_visible(timeout=30_000)
    assert page.evaluate("window.__notReloaded === true"), "the worklist page was reloaded"
    expect(row).to_contain_text("Review application")
    expect(row).to_contain_text("open")
    task_id = row.get_attribute("data-task-id")
    assert task_id is not None

    # sam's list does not offer it; sent a link to it, he cannot see it, and his request to
    # claim it is refused on screen with the engine's reason and its type
    sam = page.context.new_page()
    sign_in(sam, base, "sam", f"/tasks?process={permit.process_id}")
    expect(sam.get_by_test_id("task-count")).to_have_text("No tasks match.")
    sam.goto(f"{base}/tasks/{task_id}")
    expect(sam.get_by_role("heading", name="Not in your worklist")).to_be_visible()
    sam.get_by_role("button", name="Ask to claim it").click()
    refusal = sam.get_by_test_id("refusal")
    expect(refusal).to_contain_text("Refused")
    expect(refusal).to_contain_text("FORBIDDEN")
    expect(refusal).to_contain_text("sam")

    # carla opens the task: its facts, its form
    row.get_by_role("link", name="Review application").click()
    expect(page).to_have_url(re.compile(f"/tasks/{re.escape(task_id)}$"))
    expect(page.get_by_role("heading", name="Review application")).to_be_visible()
    expect(page.get_by_test_id("instance-link")).to_have_attribute(
        "href", f"/instances/{instance_id}")
    expect(page.locator("dl.facts").first).to_contain_text("Case Worker")
    expect(page.get_by_role("heading", name="Review of a permit application")).to_be_visible()
    assert_labelled(page.locator(".task-form"))

    # she claims it; then the application is hers to read
    page.get_by_role("button", name="Claim").click()
    expect(page.get_by_test_id("task-status")).to_contain_text("You hold this task now")
    expect(page.get_by_role("button", name="Unclaim")).to_be_focused()
    expect(page.locator("section.case")).to_contain_text("Ada Lovelace")

    # no recommendation chosen: the server's field error on the field
    page.get_by_role("button", name="Complete").click()
    recommendation = page.get_by_label("Recommendation")
    expect(recommendation).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field", has=recommendation).locator(".field-error")).to_contain_text(
        "Expected 'recommendation', but it is missing")
    recommendation.select_option(label="approve")
    page.get_by_label("Notes").fill("Complete and in order.")
    page.get_by_role("button", name="Complete").click()
    expect(page.get_by_role("status").filter(
        has_text="Completed “Review application”")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/tasks$"))
    review = next(t for t in tasks_of(base, instance_id) if t["elementId"] == "review_application")
    assert review["state"] == "completed"
    assert review["completedBy"]["id"] == "carla"
    assert review["result"] == {"recommendation": "approve", "notes": "Complete and in order."}

    # the watching page followed: the supervisor's lane has the token now
    expect(supervisor).to_contain_text("Supervisor — active — Decide on the permit",
                                       timeout=30_000)
    expect(case_worker).to_contain_text("Case Worker — waiting")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # the README's picture of a live instance
    watcher.screenshot(path=str(ARTIFACTS / "permit-live-instance.png"), full_page=True)

    # sam's worklist shows the decision; he decides
    sam.get_by_role("navigation", name="Main").get_by_role("link", name="Worklist").click()
    decision = _row(sam, instance_id)
    expect(decision).to_contain_text("Decide on the permit", timeout=30_000)
    decision.get_by_role("link", name="Decide on the permit").click()
    expect(sam.get_by_role("heading", name="Decision on a permit")).to_be_visible()
    sam.get_by_label("Approved").check()
    sam.get_by_label("Reason").fill("Meets the zoning plan.")
    sam.get_by_role("button", name="Complete").click()
    expect(sam.get_by_role("status").filter(
        has_text="Completed “Decide on the permit”")).to_be_visible()
    decided = next(t for t in tasks_of(base, instance_id) if t["elementId"] == "decide_permit")
    assert decided["state"] == "completed"
    assert decided["completedBy"]["id"] == "sam"
    assert decided["result"] == {"approved": True, "reason": "Meets the zoning plan."}

    # the permit went to the citizen by e-mail (the local SMTP server)
    box = mailbox[0]
    wait_until(lambda: any("ada@example.org" in m.rcpt_tos for m in box.messages), 30, 0.1,
               "the permit's e-mail")

    # the watching page saw the end without being reloaded
    expect(watcher.get_by_test_id("status")).to_contain_text("COMPLETED", timeout=30_000)
    assert watcher.evaluate("window.__watching === true"), "the instance page was reloaded"

    # an auditor reads the timeline: the principals in order, and the chain verifies. The page
    # reads the log once; the audit sink writes a moment after the engine (docs/audit.md), so
    # the page is opened once the log holds the e-mail connector's completion
    def logged() -> bool:
        history = httpx.get(f"{base}/api/instances/{instance_id}/history",
                            params={"limit": 1000}, headers=ADMIN, timeout=10)
        return history.status_code == 200 and any(
            e["principal"]["id"] == "connector:email" for e in history.json()["events"])

    wait_until(logged, 30, 0.2, "the e-mail connector's step in the audit log")
    auditor = page.context.new_page()
    sign_in(auditor, base, "ida", f"/instances/{instance_id}/audit")
    log = auditor.get_by_test_id("audit-log")
    expect(log.locator("tbody tr").first).to_be_visible(timeout=30_000)
    expect(log).to_contain_text("connector:email", timeout=30_000)
    principals = [p.strip() for p in log.locator(".principal-id").all_inner_texts()]
    people = [p for p in principals if p in {"anonymous", "carla", "sam"}]
    turns = [p for n, p in enumerate(people) if n == 0 or people[n - 1] != p]
    # the citizen, sam's refused claim, carla's review, sam's decision
    assert turns == ["anonymous", "sam", "carla", "sam"], principals
    auditor.get_by_role("button", name="Verify").click()
    expect(auditor.get_by_test_id("verify-result")).to_contain_text("chain intact")


QUEUE = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
             xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" id="d" targetNamespace="t">
  <process id="{pid}" isExecutable="true">
    <laneSet id="ls">
      <lane id="desk" name="Desk" laneway:persona="Case Worker">
        <flowNodeRef>s</flowNodeRef><flowNodeRef>check</flowNodeRef><flowNodeRef>e</flowNodeRef>
      </lane>
    </laneSet>
    <startEvent id="s"/>
    <userTask id="check" name="{name}" laneway:slaMinutes="{sla}"/>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="check"/>
    <sequenceFlow id="f2" sourceRef="check" targetRef="e"/>
  </process>
</definitions>"""


def _queue(console: Laneway, name: str, sla: str, instances: int) -> str:
    """A one-task process in carla's lane, deployed, with `instances` started; its id."""
    pid = f"q_{name.lower().replace(' ', '_')}_{uuid.uuid4().hex[:10]}"
    console.deploy(QUEUE.format(pid=pid, name=name, sla=sla).encode(), name=f"{pid}.bpmn")
    with httpx.Client(base_url=console.public_url, timeout=30, headers=ADMIN) as api:
        for n in range(instances):
            started = api.post("/api/instances", json={"processId": pid, "variables": {"n": n}})
            assert started.status_code == 201, started.text
    return pid


def _task_count(base: str, pid: str) -> int:
    got = httpx.get(f"{base}/api/tasks", params={"scope": "all", "processId": pid},
                    headers=ADMIN, timeout=30)
    return int(got.json()["count"]) if got.status_code == 200 else 0


def _due_times(page: Page) -> list[datetime | None]:
    cells: list[str | None] = page.locator("table.tasks tbody tr").evaluate_all(
        "(rows) => rows.map((r) => r.querySelector('.due time')?.getAttribute('datetime') ?? null)")
    return [datetime.fromisoformat(c.replace("Z", "+00:00")) if c else None for c in cells]


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_worklist_marks_overdue_sorts_by_due_date_and_pages(
        console: Laneway, page: Page, viewport: str) -> None:
    base = console.public_url
    if viewport == "phone":
        page.set_viewport_size(PHONE)
    late = _queue(console, "Late check", "0.01", 1)  # due 0.6 s after it is created
    many = _queue(console, "Routine check", "600", 21)
    wait_until(lambda: _task_count(base, many) == 21 and _task_count(base, late) == 1, 60,
               message="the worklist projected the 22 tasks")

    # paging: 21 tasks, 20 a page
    sign_in(page, base, "carla", f"/tasks?process={many}")
    expect(page.get_by_test_id("task-count")).to_have_text("21 tasks; showing 1\u201320.")
    expect(page.locator("table.tasks tbody tr")).to_have_count(20)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_test_id("task-count")).to_have_text("21 tasks; showing 21\u201321.")
    expect(page.locator("table.tasks tbody tr")).to_have_count(1)
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    assert "page=2" in page.url
    if viewport == "phone":
        assert_fits_width(page)

    # overdue: marked with a word, not only a colour; the filter keeps only overdue tasks
    page.goto(f"{base}/tasks?process={late}")
    row = page.locator("table.tasks tbody tr")
    expect(row.get_by_test_id("overdue")).to_have_text(re.compile("Overdue"), timeout=30_000)
    page.goto(f"{base}/tasks")
    expect(page.locator('table.tasks tbody tr:has-text("Routine check")').first).to_be_visible()
    page.get_by_label("Overdue only").check()
    expect(page).to_have_url(re.compile(r"overdue=1"))
    expect(page.locator('table.tasks tbody tr:has-text("Routine check")')).to_have_count(0)
    expect(page.locator('table.tasks tbody tr:has-text("Late check")').first).to_be_visible()
    rows = page.locator("table.tasks tbody tr")
    assert rows.count() == rows.get_by_test_id("overdue").count()
    page.get_by_label("Overdue only").uncheck()

    # sorting by due date: soonest first (tasks without one last), and the other way round
    page.get_by_label("Sort by").select_option("due-asc")
    expect(page.locator('table.tasks tbody tr:has-text("Routine check")').first).to_be_visible()
    dues = _due_times(page)
    dated = [d for d in dues if d is not None]
    assert dated == sorted(dated), dues
    assert dues[:len(dated)] == dated, dues  # those without a due date last
    page.get_by_label("Sort by").select_option("due-desc")
    expect(page).to_have_url(re.compile(r"sort=due-desc"))
    expect(page.locator("table.tasks tbody tr").first).not_to_contain_text("Late check")
    dues = _due_times(page)
    dated = [d for d in dues if d is not None]
    assert dated == sorted(dated, reverse=True), dues

    # the filters are labelled and reached with the keyboard, the focus visible
    assert_labelled(page.locator("form.filters"))
    focus_by_tab(page, page.get_by_label("State"))
    if viewport == "phone":
        assert_fits_width(page)
