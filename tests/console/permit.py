"""examples/permit put in force for one test, through the API: under a process id and form ids
of its own (the console's tests share one Laneway per module, and a form id is global), so a
test sees only its own tasks and its own rate-limit bucket on the public form.

    permit = put_permit_in_force(console.public_url)
    page.goto(f"{console.public_url}/forms/{permit.process_id}")
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.auth import ADMIN
from tests.lifecycle import AUTHOR, authorize

__all__ = ["APPLICATION", "EXAMPLE", "Permit", "put_permit_in_force", "tasks_of"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "permit"

APPLICATION = {"applicant": {"name": "Ada Lovelace", "email": "ada@example.org"},
               "address": "12 Analytical Lane", "description": "A garden shed of 9 m2"}
"""A submission the permit's start form accepts."""


@dataclass(frozen=True)
class Permit:
    """The permit process as deployed for one test."""

    process_id: str
    version: int
    forms: dict[str, str]
    """The example's form ids (`permit-review`) and the ids they were uploaded under."""


def permit_with_forms(base_url: str, headers: dict[str, str]
                      ) -> tuple[str, str, dict[str, str]]:
    """The permit under a fresh process id, its forms uploaded (with `headers`) under fresh
    ids the XML names: (process id, XML, {example's form id: uploaded id})."""
    tag = uuid.uuid4().hex[:10]
    process_id = f"permit_{tag}"
    xml = (EXAMPLE / "permit.bpmn").read_text(encoding="utf-8")
    for old in ('id="permit"', 'processRef="permit"'):
        assert xml.count(old) == 1, f"examples/permit/permit.bpmn changed: {old} is not once"
        xml = xml.replace(old, old.replace('"permit"', f'"{process_id}"'))
    forms: dict[str, str] = {}
    with httpx.Client(base_url=base_url, timeout=30) as api:
        for path in sorted((EXAMPLE / "forms").glob("*.json")):
            form_id = f"{path.stem}-{tag}"
            attribute = f'laneway:form="{path.stem}"'
            assert attribute in xml, f"permit.bpmn does not name the form {path.stem}"
            xml = xml.replace(attribute, f'laneway:form="{form_id}"')
            put = api.put(f"/api/form-schemas/{form_id}", content=path.read_bytes(),
                          headers={**headers, "Content-Type": "application/json"})
            assert put.status_code in (200, 201), put.text
            forms[path.stem] = form_id
    return process_id, xml, forms


def put_permit_in_force(base_url: str) -> Permit:
    """Upload the permit's forms and deploy its diagram under fresh ids (as a modeler), then
    take the version to AUTHORIZED (another person approves)."""
    process_id, xml, forms = permit_with_forms(base_url, AUTHOR)
    with httpx.Client(base_url=base_url, timeout=30) as api:
        deployed = api.post("/api/definitions", content=xml.encode(), headers={
            **AUTHOR, "Content-Type": "application/xml", "X-File-Name": "permit.bpmn"})
        assert deployed.status_code in (200, 201), deployed.text
        version = int(deployed.json()["deployed"][0]["version"])
        authorize(api, process_id, version)
    return Permit(process_id, version, forms)


def tasks_of(base_url: str, instance_id: str) -> list[dict[str, Any]]:
    """Every task of an instance as the worklist projects it (read as an admin)."""
    got = httpx.get(f"{base_url}/api/tasks", params={"scope": "all", "instanceId": instance_id},
                    headers=ADMIN, timeout=30)
    assert got.status_code == 200, got.text
    return list(got.json()["items"])
