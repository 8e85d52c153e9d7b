"""The `graph-mailbox` and `sharepoint-folder` triggers against a local server that answers as
Microsoft Graph and the identity platform (tests/graph_server.py): the token, delta pages,
deltaLinks, 410 on an expired delta token, 429 with Retry-After, 401 on a bad token."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.triggers import PollResult, Trigger, TriggerFailed, discover_triggers
from laneway.triggers.builtin import _graph
from laneway.triggers.builtin.graph import GraphMailboxTrigger, SharePointFolderTrigger
from laneway.triggers.testing import make_context, make_schedule, poll_once
from tests.graph_server import GraphServer, graph_server

USER = "invoices@contoso.example"
DRIVE = "b!Rk9PX2RyaXZl"


@pytest.fixture
def server() -> Iterator[GraphServer]:
    with graph_server() as srv:
        yield srv


class Poller:
    """Polls one schedule of one trigger (its token cache kept) as the scheduler would:
    each poll from the cursor the last one returned."""

    def __init__(self, trigger: Trigger, server: GraphServer, settings: Mapping[str, str],
                 data_dir: Path, *, deployment: Mapping[str, str] | None = None) -> None:
        self.trigger = trigger
        self.server = server
        self.schedule = make_schedule(trigger.type, {
            "graphUrl": server.graph_url, "authorityUrl": server.url, **settings})
        self.data_dir = data_dir
        self.deployment = dict(deployment or {})
        self.cursor: Any = None
        self.credentials = server.credentials()

    def poll(self, *, credentials: Mapping[str, str] | None = None) -> PollResult:
        async def go() -> PollResult:
            async with httpx.AsyncClient() as http:
                ctx = make_context(http, self.data_dir, settings=self.deployment)
                return await poll_once(self.trigger, self.schedule, ctx, cursor=self.cursor,
                                       credentials=self.credentials if credentials is None
                                       else credentials)
        result = asyncio.run(go())
        self.cursor = result.cursor
        return result

    def fails(self, **kwargs: Any) -> TriggerFailed:
        cursor = self.cursor
        with pytest.raises(TriggerFailed) as info:
            self.poll(**kwargs)
        assert self.cursor == cursor  # a failed poll moves nothing
        return info.value

    def drain(self) -> list[PollResult]:
        """Poll until a poll says there is no more at once (bounded)."""
        results = [self.poll()]
        while results[-1].more:
            assert len(results) < 50
            results.append(self.poll())
        return results


def mailbox(server: GraphServer, tmp_path: Path, **settings: str) -> Poller:
    return Poller(GraphMailboxTrigger(), server, {"user": USER, **settings}, tmp_path)


def keys(result: PollResult) -> list[str]:
    return [i.dedup_key for i in result.items]


# --- graph-mailbox ------------------------------------------------------------------------

def test_new_mails_fire_once_with_their_variables_and_existing_ones_are_skipped(
        server: GraphServer, tmp_path: Path) -> None:
    # given a mailbox with a message already there, polled once (skip-existing)
    server.add_message(USER, "inbox", "Old invoice")
    box = mailbox(server, tmp_path)
    first = box.poll()
    assert first.items == []
    assert not first.more

    # when two messages arrive
    a = server.add_message(USER, "inbox", "Invoice 4711", sender="billing@fabrikam.example",
                           to=(USER, "ap@contoso.example"), preview="Please pay",
                           attachments=True, received="2030-01-02T08:00:00Z")
    b = server.add_message(USER, "inbox", "Invoice 4712", received="2030-01-02T09:00:00Z")
    second = box.poll()

    # then each fires once, oldest first, with its variables and a small summary
    assert keys(second) == [f"message:{a}", f"message:{b}"]
    mail = second.items[0].variables["mail"]
    assert mail == {
        "id": a, "subject": "Invoice 4711", "from": "billing@fabrikam.example",
        "to": [USER, "ap@contoso.example"], "receivedDateTime": "2030-01-02T08:00:00Z",
        "bodyPreview": "Please pay", "hasAttachments": True,
        "webLink": mail["webLink"]}
    assert mail["webLink"].startswith("https://outlook.office365.com/owa/")
    assert second.items[0].summary == {"subject": "Invoice 4711",
                                       "from": "billing@fabrikam.example"}
    assert box.poll().items == []
    # and the app asked as Graph documents: the folder's delta, created messages only
    delta = server.graph_requests(f"/users/{USER}/mailFolders/inbox/messages/delta")[0]
    assert "changeType=created" in delta.path
    assert "$select=" in delta.path
    assert 'IdType="ImmutableId"' in delta.headers["prefer"]


def test_pages_are_followed_to_the_delta_link_in_one_poll(
        server: GraphServer, tmp_path: Path) -> None:
    box = mailbox(server, tmp_path, maxItems="200")
    box.poll()
    ids = [server.add_message(USER, "inbox", f"Order {n}") for n in range(120)]

    result = box.poll()

    # three pages of at most 50 (odata.maxpagesize), read to the deltaLink
    assert keys(result) == [f"message:{i}" for i in ids]
    assert not result.more
    pages = server.graph_requests("/messages/delta")
    assert len([p for p in pages if "$skiptoken=" in p.path]) == 2
    assert all(p.headers["prefer"][0] == "odata.maxpagesize=50" for p in pages)
    assert box.poll().items == []


def test_max_items_cuts_a_poll_at_a_page_and_the_next_poll_goes_on(
        server: GraphServer, tmp_path: Path) -> None:
    box = mailbox(server, tmp_path, maxItems="3")
    box.poll()
    ids = [server.add_message(USER, "inbox", f"Order {n}") for n in range(7)]

    results = box.drain()

    assert [len(r.items) for r in results] == [3, 3, 1]  # pages of 3 (odata.maxpagesize)
    assert [r.more for r in results] == [True, True, False]
    assert [k for r in results for k in keys(r)] == [f"message:{i}" for i in ids]


def test_a_message_read_or_changed_later_does_not_fire_again(
        server: GraphServer, tmp_path: Path) -> None:
    box = mailbox(server, tmp_path)
    box.poll()
    mid = server.add_message(USER, "inbox", "Claim 9")
    assert keys(box.poll()) == [f"message:{mid}"]

    # when the message is read, flagged and its subject changed
    server.update_message(mid, isRead=True, subject="Claim 9 (seen)")
    server.update_message(mid, flag={"flagStatus": "flagged"})

    # then it fires no more
    assert box.poll().items == []


def test_subject_and_sender_filters(server: GraphServer, tmp_path: Path) -> None:
    box = mailbox(server, tmp_path, subjectContains="invoice", **{"from": "@fabrikam.example"})
    box.poll()
    wanted = server.add_message(USER, "inbox", "Your INVOICE 12", sender="ap@Fabrikam.example")
    server.add_message(USER, "inbox", "Invoice from elsewhere", sender="x@other.example")
    server.add_message(USER, "inbox", "Lunch?", sender="bob@fabrikam.example")

    assert keys(box.poll()) == [f"message:{wanted}"]


def test_another_folder_is_not_watched(server: GraphServer, tmp_path: Path) -> None:
    box = mailbox(server, tmp_path, folder="Invoices")
    box.poll()
    server.add_message(USER, "inbox", "Not here")
    there = server.add_message(USER, "Invoices", "Here")

    assert keys(box.poll()) == [f"message:{there}"]


def test_fire_existing_fires_the_messages_already_there(
        server: GraphServer, tmp_path: Path) -> None:
    old = [server.add_message(USER, "inbox", f"Old {n}") for n in range(3)]
    box = mailbox(server, tmp_path, initial="fire-existing")

    assert keys(box.poll()) == [f"message:{i}" for i in old]
    assert box.poll().items == []


@pytest.mark.parametrize("status", [410, 400])
def test_an_expired_delta_token_starts_over_without_losing_or_refiring_old_mail(
        server: GraphServer, tmp_path: Path, status: int) -> None:
    # given old mail, skipped, and a new message fired
    old = server.add_message(USER, "inbox", "Old", received="2020-05-01T10:00:00Z")
    box = mailbox(server, tmp_path)
    box.poll()
    a = server.add_message(USER, "inbox", "A")
    assert keys(box.poll()) == [f"message:{a}"]

    # when Graph forgets the delta token (410 Gone, or a 4xx syncStateNotFound) while a
    # message arrives
    b = server.add_message(USER, "inbox", "B")
    server.expire_delta_tokens(status)
    result = box.poll()

    # then a fresh round fires what arrived since the last round (A again has its key: the
    # scheduler starts it once), never the old mail
    assert f"message:{b}" in keys(result)
    assert set(keys(result)) <= {f"message:{a}", f"message:{b}"}
    assert f"message:{old}" not in keys(result)
    # and the schedule goes on from the new round's deltaLink
    c = server.add_message(USER, "inbox", "C")
    assert keys(box.poll()) == [f"message:{c}"]


def test_an_expired_token_during_the_first_walk_walks_again_and_skips(
        server: GraphServer, tmp_path: Path) -> None:
    # given a first walk (skip-existing) longer than one poll's pages
    for n in range(1260):  # 26 pages of 50: one more than a poll reads
        server.add_message(USER, "inbox", f"Old {n}", received="2020-01-01T00:00:00Z")
    box = mailbox(server, tmp_path, maxItems="2")
    first = box.poll()
    assert first.items == []
    assert first.more

    # when Graph forgets the token in the middle of it
    server.expire_delta_tokens()
    results = box.drain()

    # then the walk starts over, still firing nothing, and new mail fires after it
    assert [r.items for r in results] == [[]] * len(results)
    new = server.add_message(USER, "inbox", "New")
    assert keys(box.poll()) == [f"message:{new}"]


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_fails_the_poll_retryable_with_the_wait(
        server: GraphServer, tmp_path: Path, status: int) -> None:
    box = mailbox(server, tmp_path)
    box.poll()
    mid = server.add_message(USER, "inbox", "Later")
    server.throttle(1, retry_after="7", status=status)

    failed = box.fails()

    assert failed.retryable
    assert str(status) in failed.message
    assert "retry after 7 s" in failed.message
    assert keys(box.poll()) == [f"message:{mid}"]  # the cursor was kept: nothing lost


def test_the_token_is_cached_until_shortly_before_it_expires(
        server: GraphServer, tmp_path: Path) -> None:
    box = mailbox(server, tmp_path)
    for _ in range(3):
        box.poll()
    assert server.token_requests() == 1

    # a token that expires within the margin is not kept
    server.expires_in = 60
    short = mailbox(server, tmp_path / "short")
    short.poll()
    short.poll()
    assert server.token_requests() == 1 + 2
    # the request was the documented one
    form = next(s.form for s in server.seen if s.path.endswith("/oauth2/v2.0/token"))
    assert form == {"grant_type": "client_credentials", "client_id": server.client_id,
                    "client_secret": server.client_secret,
                    "scope": "https://graph.microsoft.com/.default"}


def test_a_refused_token_is_refreshed_once(server: GraphServer, tmp_path: Path) -> None:
    box = mailbox(server, tmp_path)
    box.poll()
    server.revoke_tokens()
    mid = server.add_message(USER, "inbox", "After the revocation")

    assert keys(box.poll()) == [f"message:{mid}"]
    assert server.token_requests() == 2


def test_a_token_refused_again_fails_without_retry(server: GraphServer, tmp_path: Path) -> None:
    box = mailbox(server, tmp_path)
    box.poll()
    server.reject_tokens = True

    failed = box.fails()

    assert not failed.retryable
    assert "401" in failed.message
    assert server.token_requests() == 2  # the cached one, then one fresh one: no loop


def test_a_wrong_secret_fails_without_retry_and_without_the_secret(
        server: GraphServer, tmp_path: Path) -> None:
    box = mailbox(server, tmp_path)
    wrong = server.credentials(clientSecret="not-the-secret-42")

    failed = box.fails(credentials=wrong)

    assert not failed.retryable
    assert "AADSTS7000215" in failed.message
    assert "invalid_client" in failed.message
    for value in ("not-the-secret-42", server.client_secret, server.client_id):
        assert value not in failed.message
    assert server.graph_requests() == []


def test_a_wrong_secret_does_not_borrow_the_token_of_the_right_one(
        server: GraphServer, tmp_path: Path) -> None:
    box = mailbox(server, tmp_path)
    box.poll()  # a token cached for the tenant and client
    other = Poller(box.trigger, server, {"user": "ceo@contoso.example"}, tmp_path)

    failed = other.fails(credentials=server.credentials(clientSecret="guessed"))

    assert "AADSTS7000215" in failed.message
    assert server.graph_requests("ceo@") == []


@pytest.mark.parametrize(("credentials", "missing"), [
    ({}, "tenantId, clientId, clientSecret are missing"),
    ({"tenantId": "t.example", "clientId": "c-1"}, "clientSecret is missing"),
    ({"tenantId": "t.example", "clientId": " ", "clientSecret": "pw-123"},
     "clientId is missing"),
])
def test_missing_credentials_are_named_never_shown(
        server: GraphServer, tmp_path: Path, credentials: dict[str, str], missing: str) -> None:
    failed = mailbox(server, tmp_path).fails(credentials=credentials)

    assert not failed.retryable
    assert missing in failed.message
    assert "PUT /api/schedules/{id}/credentials" in failed.message
    for value in credentials.values():
        assert not value.strip() or value not in failed.message
    assert server.seen == []


def test_a_next_link_to_another_host_is_not_followed(
        server: GraphServer, tmp_path: Path) -> None:
    box = mailbox(server, tmp_path, initial="fire-existing", maxItems="100")
    for n in range(60):
        server.add_message(USER, "inbox", f"M{n}")
    server.link_base = "http://127.0.0.2:9"

    failed = box.fails()

    assert not failed.retryable
    assert "next page" in failed.message
    assert len(server.graph_requests()) == 1


def test_an_oversized_answer_fails_the_poll(server: GraphServer, tmp_path: Path) -> None:
    box = mailbox(server, tmp_path)
    server.pad_bytes = 5 << 20

    failed = box.fails()

    assert "at most 4 MiB" in failed.message


def test_endpoints_outside_microsoft_and_loopback_are_refused_unless_allowed(
        server: GraphServer, tmp_path: Path) -> None:
    # the client secret goes to the authority: a diagram must not send it just anywhere
    box = mailbox(server, tmp_path, authorityUrl="https://login.evil.example")
    failed = box.fails()
    assert not failed.retryable
    assert "'login.evil.example'" in failed.message
    assert server.seen == []

    # the deployment may allow a host (a proxy); Microsoft's clouds are allowed
    settings = {"authorityUrl": "https://login.evil.example/",
                "graphUrl": "https://graph.microsoft.us/v1.0"}
    ends = _graph.endpoints(settings, {"allowed_hosts": "proxy.example, Login.Evil.Example"})
    assert ends.authority == "https://login.evil.example"
    assert ends.scope == "https://graph.microsoft.us/.default"
    with pytest.raises(TriggerFailed, match=re.escape("names 'graph.microsoft.us.evil.example'")):
        _graph.endpoints({"graphUrl": "https://graph.microsoft.us.evil.example"}, {})
    with pytest.raises(TriggerFailed, match=re.escape("names 'graph.microsoft.com'")):
        _graph.endpoints({"graphUrl": "http://graph.microsoft.com/v1.0"}, {})  # not https
    # the deployment's own endpoints are trusted as they are
    assert _graph.endpoints({}, {"graph_url": "http://graph.internal:8080/v1.0/"}).graph == \
        "http://graph.internal:8080/v1.0"


# --- sharepoint-folder --------------------------------------------------------------------

def folder(server: GraphServer, tmp_path: Path, **settings: str) -> Poller:
    return Poller(SharePointFolderTrigger(), server,
                  {"drive": DRIVE, "folder": "Invoices", "pattern": "*.pdf", **settings},
                  tmp_path)


@pytest.fixture
def drive(server: GraphServer) -> GraphServer:
    server.add_drive(DRIVE)
    server.add_item(DRIVE, "", "Invoices", folder=True)
    server.add_item(DRIVE, "Invoices", "Sub", folder=True)
    server.add_item(DRIVE, "Invoices", "already-there.pdf", modified="2025-01-01T00:00:00Z")
    return server


def test_new_files_in_the_folder_fire_once_matching_the_pattern(
        drive: GraphServer, tmp_path: Path) -> None:
    watch = folder(drive, tmp_path)
    assert watch.poll().items == []  # skip-existing: the latest deltaLink only
    assert "token=latest" in drive.graph_requests("/root/delta")[0].path

    a = drive.add_item(DRIVE, "Invoices", "March.PDF", size=2048, by="Adele Vance")
    drive.add_item(DRIVE, "Invoices", "notes.docx", mime="application/msword")
    drive.add_item(DRIVE, "", "elsewhere.pdf")
    drive.add_item(DRIVE, "Invoices/Sub", "deeper.pdf")
    result = watch.poll()

    etag = f'"{{{a}}},1"'
    assert keys(result) == [f"item:{a}:{etag}"]
    file = result.items[0].variables["file"]
    assert file == {
        "id": a, "name": "March.PDF", "path": "/Invoices/March.PDF", "size": 2048,
        "webUrl": file["webUrl"], "lastModifiedDateTime": file["lastModifiedDateTime"],
        "lastModifiedBy": "Adele Vance", "eTag": etag, "mimeType": "application/pdf"}
    assert file["webUrl"].startswith("https://contoso.sharepoint.com/")
    assert result.items[0].summary == {"name": "March.PDF", "eTag": etag}
    assert watch.poll().items == []


def test_a_new_version_of_a_file_fires_again_a_deleted_file_does_not(
        drive: GraphServer, tmp_path: Path) -> None:
    watch = folder(drive, tmp_path)
    watch.poll()
    a = drive.add_item(DRIVE, "Invoices", "a.pdf")
    b = drive.add_item(DRIVE, "Invoices", "b.pdf")
    assert len(watch.poll().items) == 2

    etag = drive.new_version(a)
    drive.delete(b)
    result = watch.poll()

    assert keys(result) == [f"item:{a}:{etag}"]
    assert result.items[0].variables["file"]["eTag"] == etag
    assert watch.poll().items == []


def test_fire_existing_fires_the_files_already_there_across_pages(
        drive: GraphServer, tmp_path: Path) -> None:
    names = [f"scan-{n:03}.pdf" for n in range(250)]
    for name in names:
        drive.add_item(DRIVE, "Invoices", name)
    watch = folder(drive, tmp_path, initial="fire-existing", maxItems="1000")

    result = watch.poll()

    assert sorted(i.variables["file"]["name"] for i in result.items) == sorted(
        [*names, "already-there.pdf"])
    assert len(drive.graph_requests("/root/delta")) == 2  # $top=200: two pages
    assert watch.poll().items == []


def test_an_expired_drive_token_starts_over_without_refiring_old_files(
        drive: GraphServer, tmp_path: Path) -> None:
    watch = folder(drive, tmp_path)
    watch.poll()
    a = drive.add_item(DRIVE, "Invoices", "a.pdf")
    assert len(watch.poll().items) == 1
    new = drive.add_item(DRIVE, "Invoices", "new.pdf")
    drive.expire_delta_tokens()

    result = watch.poll()

    assert f"item:{new}:" + f'"{{{new}}},1"' in keys(result)
    assert set(keys(result)) <= {f"item:{i}:" + f'"{{{i}}},1"' for i in (a, new)}
    assert watch.poll().items == []


def test_a_site_library_is_found_by_name(drive: GraphServer, tmp_path: Path) -> None:
    site = "contoso.sharepoint.com,aaaa1111-2222-3333-4444-555555555555," \
           "bbbb1111-2222-3333-4444-555555555555"
    drive.add_site(site, {"Documents": "b!other", "Finance": DRIVE}, default="b!other")
    watch = Poller(SharePointFolderTrigger(), drive,
                   {"site": site, "library": "finance", "folder": "/Invoices/"}, tmp_path)
    watch.poll()
    a = drive.add_item(DRIVE, "Invoices", "x.txt")

    assert [i.variables["file"]["id"] for i in watch.poll().items] == [a]


def test_a_site_named_by_path_and_its_default_library(
        drive: GraphServer, tmp_path: Path) -> None:
    site = "contoso.sharepoint.com,aaaa1111-2222-3333-4444-555555555555," \
           "bbbb1111-2222-3333-4444-555555555555"
    drive.add_site(site, {"Documents": DRIVE}, default=DRIVE,
                   path="contoso.sharepoint.com:/sites/Finance")
    watch = Poller(SharePointFolderTrigger(), drive,
                   {"site": "contoso.sharepoint.com:/sites/Finance", "folder": "Invoices"},
                   tmp_path)
    watch.poll()
    a = drive.add_item(DRIVE, "Invoices", "y.pdf")

    assert [i.variables["file"]["id"] for i in watch.poll().items] == [a]
    asked = [s.path.split("?")[0] for s in drive.graph_requests("/sites/")]
    assert asked == ["/v1.0/sites/contoso.sharepoint.com:/sites/Finance",
                     f"/v1.0/sites/{site}/drive"]


def test_a_folder_that_is_missing_fails_without_retry(
        drive: GraphServer, tmp_path: Path) -> None:
    failed = folder(drive, tmp_path, folder="Nope").fails()
    assert not failed.retryable
    assert "404" in failed.message


# --- deploy checks and discovery ----------------------------------------------------------

def test_both_types_are_installed() -> None:
    found = discover_triggers([])
    assert isinstance(found.triggers["graph-mailbox"], GraphMailboxTrigger)
    assert isinstance(found.triggers["sharepoint-folder"], SharePointFolderTrigger)


@pytest.mark.parametrize(("trigger", "settings", "expected"), [
    (GraphMailboxTrigger(), {}, "Expected laneway:user"),
    (GraphMailboxTrigger(), {"user": "a@b.example", "maxItems": "0"}, "laneway:maxItems"),
    (GraphMailboxTrigger(), {"user": "a@b.example", "graphUrl": "ftp://x"}, "laneway:graphUrl"),
    (GraphMailboxTrigger(), {"user": "a@b.example", "folder": " "}, "laneway:folder"),
    (SharePointFolderTrigger(), {}, "neither is"),
    (SharePointFolderTrigger(), {"drive": "d", "site": "s"}, "both are set"),
    (SharePointFolderTrigger(), {"drive": "d", "library": "Finance"}, "only with laneway:site"),
    (SharePointFolderTrigger(), {"drive": "d", "folder": "a/../b"}, "laneway:folder"),
    (SharePointFolderTrigger(), {"drive": "d", "pattern": ""}, "laneway:pattern"),
    (SharePointFolderTrigger(), {"site": "x.example:/sites/../admin"}, "laneway:site"),
])
def test_check_refuses_what_cannot_work(trigger: Trigger, settings: dict[str, str],
                                        expected: str) -> None:
    problems = list(trigger.check(settings))
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("Expected") for p in problems)


def test_check_accepts_a_complete_declaration() -> None:
    assert list(GraphMailboxTrigger().check({"user": "a@b.example", "folder": "inbox",
                                             "maxItems": "50"})) == []
    assert list(SharePointFolderTrigger().check({"site": "c.example:/sites/Finance",
                                                 "library": "Documents",
                                                 "folder": "Invoices/2026",
                                                 "pattern": "*.pdf"})) == []
