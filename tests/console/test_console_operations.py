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
    # the engine's answer, read by the command's id, beside the form
    expect(page.get_by_test_id("var-outcome")).to_have_attribute("data-state", "DONE")
    expect(page.get_by_test_id("var-outcome")).to_have_text("Done: limit set.")

    # move the token from a to c, picked on the diagram
    page.locator('[data-element-id="c"]').click()
    ops = page.get_by_test_id("operations")
    expect(ops.get_by_test_id("op-move-from")).to_have_value("a")
    ops.get_by_test_id("op-move").click()
    expect(token_on(page, "c")).to_have_text("1")
    expect(token_on(page, "a")).to_have_count(0)
    expect(page.get_by_test_id("op-outcome")).to_have_text("Done: moved from Collect to Approve.")

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
    expect(page.get_by_test_id("cancel-outcome")).to_have_attribute("data-state", "DONE")
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


def _with_boundary(pid: str) -> bytes:
    """The steps with a timer boundary event on `a` (drawn on its lower edge)."""
    xml = _steps(pid).decode()
    event = ('<bpmn:boundaryEvent id="late" name="Late" attachedToRef="a">'
             "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration>"
             "</bpmn:timerEventDefinition></bpmn:boundaryEvent>")
    shape = ('<bpmndi:BPMNShape id="late_di" bpmnElement="late">'
             '<dc:Bounds x="382" y="132" width="36" height="36"/></bpmndi:BPMNShape>')
    return (xml.replace("</bpmn:process>", event + "</bpmn:process>")
            .replace("</bpmndi:BPMNPlane>", shape + "</bpmndi:BPMNPlane>").encode())


def test_an_operation_the_engine_refuses_shows_its_reason_beside_the_control(
        console: Laneway, page: Page) -> None:
    pid = unique_name("opsno").replace("-", "_")
    console.deploy(_with_boundary(pid))
    iid = start(console, pid)
    base = console.public_url
    sign_in(page, base, "olga")
    page.goto(f"{base}/instances/{iid}")
    expect(token_on(page, "a")).to_have_text("1")

    # a boundary event starts with its activity's event: the API takes the command (202),
    # the engine refuses it, and the page shows the engine's reason where it was asked
    page.locator('[data-element-id="late"]').click()
    expect(page.get_by_test_id("element")).to_have_attribute("data-element", "late")
    page.get_by_test_id("operations").get_by_test_id("op-activate").click()
    outcome = page.get_by_test_id("op-outcome")
    expect(outcome).to_have_attribute("data-state", "REFUSED", timeout=30_000)
    expect(outcome).to_contain_text("Refused by the engine")
    expect(outcome).to_contain_text("'late' is a boundary event")
    expect(outcome).to_contain_text("(INVALID_ARGUMENT)")
    # nothing changed: the token is still on a, and the refusal is in the log as olga's
    expect(token_on(page, "a")).to_have_text("1")
    refusal = wait_until(lambda: next((e for e in _history(console, iid)
                                       if e["kind"] == "REJECTION"), None),
                         30, 0.2, "the rejection in the history")
    assert refusal["intent"] == "MODIFY_INSTANCE"
    assert (refusal.get("principal") or {}).get("id") == "olga"  # type: ignore[union-attr]

    # the next operation's answer replaces it: b activated
    page.locator('[data-element-id="b"]').click()
    page.get_by_test_id("operations").get_by_test_id("op-activate").click()
    expect(page.get_by_test_id("op-outcome")).to_have_attribute("data-state", "DONE",
                                                                timeout=30_000)
    expect(page.get_by_test_id("op-outcome")).to_have_text("Done: Check activated.")
    expect(token_on(page, "b")).to_have_text("1")


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
