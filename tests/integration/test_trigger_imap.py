"""The `imap-mailbox` trigger against a real IMAP server: Dovecot, started by the project's
scripts (scripts/stack/imap.py; installed from Debian's packages when missing), each test with a
folder of its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.triggers import PollRequest, PollResult, TriggerFailed, TriggerItem
from laneway.triggers.builtin.imap import ImapMailboxTrigger
from laneway.triggers.testing import make_context, make_schedule
from scripts.stack.testing import unique_name
from tests.integration.imap_server import PASSWORDS, ImapServer, imap_server, message

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ADA = {"username": "ada", "password": PASSWORDS["ada"]}


@pytest.fixture(scope="module")
def server() -> Iterator[ImapServer]:
    with imap_server() as running:
        yield running


class Watch:
    """One schedule of the trigger, polled and acknowledged as the scheduler does: the cursor
    of each poll is the next poll's."""

    def __init__(self, data_dir: Path, settings: Mapping[str, str], *,
                 credentials: Mapping[str, str] = ADA,
                 context: Mapping[str, str] | None = None) -> None:
        self.trigger = ImapMailboxTrigger()
        self.schedule = make_schedule("imap-mailbox", settings)
        self.data_dir = data_dir
        self.credentials = dict(credentials)
        self.context = dict(context or {})
        self.cursor: Any = None
        assert list(self.trigger.check(settings)) == []

    def _request(self) -> PollRequest:
        return PollRequest(self.schedule, self.cursor, self.credentials,
                           int(time.time() * 1000))

    def poll(self) -> PollResult:
        async def go() -> PollResult:
            async with httpx.AsyncClient() as http:
                ctx = make_context(http, self.data_dir, settings=self.context)
                return await self.trigger.poll(self._request(), ctx)
        result = asyncio.run(go())
        self.cursor = result.cursor
        return result

    def acknowledge(self, items: Sequence[TriggerItem]) -> None:
        async def go() -> None:
            async with httpx.AsyncClient() as http:
                ctx = make_context(http, self.data_dir, settings=self.context)
                await self.trigger.acknowledged(self._request(), items, ctx)
        asyncio.run(go())


def settings(server: ImapServer, folder: str, **extra: str) -> dict[str, str]:
    return {"host": "127.0.0.1", "port": str(server.port), "tls": "none", "folder": folder,
            **extra}


def new_folder(server: ImapServer, user: str = "ada") -> str:
    folder = unique_name("Box")
    with server.client(user) as box:
        box.create(folder)
    return folder


def test_new_messages_become_items_with_their_variables(server: ImapServer,
                                                        tmp_path: Path) -> None:
    folder = new_folder(server)
    with server.client("ada") as box:
        box.append(folder, message(subject="Already there"))
    watch = Watch(tmp_path, settings(server, folder))
    first = watch.poll()
    assert first.items == []  # skip-existing: the first poll only records where things are
    with server.client("ada") as box:
        uid = box.append(folder, message(
            subject="Invoice 42 für März", sender="=?utf-8?q?Ad=C3=A9?= <ada@example.org>",
            to="desk@example.org, Bob <bob@example.org>", cc="carla@example.org",
            text="Please pay.\nThanks", html="<p>Please <b>pay</b>.</p>",
            message_id="<inv-42@example.org>",
            attachments=(("invoice.pdf", b"%PDF-1.4 fake", "application/pdf"),)))
        second = box.append(folder, message(subject="Only HTML", text=None,
                                            html="<html><head><style>p{}</style></head><body>"
                                                 "<p>Hello&nbsp;there</p><div>Line 2</div>"
                                                 "<script>x()</script></body></html>"))
    result = watch.poll()
    assert [i.dedup_key for i in result.items] == ["mid:<inv-42@example.org>",
                                                   f"uid:{watch.cursor['uidValidity']}:{second}"]
    mail = result.items[0].variables["mail"]
    attachment = mail.pop("attachments")
    assert mail == {
        "from": "ada@example.org", "fromName": "Adé",
        "to": ["desk@example.org", "bob@example.org"], "cc": ["carla@example.org"],
        "subject": "Invoice 42 für März", "date": "2025-07-01T10:00:00+02:00",
        "messageId": "<inv-42@example.org>", "text": "Please pay.\nThanks",
        "textTruncated": False, "size": mail["size"], "tooLarge": False, "folder": folder,
        "uid": uid, "uidValidity": watch.cursor["uidValidity"]}
    assert mail["size"] > 100
    assert [{k: v for k, v in a.items() if k != "path"} for a in attachment] == [
        {"name": "invoice.pdf", "size": 13, "contentType": "application/pdf"}]
    stored = Path(attachment[0]["path"])
    assert stored.read_bytes() == b"%PDF-1.4 fake"
    assert stored.parent.parent == tmp_path  # the schedule's data directory
    assert result.items[0].summary == {"subject": "Invoice 42 für März",
                                       "from": "ada@example.org", "uid": uid,
                                       "size": mail["size"]}
    html_only = result.items[1].variables["mail"]
    assert html_only["text"] == "Hello there\n\nLine 2"
    assert html_only["messageId"] == ""
    assert html_only["attachments"] == []
    assert watch.cursor == {"folder": folder, "uidValidity": watch.cursor["uidValidity"],
                            "last": second}
    assert watch.poll().items == []  # nothing new
    with server.client("ada") as box:  # a poll reads without marking anything
        assert "\\Seen" not in box.flags(folder, uid)


def test_fire_existing_starts_what_is_there_in_bounded_polls(server: ImapServer,
                                                             tmp_path: Path) -> None:
    folder = new_folder(server)
    with server.client("ada") as box:
        for n in range(3):
            box.append(folder, message(subject=f"Old {n}", message_id=f"<old-{n}@x>"))
    watch = Watch(tmp_path, settings(server, folder, initial="fire-existing", maxItems="2"))
    first = watch.poll()
    assert [i.variables["mail"]["subject"] for i in first.items] == ["Old 0", "Old 1"]
    assert first.more
    second = watch.poll()
    assert [i.variables["mail"]["subject"] for i in second.items] == ["Old 2"]
    assert not second.more
    assert watch.poll().items == []


def test_filters_on_subject_and_sender(server: ImapServer, tmp_path: Path) -> None:
    folder = new_folder(server)
    watch = Watch(tmp_path, settings(server, folder, subjectContains="INVOICE",
                                     subjectPattern=r"#\d+$",
                                     **{"from": "@partner.example, boss@example.org"}))
    watch.poll()
    with server.client("ada") as box:
        box.append(folder, message(subject="Invoice #12", sender="a@partner.example"))
        box.append(folder, message(subject="Invoice #13", sender="eve@elsewhere.example"))
        box.append(folder, message(subject="invoice no number", sender="b@partner.example"))
        box.append(folder, message(subject="Lunch #14", sender="boss@example.org"))
        last = box.append(folder, message(subject="Re: invoice #15",
                                          sender="Boss <BOSS@example.org>"))
    result = watch.poll()
    assert [i.variables["mail"]["subject"] for i in result.items] == ["Invoice #12",
                                                                      "Re: invoice #15"]
    assert watch.cursor["last"] == last  # the messages the filters drop are passed for good
    assert watch.poll().items == []


def test_acknowledged_marks_the_started_messages_seen(server: ImapServer,
                                                      tmp_path: Path) -> None:
    folder = new_folder(server)
    watch = Watch(tmp_path, settings(server, folder))
    watch.poll()
    with server.client("ada") as box:
        started = box.append(folder, message(subject="Start me"))
        dropped = box.append(folder, message(subject="Not me"))
    items = [i for i in watch.poll().items if i.variables["mail"]["subject"] == "Start me"]
    watch.acknowledge(items)
    with server.client("ada") as box:
        assert "\\Seen" in box.flags(folder, started)
        assert "\\Seen" not in box.flags(folder, dropped)


@pytest.mark.parametrize("user", ["ada", "nomove", "uidplus"])
def test_acknowledged_moves_the_started_messages(server: ImapServer, tmp_path: Path,
                                                 user: str) -> None:
    """With MOVE (ada), and without it: COPY, \\Deleted, then UID EXPUNGE (uidplus) or
    EXPUNGE (nomove); the target folder is created when missing."""
    folder = new_folder(server, user)
    done = unique_name("Done")
    watch = Watch(tmp_path, settings(server, folder, after=f"move:{done}"),
                  credentials={"username": user, "password": PASSWORDS[user]})
    watch.poll()
    with server.client(user) as box:
        box.append(folder, message(subject="Move me"))
        stays = box.append(folder, message(subject="Stay"))
    items = [i for i in watch.poll().items if i.variables["mail"]["subject"] == "Move me"]
    watch.acknowledge(items)
    with server.client(user) as box:
        assert box.uids(folder) == [stays]
        assert len(box.uids(done)) == 1
    assert watch.poll().items == []  # the moved message does not come back


def test_attachments_are_stored_under_safe_names(server: ImapServer, tmp_path: Path) -> None:
    folder = new_folder(server)
    watch = Watch(tmp_path / "data", settings(server, folder))
    watch.poll()
    with server.client("ada") as box:
        box.append(folder, message(subject="Hostile", attachments=(
            ("../../etc/passwd", b"root:x:0:0", "text/plain"),
            ("..\\..\\boot.ini", b"[boot]", "application/octet-stream"),
            ("passwd", b"second", "text/plain"),
            ("..", b"dots", "application/octet-stream"))))
    [item] = watch.poll().items
    attachments = item.variables["mail"]["attachments"]
    assert [a["name"] for a in attachments] == ["../../etc/passwd", "..\\..\\boot.ini",
                                                "passwd", ".."]
    paths = [Path(a["path"]) for a in attachments]
    assert [p.name for p in paths] == ["passwd", "boot.ini", "passwd-2", "attachment"]
    assert [p.read_bytes() for p in paths] == [b"root:x:0:0", b"[boot]", b"second", b"dots"]
    for path in paths:  # every file in the message's own folder of the data directory
        assert path.resolve().parent.parent == (tmp_path / "data").resolve()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        ["passwd", "boot.ini", "passwd-2", "attachment"])


def test_a_message_over_the_size_bound_comes_with_its_headers_only(server: ImapServer,
                                                                   tmp_path: Path) -> None:
    folder = new_folder(server)
    watch = Watch(tmp_path, settings(server, folder, maxMessageBytes="4096"))
    watch.poll()
    with server.client("ada") as box:
        box.append(folder, message(subject="Huge", text="x" * 20_000,
                                   attachments=(("big.bin", b"\0" * 10_000, "application/x"),)))
        box.append(folder, message(subject="Small"))
    huge, small = watch.poll().items
    mail = huge.variables["mail"]
    assert mail["subject"] == "Huge"
    assert mail["tooLarge"] is True
    assert mail["size"] > 20_000
    assert mail["text"] == ""
    assert mail["attachments"] == []
    assert huge.summary["tooLarge"] is True
    assert not list(tmp_path.rglob("big.bin"))
    assert small.variables["mail"]["text"] == "Hi."


def test_a_refused_login_fails_without_the_password(server: ImapServer,
                                                    tmp_path: Path) -> None:
    folder = new_folder(server)
    password = "Wr0ng-S3cret-Value"
    watch = Watch(tmp_path, settings(server, folder),
                  credentials={"username": "ada", "password": password})
    with pytest.raises(TriggerFailed) as failed:
        watch.poll()
    assert not failed.value.retryable
    assert "refused the login" in failed.value.message
    assert password not in failed.value.message
    assert password not in repr(failed.value)
    missing = Watch(tmp_path, settings(server, folder), credentials={"username": "ada"})
    with pytest.raises(TriggerFailed, match="credentials to have password") as failed:
        missing.poll()
    assert not failed.value.retryable
    injected = Watch(tmp_path, settings(server, folder), credentials={
        "username": "ada", "password": PASSWORDS["ada"] + '"\r\nA1 DELETE INBOX'})
    with pytest.raises(TriggerFailed, match="without line breaks") as failed:
        injected.poll()
    assert "DELETE" not in failed.value.message


def test_a_password_beyond_ascii_logs_in_with_sasl_plain(server: ImapServer,
                                                         tmp_path: Path) -> None:
    folder = new_folder(server, "umlaut")
    watch = Watch(tmp_path, settings(server, folder),
                  credentials={"username": "umlaut", "password": PASSWORDS["umlaut"]})
    watch.poll()
    with server.client("umlaut") as box:
        box.append(folder, message(subject="Grüße"))
    assert [i.variables["mail"]["subject"] for i in watch.poll().items] == ["Grüße"]


def test_a_new_uidvalidity_starts_over_from_the_next_message(server: ImapServer,
                                                             tmp_path: Path) -> None:
    folder = new_folder(server)
    watch = Watch(tmp_path, settings(server, folder))
    watch.poll()
    with server.client("ada") as box:
        box.append(folder, message(subject="Before"))
    assert len(watch.poll().items) == 1
    before = dict(watch.cursor)
    assert before["last"] == 1
    with server.client("ada") as box:  # the folder recreated: its UIDs begin again
        box.delete(folder)
        box.create(folder)
        for n in range(3):  # UID 2 and 3 are above the old cursor's last, yet not new
            box.append(folder, message(subject=f"In the new folder {n}"))
        validity = box.uid_validity(folder)
    assert validity != before["uidValidity"]
    assert watch.poll().items == []  # as skip-existing: what is there is passed
    assert watch.cursor == {"folder": folder, "uidValidity": validity, "last": 3}
    with server.client("ada") as box:
        box.append(folder, message(subject="After"))
    assert [i.variables["mail"]["subject"] for i in watch.poll().items] == ["After"]


@pytest.mark.parametrize("tls", ["ssl", "starttls"])
def test_tls_with_the_deployment_s_certificate_authority(server: ImapServer, tmp_path: Path,
                                                         tls: str) -> None:
    folder = new_folder(server)
    port = server.tls_port if tls == "ssl" else server.port
    config = {**settings(server, folder, tls=tls), "host": "localhost", "port": str(port)}
    watch = Watch(tmp_path, config, context={"cafile": str(server.ca_file)})
    watch.poll()
    with server.client("ada") as box:
        box.append(folder, message(subject="Over TLS"))
    assert [i.variables["mail"]["subject"] for i in watch.poll().items] == ["Over TLS"]
    untrusting = Watch(tmp_path, config)  # the system's CAs do not know the test CA
    with pytest.raises(TriggerFailed, match="certificate this service trusts") as failed:
        untrusting.poll()
    assert not failed.value.retryable
