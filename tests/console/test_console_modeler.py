"""The modeler in the browser: what another tool wrote survives an edit and an export, and the
server's problems land on the elements they name, for a check and for a refused deploy."""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree
from playwright.sync_api import Locator, Page, expect

from laneway.bpmn import parse, validate
from laneway.triggers import declared_triggers
from tests.console.ui import sign_in
from tests.e2e.harness import Laneway

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ACME = "http://acme.example/schema/cost"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
LANEWAY = "http://laneway.dev/schema/1.0/bpmn"

DIAGRAMS = Path(__file__).parent / "bpmn"
"""costed.bpmn, as a vendor's tool writes it: attributes and elements of namespaces the
console does not know, Camunda 7's, and a Laneway attribute the panel has no field for (an http
header); undecided.bpmn: an exclusive gateway with two unconditional flows next to a
conditional one and no default, which `laneway validate` refuses; triggered.bpmn: message and
timer start events and a gateway with none of Laneway's attributes, and a message naming its
trigger under lw:."""


def import_file(page: Page, name: str) -> None:
    page.locator("#modeler-import").set_input_files(DIAGRAMS / name)
    expect(page.locator(".modeler-title")).to_have_text(name)


def test_a_foreign_namespace_survives_an_edit_and_an_export(
        console: Laneway, page: Page) -> None:
    sign_in(page, console.public_url, "ana", "/modeler")
    import_file(page, "costed.bpmn")
    # nothing to warn about: what the console does not know is kept, not a problem
    expect(page.locator(".modeler-status .notice")).to_have_count(0)
    page.locator('.djs-element[data-element-id="charge"]').click()
    # the panel reads Laneway's attribute whatever prefix binds the namespace (lw: here)
    expect(page.locator('[data-entry-id="laneway-type"] input')).to_have_value("http")
    expect(page.locator('[data-entry-id="laneway-url"] input')).to_be_visible()
    page.locator('[data-entry-id="laneway-retries"] input').fill("5")
    page.locator('[data-entry-id="laneway-url"] input').fill("https://pay.example/charge")
    page.locator('[data-entry-id="laneway-method"] select').select_option("POST")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export XML").click()
    assert download.value.suggested_filename == "costed.bpmn"
    root = etree.fromstring(Path(download.value.path()).read_bytes())
    process = root.find(f"{{{BPMN}}}process")
    assert process is not None
    task = process.find(f"{{{BPMN}}}serviceTask")
    assert task is not None
    # the edit is there, under the prefix the file used
    assert task.get(f"{{{LANEWAY}}}retries") == "5"
    assert task.get(f"{{{LANEWAY}}}url") == "https://pay.example/charge"
    assert task.get(f"{{{LANEWAY}}}method") == "POST"
    assert root.nsmap["lw"] == LANEWAY
    # and everything else as it was
    assert root.get(f"{{{ACME}}}exportedBy") == "Acme Studio 7"
    assert process.get(f"{{{ACME}}}costCenter") == "4711"
    assert task.get(f"{{{ACME}}}costCenter") == "0815"
    assert task.get(f"{{{CAMUNDA}}}asyncBefore") == "true"
    assert task.get(f"{{{LANEWAY}}}type") == "http"
    assert task.get(f"{{{LANEWAY}}}header.X-Tenant") == "acme"
    audit = task.find(f"{{{BPMN}}}extensionElements/{{{ACME}}}audit")
    assert audit is not None
    assert audit.get("level") == "high"
    assert audit.findtext(f"{{{ACME}}}note") == "keep me"


def test_check_and_a_refused_deploy_show_each_problem_on_its_element(
        console: Laneway, page: Page) -> None:
    sign_in(page, console.public_url, "ana", "/modeler")
    import_file(page, "undecided.bpmn")
    gateway = page.locator('.djs-element[data-element-id="which"]')

    page.get_by_role("button", name="Check").click()
    problem = page.locator('ul.problems li[data-element="which"]')
    expect(problem).to_contain_text("exclusive gateway has two outgoing flows without condition")
    expect(gateway).to_have_class(re.compile(r"\blw-problem\b"))
    expect(page.locator(".djs-overlay .lw-problem-count")).to_have_text("1")
    problem.get_by_role("button").click()
    expect(gateway).to_have_class(re.compile(r"\bselected\b"))
    expect(page.locator(".bio-properties-panel-header")).to_contain_text("Which way?")

    page.get_by_role("button", name="Deploy").click()
    expect(page.locator(".modeler-status [role=alert]")).to_contain_text("Deploy refused")
    expect(page.locator(".modeler-problems h2")).to_have_text("Deploy refused")
    expect(page.locator('ul.problems li[data-element="which"]')).to_contain_text(
        "exclusive gateway has two outgoing flows without condition")


def select(page: Page, element_id: str) -> None:
    """Select an element as a person does: a click on the canvas below the diagram first (the
    context pad of what was selected may cover the next element), then on the element."""
    canvas = page.locator(".modeler-canvas")
    box = canvas.bounding_box()
    assert box is not None
    canvas.click(position={"x": box["width"] / 2, "y": box["height"] - 20})
    shape = page.locator(f'.djs-element[data-element-id="{element_id}"]')
    if element_id.startswith("lane_"):
        shape.click(position={"x": 12, "y": 40})  # the lane's label band, not what it holds
    else:
        shape.click()
    expect(page.locator(".bio-properties-panel-header")).to_be_visible()


def field(page: Page, name: str) -> Locator:
    return page.locator(f'[data-entry-id="laneway-{name}"]').locator("input, select, textarea")


def test_what_the_laneway_group_writes_is_what_laneway_reads(console: Laneway, page: Page) -> None:
    sign_in(page, console.public_url, "ana", "/modeler")
    import_file(page, "fields.bpmn")
    select(page, "lane_clerks")
    field(page, "persona").fill("Clerk")
    select(page, "start")
    field(page, "form").fill("apply")
    select(page, "review")
    field(page, "form").fill("review-form")
    field(page, "assignee").fill("=owner")
    field(page, "candidateGroups").fill("clerks, seniors")
    field(page, "slaMinutes").fill("soon")
    expect(page.locator('[data-entry-id="laneway-slaMinutes"]')).to_contain_text(
        "A number greater than 0")
    field(page, "slaMinutes").fill("90")
    field(page, "escalationConnector").select_option("email")
    field(page, "to").fill("boss@example.org")  # shown once the connector is email
    select(page, "notify")
    field(page, "type").fill("email")
    field(page, "to").fill("{{ applicant.email }}")
    field(page, "retries").fill("4")
    field(page, "timeout").fill("PT1M")
    select(page, "sub")
    field(page, "calledElement").fill("child")
    select(page, "gw")
    field(page, "decision").select_option("handler")
    select(page, "wait")
    field(page, "subscription").fill("=orderId")
    field(page, "publishers").fill("Cashier")
    select(page, "done")
    field(page, "correlationKey").fill("=orderId")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export XML").click()
    # Laneway's own reader, as a deploy runs it
    defs = parse(Path(download.value.path()).read_bytes(), file="fields.bpmn")
    process = defs.processes[0]
    nodes = process.nodes
    assert process.lanes[0].persona == "Clerk"
    assert nodes["start"].form == "apply"
    review = nodes["review"]
    assert (review.form, review.assignee, review.candidate_groups, review.sla_minutes,
            review.escalation_connector) == ("review-form", "=owner", "clerks, seniors", "90",
                                             "email")
    assert review.attrs["laneway:to"] == "boss@example.org"
    notify = nodes["notify"]
    assert (notify.job_type, notify.job_retries) == ("email", "4")
    assert notify.attrs["laneway:to"] == "{{ applicant.email }}"
    assert notify.attrs["laneway:timeout"] == "PT1M"
    assert nodes["sub"].called_element == "child"
    assert nodes["gw"].decision_handler
    paid = defs.messages["msg_paid"]
    assert paid.correlation_key is not None
    assert paid.correlation_key.text == "orderId"
    assert paid.attrs["laneway:publishers"] == "Cashier"
    done = nodes["done"].correlation_key
    assert done is not None
    assert done.raw == "=orderId"
    assert validate(defs) == []


def test_a_known_connector_type_shows_the_form_its_element_template_gives(
        console: Laneway, page: Page) -> None:
    # the fields come from element-templates/ (laneway templates, from the slack connector's
    # declared attributes), bundled into the console: the same declaration the deploy checks
    sign_in(page, console.public_url, "ana", "/modeler")
    import_file(page, "fields.bpmn")
    select(page, "notify")
    field(page, "type").fill("slack")
    channel = page.locator('[data-entry-id="laneway-channel"]')
    expect(channel).to_contain_text("Channel")
    field(page, "channel").fill(" ")
    expect(channel).to_contain_text("Required")  # the template's notEmpty
    field(page, "channel").fill("#permits")
    field(page, "text").fill("Permit {{ id }} granted")
    field(page, "errorCodes").fill("channel_not_found")
    field(page, "retryBackoff").fill("soon")
    expect(page.locator('[data-entry-id="laneway-retryBackoff"]')).to_contain_text(
        "Must be an ISO 8601 duration")
    field(page, "retryBackoff").fill("PT2S")
    # a connector without one of these attributes does not show it
    expect(page.locator('[data-entry-id="laneway-url"]')).to_have_count(0)
    field(page, "type").fill("llm")
    field(page, "maxTokens").fill("many")
    expect(page.locator('[data-entry-id="laneway-maxTokens"]')).to_contain_text(
        "Must be a whole number")
    field(page, "maxTokens").fill("300")
    field(page, "prompt").fill("Summarise {{ request }}")
    field(page, "outputToVariables").select_option("true")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export XML").click()
    defs = parse(Path(download.value.path()).read_bytes(), file="fields.bpmn")
    attrs = defs.processes[0].nodes["notify"].attrs
    assert {k: v for k, v in attrs.items() if k.startswith("laneway:")} == {
        "laneway:type": "llm", "laneway:channel": "#permits",
        "laneway:text": "Permit {{ id }} granted", "laneway:errorCodes": "channel_not_found",
        "laneway:retryBackoff": "PT2S", "laneway:maxTokens": "300",
        "laneway:prompt": "Summarise {{ request }}", "laneway:outputToVariables": "true"}


def test_an_llm_decided_gateway_and_a_started_by_trigger_get_their_template_forms(
        console: Laneway, page: Page) -> None:
    # the gateway's decision offers the connector that can decide (llm) and then its template's
    # fields; a message start event offers the trigger types and then the chosen one's
    # template's fields, written on the start event as the template would; a timer start event
    # gets the timer template's
    sign_in(page, console.public_url, "ana", "/modeler")
    import_file(page, "triggered.bpmn")
    select(page, "route")
    expect(page.locator('[data-entry-id="laneway-prompt"]')).to_have_count(0)
    field(page, "decision").select_option("llm")
    field(page, "prompt").fill("Is {{ subject }} urgent?")
    field(page, "system").fill("You sort a mailbox.")
    field(page, "model").fill("claude-haiku-4-5")
    select(page, "hooked")
    expect(page.locator('[data-entry-id="laneway-signatureHeader"]')).to_have_count(0)
    field(page, "trigger").select_option("webhook")
    expect(page.locator('[data-entry-id="laneway-signatureHeader"]')).to_contain_text(
        "Signature header")
    field(page, "toleranceSeconds").fill("soon")
    expect(page.locator('[data-entry-id="laneway-toleranceSeconds"]')).to_contain_text(
        "Must be a whole number")
    field(page, "toleranceSeconds").fill("60")
    field(page, "variablesName").fill("call")
    select(page, "dropped")  # its message names the trigger: edited there, where it wins
    expect(field(page, "trigger")).to_have_value("folder")
    expect(field(page, "path")).to_have_value("/srv/in")
    field(page, "pattern").fill("*.pdf")
    select(page, "nightly")
    expect(page.locator('[data-entry-id="laneway-trigger"]')).to_have_count(0)
    field(page, "timezone").fill("Europe/Berlin")
    field(page, "missed").select_option("none")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export XML").click()
    xml = Path(download.value.path()).read_bytes()
    root = etree.fromstring(xml)

    def laneway_attrs(element_id: str) -> dict[str, str]:
        # by local name: the file binds Laneway's namespace to lw:, the console writes under it
        found = root.find(f".//*[@id='{element_id}']")
        assert found is not None
        return {etree.QName(k).localname: v for k, v in found.attrib.items()
                if etree.QName(k).namespace == LANEWAY}

    assert laneway_attrs("route") == {"decision": "llm", "prompt": "Is {{ subject }} urgent?",
                                      "system": "You sort a mailbox.",
                                      "model": "claude-haiku-4-5"}
    assert laneway_attrs("hooked") == {"trigger": "webhook", "toleranceSeconds": "60",
                                       "variablesName": "call"}
    assert laneway_attrs("dropped") == {}
    assert laneway_attrs("msg_drop") == {"trigger": "folder", "path": "/srv/in",
                                         "pattern": "*.pdf"}
    assert laneway_attrs("nightly") == {"timezone": "Europe/Berlin", "missed": "none"}
    defs = parse(xml, file="triggered.bpmn")
    route = defs.processes[0].nodes["route"]
    assert (route.decision_handler, route.decision_type) == (True, "llm")
    # as the triggers service reads them
    declared = {d.start_event_id: d for d in declared_triggers(defs)}
    assert (declared["hooked"].type, dict(declared["hooked"].settings)) == (
        "webhook", {"toleranceSeconds": "60", "variablesName": "call"})
    assert (declared["dropped"].type, dict(declared["dropped"].settings)) == (
        "folder", {"path": "/srv/in", "pattern": "*.pdf"})
    assert declared["nightly"].type == "timer"
    assert validate(defs) == []
