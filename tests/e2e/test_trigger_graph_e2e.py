"""The graph-mailbox and sharepoint-folder triggers end to end: each example, pointed at a local
server that answers as Microsoft Graph and the identity platform (tests/graph_server.py), is
deployed and AUTHORIZED; without credentials its schedule fails naming them; with them the
first poll only records where things are, and then a new message (a new file, a new version of
it) starts exactly one instance with its variables and the trigger's principal; a message read
later starts nothing more."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.stack.testing import unique_name, wait_until
from tests.e2e.harness import Laneway
from tests.e2e.trigger_kit import (
    WITH_TRIGGERS,
    first_event,
    instances_of,
    schedule_of,
    wait_instances,
)
from tests.graph_server import GraphServer, graph_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "triggers"
USER = "invoices@contoso.example"
DRIVE = "b!RmluYW5jZURvY3M"
SITE = "contoso.sharepoint.com,6f2b8c4e-1111-4222-8333-944445555666," \
       "7a3c9d5f-2222-4333-9444-a55556666777"


@pytest.fixture
def lw(laneway: Any) -> Laneway:
    started: Laneway = laneway(WITH_TRIGGERS)
    return started


@pytest.fixture
def server() -> Iterator[GraphServer]:
    with graph_server() as srv:
        yield srv


def _example(name: str, process: str, pid: str, server: GraphServer) -> bytes:
    """The example as shipped, under its own process id, asking this server every second."""
    xml = (EXAMPLES / name).read_text()
    trigger = f'laneway:trigger="{name.removesuffix(".bpmn")}"'
    for shipped in (f'id="{process}"', f'processRef="{process}"', trigger):
        assert shipped in xml, shipped
    assert 'laneway:interval="PT' in xml
    return xml.replace(f'id="{process}"', f'id="{pid}"').replace(
        f'processRef="{process}"', f'processRef="{pid}"').replace(
        trigger, f'{trigger} laneway:graphUrl="{server.graph_url}" '
                 f'laneway:authorityUrl="{server.url}"').replace(
        'laneway:interval="PT1M"', 'laneway:interval="PT1S"').replace(
        'laneway:interval="PT2M"', 'laneway:interval="PT1S"').encode()


def _detail(lw: Laneway, schedule_id: str) -> dict[str, Any]:
    with lw.api() as api:
        response = api.get(f"/api/schedules/{schedule_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _credentials_set_after_failing(lw: Laneway, schedule: dict[str, Any],
                                   server: GraphServer) -> None:
    """As after `make up`: failing, naming the missing credentials; then an operator sets
    them and the first poll records where things are."""
    wait_until(lambda: _detail(lw, schedule["id"])["status"] == "failing", 30,
               message="the schedule failing without credentials")
    error = _detail(lw, schedule["id"])["lastError"]
    assert "credentials tenantId, clientId, clientSecret" in error, error
    assert server.seen == []  # nothing asked without them
    with lw.api() as api:
        put = api.put(f"/api/schedules/{schedule['id']}/credentials",
                      json={"values": server.credentials()})
        assert put.status_code == 204, put.text
    wait_until(lambda: (_detail(lw, schedule["id"])["cursor"] or {}).get("mode") == "fire", 30,
               message="the first poll's cursor")
    detail = _detail(lw, schedule["id"])
    assert detail["status"] == "active", detail
    assert detail["firesTotal"] == 0, detail


def _more_polls(lw: Laneway, schedule_id: str, server: GraphServer, path: str) -> None:
    seen = len(server.graph_requests(path))
    wait_until(lambda: len(server.graph_requests(path)) >= seen + 3, 30,
               message="three more polls")


def test_a_new_mail_starts_one_instance_and_reading_it_starts_none(
        lw: Laneway, server: GraphServer) -> None:
    server.add_message(USER, "inbox", "An old invoice", received="2026-01-05T08:00:00Z")
    pid = unique_name("invoice_mail").replace("-", "_")
    lw.deploy(_example("graph-mailbox.bpmn", "invoice_graph_mail", pid, server),
              name="graph-mailbox.bpmn")
    schedule = schedule_of(lw, pid)
    assert schedule["type"] == "graph-mailbox"
    _credentials_set_after_failing(lw, schedule, server)

    # when an invoice and a mail about lunch arrive (the example wants "invoice" subjects)
    mid = server.add_message(USER, "inbox", "Invoice 4711 for March",
                             sender="billing@fabrikam.example", to=(USER,),
                             preview="Please find attached", attachments=True)
    server.add_message(USER, "inbox", "Lunch on Friday?")

    # then one instance starts with the message's variables and the trigger's principal
    [instance] = wait_instances(lw, pid, 1)
    mail = instance["variables"]["mail"]
    assert (mail["id"], mail["subject"], mail["from"], mail["to"], mail["hasAttachments"]) == (
        mid, "Invoice 4711 for March", "billing@fabrikam.example", [USER], True)
    event = first_event(lw, instance["instanceId"])
    assert event["principal"]["id"] == f"trigger:graph-mailbox:{schedule['id']}"
    assert event["value"]["trigger"]["dedupKey"] == f"message:{mid}"
    assert event["value"]["trigger"]["item"]["subject"] == "Invoice 4711 for March"

    # and when the message is read and flagged, the polls after start nothing more
    server.update_message(mid, isRead=True, flag={"flagStatus": "flagged"})
    _more_polls(lw, schedule["id"], server, "/messages/delta")
    assert len(instances_of(lw, pid)) == 1
    detail = _detail(lw, schedule["id"])
    assert detail["firesTotal"] == 1, detail
    assert detail["credentialNames"] == ["clientId", "clientSecret", "tenantId"]
    assert server.client_secret not in json.dumps(detail)
    assert server.token_requests() == 1  # the token was kept across polls


def test_a_new_file_and_its_new_version_each_start_one_instance(
        lw: Laneway, server: GraphServer) -> None:
    server.add_drive(DRIVE)
    server.add_site(SITE, {"Documents": DRIVE}, default=DRIVE,
                    path="contoso.sharepoint.com:/sites/Finance")
    server.add_item(DRIVE, "", "Invoices", folder=True)
    server.add_item(DRIVE, "Invoices", "Incoming", folder=True)
    server.add_item(DRIVE, "Invoices/Incoming", "old.pdf", modified="2026-01-05T08:00:00Z")
    pid = unique_name("scanned_invoice").replace("-", "_")
    lw.deploy(_example("sharepoint-folder.bpmn", "scanned_invoice", pid, server),
              name="sharepoint-folder.bpmn")
    schedule = schedule_of(lw, pid)
    assert schedule["type"] == "sharepoint-folder"
    _credentials_set_after_failing(lw, schedule, server)

    # when a scan and a note land in the folder (the example wants PDFs)
    scan = server.add_item(DRIVE, "Invoices/Incoming", "4711.pdf", size=48213,
                           by="Scanner Floor 2")
    server.add_item(DRIVE, "Invoices/Incoming", "notes.txt", mime="text/plain")

    # then one instance starts with the file's variables and the trigger's principal
    [first] = wait_instances(lw, pid, 1)
    file = first["variables"]["file"]
    assert (file["id"], file["name"], file["path"], file["size"], file["lastModifiedBy"]) == (
        scan, "4711.pdf", "/Invoices/Incoming/4711.pdf", 48213, "Scanner Floor 2")
    event = first_event(lw, first["instanceId"])
    assert event["principal"]["id"] == f"trigger:sharepoint-folder:{schedule['id']}"
    assert event["value"]["trigger"]["dedupKey"] == f"item:{scan}:{file['eTag']}"

    # and a new version of the scan starts one more, with its eTag
    etag = server.new_version(scan)
    found = wait_instances(lw, pid, 2)
    assert sorted(i["variables"]["file"]["eTag"] for i in found) == sorted(
        [file["eTag"], etag])
    _more_polls(lw, schedule["id"], server, "/root/delta")
    assert len(instances_of(lw, pid)) == 2
    assert _detail(lw, schedule["id"])["firesTotal"] == 2
