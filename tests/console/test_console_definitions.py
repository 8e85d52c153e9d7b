"""The definitions pages in the browser. The permit from the modeler to a running instance: a
modeler imports examples/permit, gives a lane another persona in the properties panel, checks
and deploys it (a DRAFT); the author's own approval is refused on screen with the server's
reason; a second person approves with a persona per lane, a third authorizes; the start form
shows the server's field error, then the new instance opens. A version without a start form
starts with JSON variables; home names what each role can do and the instances one takes
part in."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from scripts.stack.testing import wait_until
from tests.console.modeling_kit import modeler_headers, permit_file
from tests.console.ui import sign_in
from tests.e2e.harness import Laneway
from tests.lifecycle import AUTHOR, authorize

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def state_is(page: Page, state: str) -> None:
    expect(page.get_by_test_id("state")).to_have_text(state)


def test_a_permit_goes_from_the_modeler_through_four_eyes_to_a_started_instance(
        console: Laneway, page: Page, tmp_path: Path) -> None:
    base = console.public_url
    permit = permit_file(base, tmp_path)
    pid = permit.process_id

    # admin holds every role, so it may deploy, and is the author whose approval is refused
    sign_in(page, base, "admin", "/modeler")
    page.locator("#modeler-import").set_input_files(permit.path)
    lane = page.locator('.djs-element[data-element-id="lane_supervisor"]')
    lane.click(position={"x": 12, "y": 60})  # the lane's label band, not the task inside it
    persona = page.locator('[data-entry-id="laneway-persona"] input')
    expect(persona).to_have_value("Supervisor")
    persona.fill("Permit Supervisor")
    page.get_by_role("button", name="Check").click()
    expect(page.locator(".modeler-problems")).to_contain_text("No problems")
    page.get_by_role("button", name="Deploy").click()
    deployed = page.get_by_test_id("deployed")
    expect(deployed).to_contain_text(f"{pid} version 1 — a new DRAFT")
    stored = httpx.get(f"{base}/api/definitions/{pid}/versions/1/xml", headers=modeler_headers())
    assert 'laneway:persona="Permit Supervisor"' in stored.text

    deployed.get_by_role("link").click()
    state_is(page, "DRAFT")
    expect(page.locator("main")).to_contain_text("deployed by admin")
    page.get_by_label("Comment").fill("ready for review")
    page.get_by_role("button", name="Submit for review").click()
    state_is(page, "REVIEW")
    # the author holds the reviewer role: the button is there, the server refuses (four eyes)
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".lifecycle-outcome [role=alert]")).to_contain_text(
        "Expected someone other than the author for REVIEW -> APPROVED, but 'admin' deployed "
        "this version")
    state_is(page, "REVIEW")

    # rita reviews: a persona for each lane that holds a user task, the diagram's filled in
    sign_in(page, base, "rita", f"/definitions/{pid}/1")
    state_is(page, "REVIEW")
    lanes = page.locator("fieldset.personas input")
    expect(lanes).to_have_count(2)
    expect(page.locator("#persona-lane_case_worker")).to_have_value("Case Worker")
    expect(page.locator("#persona-lane_supervisor")).to_have_value("Permit Supervisor")
    page.locator("#persona-lane_supervisor").fill("Supervisor")
    page.get_by_label("Comment").fill("personas checked")
    expect(page.get_by_role("button", name="Authorize")).to_have_count(0)  # not her role
    page.get_by_role("button", name="Approve").click()
    state_is(page, "APPROVED")
    expect(page.locator("main .notice.ok")).to_contain_text("lane_supervisor → Supervisor")

    # ben authorizes, and starts it with its start form
    sign_in(page, base, "ben", f"/definitions/{pid}/1")
    page.get_by_role("button", name="Authorize").click()
    state_is(page, "AUTHORIZED")
    history = page.locator("table.history tbody tr")
    expect(history).to_have_count(4)
    for row, (who, comment) in enumerate([("admin", ""), ("admin", "ready for review"),
                                          ("rita", "personas checked"), ("ben", "")]):
        expect(history.nth(row).locator("td").nth(1)).to_have_text(who)
        expect(history.nth(row).locator("td").nth(3)).to_have_text(comment)

    start = page.locator(".start-process")
    expect(start).to_contain_text(permit.forms["permit-application"])
    start.get_by_label("Name").fill("Ada Lovelace")
    start.get_by_label("Email").fill("Ada Lovelace <ada@example.org>")
    start.get_by_label("Address").fill("12 Analytical Lane")
    start.get_by_label("Description").fill("A garden shed")
    start.get_by_role("button", name="Start process").click()
    email_error = start.locator(".field-error").filter(has_text="e-mail address")
    expect(email_error).to_be_visible()
    expect(start.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    assert re.search(rf"/definitions/{pid}/1$", page.url)

    start.get_by_label("Email").fill("ada@example.org")
    start.get_by_role("button", name="Start process").click()
    expect(page).to_have_url(re.compile(rf"/instances/{UUID}$"))


NO_FORM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
    targetNamespace="http://laneway.dev/test">
  <bpmn:process id="{pid}" name="No form" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def test_without_a_start_form_a_version_starts_with_json_variables_and_home_lists_it(
        console: Laneway, page: Page) -> None:
    base = console.public_url
    pid = f"noform_{uuid.uuid4().hex[:10]}"
    deployed = httpx.post(f"{base}/api/definitions", content=NO_FORM.format(pid=pid).encode(),
                          headers={**AUTHOR, "Content-Type": "application/xml"}, timeout=30)
    assert deployed.status_code == 201, deployed.text
    authorize(base, pid, 1)

    # carla holds no role: no lifecycle step, but anyone signed in may start
    sign_in(page, base, "carla", f"/definitions/{pid}/1")
    state_is(page, "AUTHORIZED")
    expect(page.locator(".lifecycle")).to_contain_text("Your roles allow no step")
    expect(page.locator(".lifecycle button")).to_have_count(0)
    variables = page.get_by_label("Variables (a JSON object)")
    variables.fill("[1, 2]")
    page.get_by_role("button", name="Start process").click()
    expect(page.locator("#start-variables-error")).to_have_text(
        'Expected a JSON object, such as {"amount": 1500}.')
    variables.fill('{"amount": 1500}')
    page.get_by_role("button", name="Start process").click()
    expect(page).to_have_url(re.compile(rf"/instances/{UUID}$"))
    instance_id = page.url.rsplit("/", 1)[1]

    # she started it, so she takes part: her home lists it once the projection has it
    def listed() -> bool:
        page.goto(f"{base}/")
        recent = page.locator(".recent")
        expect(recent).not_to_contain_text("Loading")
        return recent.locator(f'a[href="/instances/{instance_id}"]').count() == 1

    wait_until(listed, timeout=30, interval=0.5, message=f"{instance_id} on carla's home")
    expect(page.locator(".can")).not_to_contain_text("Modeler")


def test_home_names_what_each_role_can_do(console: Laneway, page: Page) -> None:
    sign_in(page, console.public_url, "ana", "/")
    can = page.locator(".can")
    expect(can.get_by_role("link", name="Modeler")).to_be_visible()
    expect(can).not_to_contain_text("Authorize:")
    sign_in(page, console.public_url, "ben", "/")
    expect(can).to_contain_text("Review: approve versions in REVIEW")
    expect(can).to_contain_text("Authorize: put APPROVED versions into production")
    expect(can.get_by_role("link", name="Modeler")).to_have_count(0)
