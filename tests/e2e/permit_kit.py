"""The permit example's pieces shared by the end-to-end tests that run it through the public
API (test_permit.py, test_traces_jaeger.py): its people, the application, a plain SMTP catcher
for the approval e-mail, and putting the procedure in force (four eyes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from tests.auth import auth_header
from tests.ports import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "permit"
SERVICES = ("engine", "definitions", "worklist", "connectors", "audit")

# the three people of the story, and the two who put the procedure in force
CITIZEN = auth_header("ada", personas=["Citizen"])
CASE_WORKER = auth_header("carla", personas=["Case Worker"])
SUPERVISOR = auth_header("sam", personas=["Supervisor"])
MODELER = auth_header("ana", roles=["modeler"])
APPROVER = auth_header("ben", roles=["reviewer", "authorizer"])
AUDITOR = auth_header("ida", roles=["auditor"])

APPLICATION = {"applicant": {"name": "Ada Lovelace", "email": "ada@example.org"},
               "address": "12 Analytical Lane", "description": "A garden shed of 9 m2"}


@dataclass
class Mailbox:
    """What the SMTP server accepted: (recipients, raw message)."""

    messages: list[tuple[list[str], bytes]] = field(default_factory=list)

    # aiosmtpd looks the hook up by this name
    async def handle_DATA(self, server: SMTPServer, session: Session,
                          envelope: Envelope) -> str:
        content = envelope.content or b""
        self.messages.append((list(envelope.rcpt_tos),
                              content if isinstance(content, bytes) else content.encode()))
        return "250 OK"


@contextmanager
def smtp_catcher() -> Iterator[tuple[Mailbox, str]]:
    """A plain SMTP server on a free port: its mailbox and the `LANEWAY_SECRET_SMTP` URL the
    e-mail connector sends through."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, f"smtp://127.0.0.1:{port}?from=permits%40city.example"
    finally:
        controller.stop()


def ok(response: httpx.Response, *codes: int) -> Any:
    """The answer's JSON (None when empty), once its status is one of `codes` (200)."""
    assert response.status_code in (codes or (200,)), (
        f"{response.request.method} {response.request.url.path}: "
        f"{response.status_code} {response.text}")
    return response.json() if response.content else None


def put_in_force(api: httpx.Client) -> int:
    """Forms uploaded and the diagram deployed by the modeler, approved and authorized by
    another person; the version."""
    for form in sorted((EXAMPLE / "forms").glob("*.json")):
        ok(api.put(f"/api/form-schemas/{form.stem}", content=form.read_bytes(),
                   headers={**MODELER, "Content-Type": "application/json"}), 200, 201)
    deployed = ok(api.post("/api/definitions", content=(EXAMPLE / "permit.bpmn").read_bytes(),
                           headers={**MODELER, "Content-Type": "application/xml",
                                    "X-File-Name": "permit.bpmn"}), 200, 201)
    version = int(deployed["deployed"][0]["version"])
    path = f"/api/definitions/permit/versions/{version}/transitions"
    # four eyes: the author may not approve their own procedure
    ok(api.post(path, json={"to": "REVIEW", "comment": "ready"}, headers=MODELER))
    own = api.post(path, json={"to": "APPROVED"}, headers=MODELER)
    assert own.status_code == 403, own.text
    ok(api.post(path, json={"to": "APPROVED", "comment": "four eyes"}, headers=APPROVER))
    ok(api.post(path, json={"to": "AUTHORIZED"}, headers=APPROVER))
    return version
