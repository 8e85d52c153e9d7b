"""The modeler in the browser: what another tool wrote survives an edit and an export, and the
server's problems land on the elements they name, for a check and for a refused deploy."""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree
from playwright.sync_api import Page, expect

from tests.console.modeling_kit import sign_in
from tests.e2e.harness import Laneway

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ACME = "http://acme.example/schema/cost"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
LANEWAY = "http://laneway.dev/schema/1.0/bpmn"

DIAGRAMS = Path(__file__).parent / "bpmn"
"""costed.bpmn, as a vendor's tool writes it: attributes and elements of namespaces the
console does not know, Camunda 7's, and a Laneway attribute the panel has no field for (an http
header); undecided.bpmn: an exclusive gateway with two unconditional flows and no default,
which `laneway validate` refuses."""


def import_file(page: Page, name: str) -> None:
    page.locator("#modeler-import").set_input_files(DIAGRAMS / name)
    expect(page.locator(".modeler-title")).to_have_text(name)


def test_a_foreign_namespace_survives_an_edit_and_an_export(
        console: Laneway, page: Page) -> None:
    sign_in(page, console.public_url, "ana", "/modeler")
    import_file(page, "costed.bpmn")
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
