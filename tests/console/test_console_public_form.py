"""The public start form (/forms/{processId}) in Chromium, against the real services (issue
11, item 8): no sign-in, labelled fields reached with the keyboard, the server's field errors
on the fields, the reference to quote, at 390x844 and 1280x800; the rate limit's 429 as a wait
counted down, after which the same form goes through."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from scripts.stack.testing import wait_until
from tests.auth import ADMIN
from tests.console.permit import APPLICATION, put_permit_in_force
from tests.console.ui import DESKTOP, PHONE, assert_fits_width, assert_labelled, focus_by_tab
from tests.e2e.harness import Laneway

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _instance(base: str, instance_id: str) -> dict[str, object] | None:
    got = httpx.get(f"{base}/api/instances/{instance_id}", headers=ADMIN, timeout=30)
    return dict(got.json()) if got.status_code == 200 else None


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_citizen_applies_on_the_public_form(console: Laneway, page: Page,
                                              viewport: str) -> None:
    base = console.public_url
    permit = put_permit_in_force(base)
    page.set_viewport_size(PHONE if viewport == "phone" else DESKTOP)
    page.goto(f"{base}/forms/{permit.process_id}")
    expect(page.get_by_role("heading", name="Building permit application")).to_be_visible()
    form = page.locator("form")
    assert_labelled(form)
    assert_fits_width(page)

    # with the keyboard alone: Tab reaches the first field, its focus drawn
    name = page.get_by_label("Name")
    focus_by_tab(page, name)
    page.keyboard.type(APPLICATION["applicant"]["name"])
    page.keyboard.press("Tab")
    page.keyboard.type("ada at home")  # into Email: not an address
    page.get_by_label("Address").fill(APPLICATION["address"])
    page.get_by_label("Description").fill(APPLICATION["description"])
    page.get_by_role("button", name="Submit").click()

    # the server's word on the field, and the focus taken there
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()
    expect(page.locator(".field", has=email).locator(".field-error")).to_contain_text(
        "Expected one e-mail address")
    expect(page.get_by_test_id("form-status")).to_contain_text("Please correct the fields")
    assert_fits_width(page)

    email.fill(APPLICATION["applicant"]["email"])
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_focused()
    reference = page.get_by_test_id("reference")
    expect(reference).to_have_text(UUID)
    assert_fits_width(page)

    # the reference is the instance the engine started, with what the citizen typed
    instance = wait_until(lambda: _instance(base, reference.inner_text().strip()), 60,
                          message="the instance of the reference")
    assert instance["processId"] == permit.process_id
    assert instance["variables"] == APPLICATION


def test_a_rate_limited_citizen_is_told_when_to_send_again(console: Laneway, page: Page) -> None:
    base = console.public_url
    permit = put_permit_in_force(base)
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/forms/{permit.process_id}")
    page.get_by_label("Name").fill(APPLICATION["applicant"]["name"])
    page.get_by_label("Email").fill(APPLICATION["applicant"]["email"])
    page.get_by_label("Address").fill(APPLICATION["address"])
    page.get_by_label("Description").fill(APPLICATION["description"])

    # the same address (this machine) used up the process's bucket just before
    with httpx.Client(base_url=base, timeout=30) as api:
        for _ in range(200):
            if api.post(f"/api/forms/{permit.process_id}", json={}).status_code == 429:
                break
        else:
            raise AssertionError("200 submissions and the public form never said 429")

    submit = page.get_by_role("form").get_by_role("button")
    submit.click()
    said = page.get_by_test_id("rate-limited")
    expect(said).to_contain_text("Too many submissions")
    expect(said).to_contain_text(re.compile(r"You can send it again in \d+ seconds?\."))
    expect(submit).to_be_disabled()
    expect(submit).to_have_text(re.compile(r"Wait \d+ s"))
    assert_fits_width(page)

    # once the wait is over the button comes back, and what was typed is still there
    expect(submit).to_be_enabled(timeout=30_000)
    expect(submit).to_have_text("Submit")
    expect(page.get_by_label("Email")).to_have_value(APPLICATION["applicant"]["email"])
    submit.click()
    expect(page.get_by_test_id("reference")).to_have_text(UUID)


def test_a_form_that_is_not_open_says_so(console: Laneway, page: Page) -> None:
    page.goto(f"{console.public_url}/forms/no_such_process_anywhere")
    expect(page.get_by_role("heading", name="This form is not open")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("AUTHORIZED")
