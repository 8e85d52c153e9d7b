"""The schedules page in Chromium against a whole Laneway with the triggers service: an operator
sees a timer's and a webhook's schedules, pauses, resumes and fires the timer and follows the
instance it started, copies the webhook's URL and sets its secret (which the page never shows
and the API then lists by name only, and which signs a call that starts an instance); a modeler
reads both but has no controls; someone without a reading role has no entry; without a key the
credentials form shows the service's reason.

Setup (deploying) goes through the API; what is under test goes through the browser."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from laneway.triggers.builtin.webhook import sign
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from tests.auth import signing_key
from tests.console.conftest import ARTIFACTS
from tests.console.diagrams import Step, line_diagram
from tests.console.ui import PHONE, assert_fits_width, assert_labelled, sign_in
from tests.e2e.harness import Laneway
from tests.e2e.trigger_kit import schedule_of, triggered, untriggered

TIMER = ("<bpmn:timerEventDefinition><bpmn:timeCycle>R/PT1H</bpmn:timeCycle>"
         "</bpmn:timerEventDefinition>")

def timer_process(pid: str) -> bytes:
    """Every hour (nothing is due during a test unless fired by hand), drawn: the instance page
    shows its diagram."""
    return line_diagram(pid, [Step("hourly", "startEvent", "Every hour", inner=TIMER),
                              Step("done", "endEvent", "Done")])


def hook_process(pid: str) -> bytes:
    return triggered(pid, "webhook", start="call", user_task=True, variablesName="order")


@pytest.fixture(scope="module")
def schedules(console: Laneway) -> dict[str, dict[str, Any]]:
    """A timer's and a webhook's schedule, made by the triggers service from the versions."""
    timer_pid = unique_name("hourly").replace("-", "_")
    hook_pid = unique_name("orders").replace("-", "_")
    console.deploy(timer_process(timer_pid))
    console.deploy(hook_process(hook_pid))
    return {"timer": schedule_of(console, timer_pid), "hook": schedule_of(console, hook_pid)}


def row(page: Page, schedule: dict[str, Any]) -> Any:
    return page.locator(f'tr[data-schedule="{schedule["id"]}"]')


def test_an_operator_pauses_resumes_and_fires_a_timer_and_follows_the_instance(
        console: Laneway, schedules: dict[str, dict[str, Any]], page: Page) -> None:
    timer, hook = schedules["timer"], schedules["hook"]
    base = console.public_url
    sign_in(page, base, "olga")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Schedules").click()
    expect(page.get_by_role("heading", name="Schedules")).to_be_visible()
    expect(row(page, timer)).to_contain_text(timer["processId"])
    expect(row(page, timer).locator(".badge")).to_have_text("active")
    expect(row(page, timer)).to_contain_text("timer")
    expect(row(page, hook)).to_contain_text("webhook")
    expect(row(page, hook)).to_contain_text("called, not polled")
    assert_labelled(page.locator("form.filters"))

    # the filters: by type at once, by process from the address
    page.get_by_label("Type").select_option("webhook")
    expect(row(page, timer)).to_have_count(0)
    expect(row(page, hook)).to_be_visible()
    assert "type=webhook" in page.url
    page.goto(f"{base}/schedules?processId={timer['processId']}")
    expect(page.locator("tr[data-schedule]")).to_have_count(1)
    expect(row(page, timer)).to_be_visible()

    row(page, timer).get_by_role("link", name="hourly").click()
    expect(page).to_have_url(f"{base}/schedules/{timer['id']}")
    status = page.get_by_test_id("status")
    expect(status).to_have_text("active")
    expect(page.get_by_test_id("timer")).to_have_text("R/PT1H")
    expect(page.get_by_test_id("facts")).to_contain_text("timeCycle")

    page.get_by_role("button", name="Pause").click()
    expect(status).to_have_text("paused")
    expect(page.get_by_role("status").filter(has_text="Paused")).to_be_visible()
    with console.api() as api:
        assert api.get(f"/api/schedules/{timer['id']}").json()["status"] == "paused"
    page.get_by_role("button", name="Resume").click()
    expect(status).to_have_text("active")
    expect(page.get_by_role("button", name="Pause")).to_be_visible()

    page.get_by_role("button", name="Fire now").click()
    fired = page.get_by_test_id("fired")
    expect(fired).to_contain_text("1 instance started")
    link = fired.get_by_role("link")
    instance_id = link.inner_text()
    fires = page.get_by_test_id("fires")
    expect(fires.locator("tr[data-dedup^='manual:']")).to_contain_text("olga")
    expect(fires).to_contain_text(instance_id[:8])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-schedules.png"))

    link.click()
    expect(page).to_have_url(f"{base}/instances/{instance_id}")
    expect(page.get_by_test_id("status")).to_have_text("COMPLETED")

    # the process's version page links to its schedules
    page.goto(f"{base}/definitions/{timer['processId']}/{timer['version']}")
    page.get_by_test_id("schedules-link").get_by_role("link", name="Schedules").click()
    expect(page).to_have_url(f"{base}/schedules?processId={timer['processId']}")
    expect(page.locator("tr[data-schedule]")).to_have_count(1)


def test_an_operator_sets_a_webhooks_secret_that_the_page_never_shows(
        console: Laneway, schedules: dict[str, dict[str, Any]], page: Page) -> None:
    hook = schedules["hook"]
    base = console.public_url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    sign_in(page, base, "olga", f"/schedules/{hook['id']}")
    url = page.get_by_test_id("hook-url")
    expect(url).to_have_value(f"{base}/api/hooks/{hook['id']}")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == f"{base}/api/hooks/{hook['id']}"
    expect(page.get_by_test_id("credential-names")).to_have_text("None set.")
    expect(page.get_by_role("button", name="Fire now")).to_have_count(0)  # a webhook is called
    form = page.locator("form.credentials-form")
    assert_labelled(form)

    secret = "s3cret-" + unique_name("hook")
    form.get_by_label("Name").fill("secret")
    form.get_by_label("Value").fill(secret)
    assert form.get_by_label("Value").get_attribute("type") == "password"
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved: secret")).to_be_visible()
    expect(page.get_by_test_id("credential-names")).to_have_text("Set: secret")
    # the name comes back for the next save, the value never does
    expect(form.get_by_label("Name")).to_have_value("secret")
    expect(form.get_by_label("Value")).to_have_value("")
    assert secret not in page.content()
    assert not page.evaluate(
        "(s) => [...document.querySelectorAll('input')].some((i) => i.value.includes(s))", secret)
    with console.api() as api:
        shown = api.get(f"/api/schedules/{hook['id']}").json()
    assert shown["credentialNames"] == ["secret"]
    assert secret not in json.dumps(shown)

    # what the form sent is the secret a partner signs with: a signed call starts an instance
    body = json.dumps({"n": 1}).encode()
    stamp = str(int(time.time()))
    answer = httpx.post(f"{base}{hook['hookPath']}", content=body, timeout=15, headers={
        "Content-Type": "application/json", "X-Laneway-Timestamp": stamp,
        "X-Laneway-Signature": sign(secret, stamp, body), "X-Laneway-Delivery": "d-1"})
    assert answer.status_code == 202, answer.text
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_test_id("fires").locator("tr[data-dedup='delivery:d-1']")).to_contain_text(
        answer.json()["instanceId"][:8])

    # a row without its value is refused here, before anything is sent
    form.get_by_label("Name").fill("secret")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Give each credential a name and a value")

    # on a phone the page fits the screen
    page.set_viewport_size(PHONE)
    assert_fits_width(page)
    page.goto(f"{base}/schedules")
    expect(row(page, hook)).to_be_visible()
    assert_fits_width(page)


def test_a_modeler_reads_schedules_without_controls_and_others_have_no_entry(
        console: Laneway, schedules: dict[str, dict[str, Any]], page: Page) -> None:
    timer, hook = schedules["timer"], schedules["hook"]
    base = console.public_url
    sign_in(page, base, "ana", "/schedules")
    expect(row(page, timer)).to_be_visible()
    expect(row(page, hook)).to_be_visible()
    for schedule in (timer, hook):
        row(page, schedule).get_by_role("link").click()
        expect(page.get_by_test_id("status")).to_have_text("active")
        expect(page.get_by_role("heading", name="Settings")).to_be_visible()
        expect(page.get_by_role("heading", name="Credentials")).to_be_visible()
        for name in ("Pause", "Resume", "Fire now", "Save", "Add a credential"):
            expect(page.get_by_role("button", name=name)).to_have_count(0)
        expect(page.locator("input[type=password]")).to_have_count(0)
        page.go_back()
    page.goto(f"{base}/schedules/{hook['id']}")
    expect(page.get_by_test_id("hook-url")).to_have_value(f"{base}/api/hooks/{hook['id']}")

    # a case worker reads no schedules: no entry, and the address shows the server's refusal
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, base, "carla")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Definitions")).to_be_visible()
    expect(nav.get_by_role("link", name="Schedules")).to_have_count(0)
    page.goto(f"{base}/schedules")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("tr[data-schedule]")).to_have_count(0)


def test_a_failing_schedule_shows_its_error_and_a_retired_one_shows_only_when_asked(
        console: Laneway, page: Page) -> None:
    # a mailbox without credentials fails at its first poll, before any network
    failing_pid = unique_name("mail").replace("-", "_")
    console.deploy(triggered(failing_pid, "imap-mailbox", start="mail", host="127.0.0.1",
                             port="1", tls="none", interval="PT1S"))
    failing = schedule_of(console, failing_pid)
    # a version without the timer retires its schedule
    retired_pid = unique_name("gone").replace("-", "_")
    console.deploy(timer_process(retired_pid))
    retired = schedule_of(console, retired_pid)
    console.deploy(untriggered(retired_pid), name="gone.bpmn")

    def status_of(schedule: dict[str, Any]) -> str:
        with console.api() as api:
            return str(api.get(f"/api/schedules/{schedule['id']}").json()["status"])

    wait_until(lambda: status_of(failing) == "failing", 30, message="the mailbox failing")
    wait_until(lambda: status_of(retired) == "retired", 30, message="the timer retired")

    base = console.public_url
    sign_in(page, base, "olga", "/schedules")
    expect(row(page, failing).locator(".badge")).to_have_text("failing")
    expect(row(page, failing).locator(".schedule-error")).to_contain_text("username and password")
    expect(row(page, retired)).to_have_count(0)
    page.get_by_label("Include retired").check()
    expect(row(page, retired).locator(".badge")).to_have_text("retired")
    assert "includeRetired=1" in page.url

    row(page, retired).get_by_role("link").click()
    expect(page.get_by_test_id("status")).to_have_text("retired")
    expect(page.get_by_text("A retired schedule")).to_be_visible()
    for name in ("Pause", "Resume", "Fire now"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)

    page.goto(f"{base}/schedules/{failing['id']}")
    expect(page.get_by_test_id("status")).to_have_text("failing")
    expect(page.get_by_test_id("errors")).to_contain_text("username and password")
    expect(page.get_by_test_id("facts")).to_contain_text("Failures in a row")


@pytest.fixture
def keyless(stack: Connections, tmp_path: Path) -> Iterator[Laneway]:
    """A small Laneway (definitions, triggers, the edge) whose key for credentials is too
    short: setting credentials answers 409."""
    lw = Laneway(bootstrap=stack.kafka_bootstrap_servers, database_url=stack.database_url,
                 redis_url=stack.redis_url, workdir=tmp_path, services=("definitions", "triggers"),
                 env_overrides={"LANEWAY_DEV_SIGNIN": "1",
                                "LANEWAY_DEV_KEY_FILE": str(signing_key()),
                                "LANEWAY_SECRET_TRIGGERS_CREDENTIALS_KEY": "short"})
    lw.start()
    yield lw
    lw.close()


def test_without_a_key_the_credentials_form_shows_the_services_reason(
        keyless: Laneway, page: Page) -> None:
    pid = unique_name("nokey").replace("-", "_")
    keyless.deploy(hook_process(pid))
    hook = schedule_of(keyless, pid)
    sign_in(page, keyless.public_url, "olga", f"/schedules/{hook['id']}")
    form = page.locator("form.credentials-form")
    form.get_by_label("Name").fill("secret")
    form.get_by_label("Value").fill(unique_name("never-stored"))
    form.get_by_role("button", name="Save").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Not saved")
    expect(alert).to_contain_text("triggers_credentials_key")
    expect(form.get_by_label("Value")).to_have_value("")
    expect(page.get_by_test_id("credential-names")).to_have_text("None set.")
