"""The folder trigger end to end: examples/triggers/folder.bpmn, pointed at a folder of the
test, is deployed and AUTHORIZED; its first poll records the file already there; a file
dropped in then starts exactly one instance with the file's variables, whose audit shows the
trigger's principal, and moves to the done folder after the start; the file that was there
stays, and nothing else starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts.stack.testing import wait_until
from tests.e2e.harness import Laneway
from tests.e2e.trigger_kit import (
    WITH_TRIGGERS,
    first_event,
    instances_of,
    schedule_of,
    wait_instances,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "triggers" / "folder.bpmn"
PROCESS = "inbox_document"


def _example(inbox: Path) -> bytes:
    """The example as shipped, but watching `inbox` every second."""
    xml = EXAMPLE.read_text()
    for shipped in ('laneway:path="/tmp/laneway-inbox"', 'laneway:interval="PT10S"'):
        assert shipped in xml, shipped
    return xml.replace('laneway:path="/tmp/laneway-inbox"', f'laneway:path="{inbox}"') \
        .replace('laneway:interval="PT10S"', 'laneway:interval="PT1S"').encode()


def test_a_file_dropped_in_the_folder_starts_exactly_one_instance_and_moves_to_done(
        laneway: Any, tmp_path: Path) -> None:
    lw: Laneway = laneway(WITH_TRIGGERS)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "old.pdf").write_bytes(b"%PDF-1.7 there before")

    # given the example deployed (AUTHORIZED) and its first poll done
    lw.deploy(_example(inbox), name="folder.bpmn")
    schedule = schedule_of(lw, PROCESS)
    assert (schedule["type"], schedule["status"]) == ("folder", "active"), schedule

    def polled() -> dict[str, Any] | None:
        with lw.api() as api:
            detail: dict[str, Any] = api.get(f"/api/schedules/{schedule['id']}").json()
        return detail if detail["lastPollAt"] and detail["cursor"] is not None else None

    first = wait_until(polled, 60, message="the folder schedule's first poll")
    assert first["lastError"] is None, first

    # when a file is dropped in (written to a hidden name, then renamed, as uploads do)
    partial = inbox / ".invoice-1042.pdf.part"
    partial.write_bytes(b"%PDF-1.7 invoice 1042")
    partial.rename(inbox / "invoice-1042.pdf")

    # then one instance starts with the file's variables and the trigger's principal
    (instance,) = wait_instances(lw, PROCESS, 1)
    variables = instance["variables"]["file"]
    assert {k: variables[k] for k in ("name", "path", "absolutePath", "size")} == {
        "name": "invoice-1042.pdf", "path": "invoice-1042.pdf",
        "absolutePath": str(inbox / "invoice-1042.pdf"), "size": 21}
    event = first_event(lw, instance["instanceId"])
    assert event["principal"]["id"] == f"trigger:folder:{schedule['id']}"
    assert event["value"]["trigger"]["dedupKey"].startswith("file:invoice-1042.pdf:21:")

    # and after the start the file is in the done folder
    done = inbox / "done" / "invoice-1042.pdf"
    wait_until(done.exists, 30, message="the file moved to the done folder")
    assert done.read_bytes() == b"%PDF-1.7 invoice 1042"
    assert not (inbox / "invoice-1042.pdf").exists()

    # and the polls after it start nothing more; the file there before stays where it was
    def last_poll() -> str:
        with lw.api() as api:
            at: str = api.get(f"/api/schedules/{schedule['id']}").json()["lastPollAt"]
        return at

    before = last_poll()
    wait_until(lambda: last_poll() != before, 30, message="another poll of the folder")
    assert len(instances_of(lw, PROCESS)) == 1
    assert (inbox / "old.pdf").exists()
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["invoice-1042.pdf"]
