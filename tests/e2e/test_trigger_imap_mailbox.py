"""The imap-mailbox trigger end to end: the example diagram deployed against a real Dovecot;
without credentials the schedule fails saying so; with them, a mail that arrives in the folder
starts exactly one instance with the mail's variables and the trigger's principal, its
attachment stored in the service's data directory, and the mail is moved after the start."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.stack.testing import unique_name, wait_until
from tests.e2e.harness import Laneway
from tests.e2e.trigger_kit import WITH_TRIGGERS, first_event, instances_of, wait_instances
from tests.e2e.trigger_kit import schedule_of as find_schedule
from tests.integration.imap_server import PASSWORDS, ImapServer, imap_server, message

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "triggers" / "imap-mailbox.bpmn"


@pytest.fixture
def lw(laneway: Any) -> Laneway:
    started: Laneway = laneway(WITH_TRIGGERS)
    return started


@pytest.fixture(scope="module")
def server() -> Iterator[ImapServer]:
    with imap_server() as running:
        yield running


def _schedule(lw: Laneway, schedule_id: str) -> dict[str, Any]:
    with lw.api() as api:
        response = api.get(f"/api/schedules/{schedule_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_a_mail_in_the_folder_starts_one_instance_and_is_moved(lw: Laneway,
                                                               server: ImapServer) -> None:
    folder, done = unique_name("Invoices"), unique_name("Processed")
    pid = unique_name("invoice_mail").replace("-", "_")
    with server.client("ada") as box:
        box.create(folder)
        box.append(folder, message(subject="An old invoice"))  # skip-existing: never starts
    # the example as it is, pointed at this Dovecot and polled every second
    xml = EXAMPLE.read_text().replace('id="invoice_mail"', f'id="{pid}"').replace(
        'processRef="invoice_mail"', f'processRef="{pid}"').replace(
        'laneway:port="10143"', f'laneway:port="{server.port}"').replace(
        'laneway:folder="INBOX"', f'laneway:folder="{folder}"').replace(
        'laneway:after="move:Processed"', f'laneway:after="move:{done}"').replace(
        'laneway:interval="PT1M"', 'laneway:interval="PT1S"')
    lw.deploy(xml.encode())
    schedule = find_schedule(lw, pid)
    assert schedule["type"] == "imap-mailbox"
    # as after `make up`: no credentials, a failing schedule that says what is missing
    wait_until(lambda: _schedule(lw, schedule["id"])["status"] == "failing", 30,
               message="the schedule failing without credentials")
    error = _schedule(lw, schedule["id"])["lastError"]
    assert "credentials to have username and password" in error, error
    with lw.api() as api:
        put = api.put(f"/api/schedules/{schedule['id']}/credentials",
                      json={"values": {"username": "ada", "password": PASSWORDS["ada"]}})
        assert put.status_code == 204, put.text
    # the first poll with them records where the folder is
    wait_until(lambda: (_schedule(lw, schedule["id"])["cursor"] or {}).get("uidValidity"), 30,
               message="the first poll's cursor")
    assert _schedule(lw, schedule["id"])["status"] == "active"
    with server.client("ada") as box:
        box.append(folder, message(
            subject="Invoice 7 from Acme", sender="Acme Billing <billing@acme.example>",
            text="Please find the invoice attached.", message_id="<inv-7@acme.example>",
            attachments=(("../invoice-7.pdf", b"%PDF-1.4 invoice 7", "application/pdf"),)))
    [instance] = wait_instances(lw, pid, 1)
    mail = instance["variables"]["mail"]
    assert mail["subject"] == "Invoice 7 from Acme"
    assert mail["from"] == "billing@acme.example"
    assert mail["fromName"] == "Acme Billing"
    assert mail["text"] == "Please find the invoice attached."
    assert mail["messageId"] == "<inv-7@acme.example>"
    [attachment] = mail["attachments"]
    assert attachment["name"] == "../invoice-7.pdf"
    stored = Path(attachment["path"])
    assert stored.name == "invoice-7.pdf"
    assert stored.read_bytes() == b"%PDF-1.4 invoice 7"
    assert stored.is_relative_to(lw.workdir / "triggers" / schedule["id"])
    event = first_event(lw, instance["instanceId"])
    assert event["principal"]["id"] == f"trigger:imap-mailbox:{schedule['id']}"
    assert event["value"]["trigger"]["dedupKey"] == "mid:<inv-7@acme.example>"
    assert event["value"]["trigger"]["item"]["subject"] == "Invoice 7 from Acme"
    # after the start the mail goes to the target folder (made by the trigger on TRYCREATE)

    def moved() -> bool:
        with server.client("ada") as box:
            return len(box.uids(folder)) == 1 and box.exists(done) and len(box.uids(done)) == 1

    wait_until(moved, 30, message="the started mail moved")
    # later polls start nothing more: exactly one instance, the old mail never started
    polled = _schedule(lw, schedule["id"])["lastPollAt"]
    wait_until(lambda: _schedule(lw, schedule["id"])["lastPollAt"] != polled, 30,
               message="another poll")
    assert len(instances_of(lw, pid)) == 1
    detail = _schedule(lw, schedule["id"])
    assert detail["firesTotal"] == 1
    assert PASSWORDS["ada"] not in json.dumps(detail)
