"""The `feed` trigger against a real HTTP server on 127.0.0.1 serving RSS and Atom documents
with ETag and Last-Modified, answering 304 to a conditional GET (tests/feed_server.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.bpmn import parse
from laneway.triggers import MAX_DEDUP_KEY, PollResult, TriggerFailed, check_triggers
from laneway.triggers.builtin.feed import FeedTrigger
from laneway.triggers.testing import make_context, make_schedule, poll_once
from tests.feed_server import ATOM, Entry, FeedServer, atom, feed_server, rss

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _entries(*numbers: int) -> list[Entry]:
    """Entries n (published n hours after T0), newest first as feeds list them."""
    return [Entry(f"urn:news:{n}", f"News {n}", f"https://news.example.org/{n}",
                  T0 + timedelta(hours=n), f"Body {n}") for n in sorted(numbers, reverse=True)]


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as srv:
        yield srv


def _poll(server: FeedServer, cursor: Any = None, *, path: str = "/news.xml",
          settings: Mapping[str, str] | None = None,
          ctx_settings: Mapping[str, str] | None = None, tmp: Path = Path("/nonexistent"),
          url: str | None = None) -> PollResult:
    schedule = make_schedule("feed", {"url": url or server.url + path, **(settings or {})})

    async def go() -> PollResult:
        async with httpx.AsyncClient() as http:
            ctx = make_context(http, tmp, timeout=5.0, settings=ctx_settings)
            return await poll_once(FeedTrigger(), schedule, ctx, cursor=cursor)
    return asyncio.run(go())


def _fails(server: FeedServer, **kwargs: Any) -> TriggerFailed:
    with pytest.raises(TriggerFailed) as caught:
        _poll(server, **kwargs)
    return caught.value


def _ids(result: PollResult) -> list[str]:
    return [item.variables["entry"]["id"] for item in result.items]


def test_first_poll_skips_existing_then_new_entries_fire_once_oldest_first(
        server: FeedServer) -> None:
    # given a feed with two entries, polled for the first time (skip-existing by default)
    server.put("/news.xml", rss(_entries(1, 2)))
    first = _poll(server)
    assert first.items == []
    assert not first.more

    # when three entries are published on top
    server.put("/news.xml", rss(_entries(1, 2, 3, 4, 5)))
    second = _poll(server, first.cursor)

    # then exactly the new ones fire, oldest first, each keyed by its id
    assert _ids(second) == ["urn:news:3", "urn:news:4", "urn:news:5"]
    assert [i.dedup_key for i in second.items] == ["entry:urn:news:3", "entry:urn:news:4",
                                                   "entry:urn:news:5"]
    assert second.items[0].variables == {
        "entry": {"id": "urn:news:3", "title": "News 3", "link": "https://news.example.org/3",
                  "published": "2026-03-01T12:00:00Z", "updated": None,
                  "summary": "Body 3", "author": None, "categories": []},
        "feed": {"title": "Example news", "link": "https://news.example.org/"}}
    assert second.items[0].summary == {"title": "News 3", "link": "https://news.example.org/3"}
    # and polling again fires nothing
    assert _poll(server, second.cursor).items == []


def test_fire_existing_starts_every_entry_of_an_atom_feed_with_its_text(
        server: FeedServer) -> None:
    # given an Atom feed whose entry has an HTML summary, an author and categories
    server.put("/updates.atom", atom([
        Entry("tag:example.org,2026:2", "Second <b>bold</b>", "https://updates.example.org/2",
              T0 + timedelta(days=1),
              "<p>Roads <b>closed</b> &amp; <a href='https://x.example'>detours</a></p>"
              "<script>alert(1)</script>",
              "Ada Lovelace", ["traffic", "city"]),
        Entry("tag:example.org,2026:1", "First", "https://updates.example.org/1", T0)]),
        ATOM)

    # when the first poll fires what is there
    result = _poll(server, path="/updates.atom", settings={"initial": "fire-existing"})

    # then both entries fire, oldest first, the summary as text without markup or script
    assert _ids(result) == ["tag:example.org,2026:1", "tag:example.org,2026:2"]
    entry = result.items[1].variables["entry"]
    assert entry["title"] == "Second <b>bold</b>"  # an Atom text title is text, as written
    assert entry["summary"] == "Roads closed & detours"
    assert entry["author"] == "Ada Lovelace"
    assert entry["categories"] == ["traffic", "city"]
    assert entry["published"] == "2026-03-02T09:00:00Z"
    assert result.items[1].variables["feed"] == {"title": "Example updates",
                                                 "link": "https://updates.example.org/"}


def test_an_unchanged_feed_is_a_304_with_the_validators_sent_back_and_no_items(
        server: FeedServer) -> None:
    server.put("/news.xml", rss(_entries(1)))
    first = _poll(server, settings={"initial": "fire-existing"})
    etag = server.documents["/news.xml"].etag
    assert first.cursor["etag"] == etag
    assert first.cursor["modified"] == server.documents["/news.xml"].last_modified

    again = _poll(server, first.cursor)

    last = server.seen("/news.xml")[-1]
    assert last.headers["if-none-match"] == etag
    assert last.headers["if-modified-since"] == first.cursor["modified"]
    assert again.items == []
    assert again.cursor == first.cursor


def test_last_modified_alone_gives_a_304(server: FeedServer) -> None:
    # given a server that sends Last-Modified but no ETag
    server.put("/news.xml", rss(_entries(1)))
    doc = server.documents["/news.xml"]
    doc.etag = None
    first = _poll(server)
    assert "etag" not in first.cursor
    assert first.cursor["modified"] == doc.last_modified

    again = _poll(server, first.cursor)

    assert server.seen("/news.xml")[-1].headers["if-modified-since"] == doc.last_modified
    assert again.items == []
    assert again.cursor == first.cursor


def test_a_reordered_feed_or_an_entry_that_comes_back_fires_nothing_again(
        server: FeedServer) -> None:
    server.put("/news.xml", rss(_entries(1, 2, 3)))
    cursor = _poll(server).cursor
    # the feed re-orders its entries (and so has a new ETag)
    server.put("/news.xml", rss(list(reversed(_entries(1, 2, 3)))))
    reordered = _poll(server, cursor)
    assert reordered.items == []
    # entry 2 drops out, then comes back beside a new one
    server.put("/news.xml", rss(_entries(1, 3)))
    dropped = _poll(server, reordered.cursor)
    server.put("/news.xml", rss(_entries(1, 2, 3, 4)))
    back = _poll(server, dropped.cursor)

    assert dropped.items == []
    assert _ids(back) == ["urn:news:4"]


def test_max_items_cuts_a_poll_with_more_and_the_next_polls_start_the_rest(
        server: FeedServer) -> None:
    server.put("/news.xml", rss([]))
    cursor = _poll(server).cursor
    server.put("/news.xml", rss(_entries(*range(1, 6))))

    first = _poll(server, cursor, settings={"maxItems": "2"})
    # a cut poll keeps no validator: the poll right after must not hear 304
    assert _ids(first) == ["urn:news:1", "urn:news:2"]
    assert first.more
    assert "etag" not in first.cursor
    assert "modified" not in first.cursor
    second = _poll(server, first.cursor, settings={"maxItems": "2"})
    assert _ids(second) == ["urn:news:3", "urn:news:4"]
    assert second.more
    third = _poll(server, second.cursor, settings={"maxItems": "2"})
    assert _ids(third) == ["urn:news:5"]
    assert not third.more
    assert third.cursor["etag"] == server.documents["/news.xml"].etag
    assert "if-none-match" not in server.seen("/news.xml")[-1].headers


def test_a_body_over_the_bound_is_refused_whether_declared_or_streamed(
        server: FeedServer) -> None:
    # a 6 MiB feed, once with Content-Length, once chunked (its size known only by reading)
    big = rss([Entry(f"urn:big:{n}", "x" * 1000, None, T0, "y" * 5000)
               for n in range(1050)])
    assert len(big) > 6 * 1024 * 1024
    server.put("/declared.xml", big)
    server.put("/chunked.xml", big, chunked=True)

    declared = _fails(server, path="/declared.xml")
    streamed = _fails(server, path="/chunked.xml")

    for failure in (declared, streamed):
        assert "to be at most 5,242,880 bytes" in failure.message
        assert not failure.retryable
    # and the deployment's bound applies
    server.put("/small.xml", rss(_entries(1, 2, 3)), chunked=True)
    assert "at most 500 bytes" in _fails(server, path="/small.xml",
                                         ctx_settings={"max_bytes": "500"}).message


@pytest.mark.parametrize("body", [b"<rss version='2.0'><channel><item><title>broken",
                                  b"this is not xml <<<",
                                  b"<html><body><p>Our new website</p></body></html>",
                                  b""],
                         ids=["truncated", "garbage", "html", "empty"])
def test_what_is_not_a_feed_fails_the_poll_clearly(server: FeedServer, body: bytes) -> None:
    server.put("/news.xml", body, "text/html")

    failure = _fails(server)

    assert failure.message.startswith(
        f"Expected an RSS or Atom feed at {server.url}/news.xml, but the answer is not one")


def test_a_feed_that_is_not_well_formed_starts_only_its_entries_with_an_id(
        server: FeedServer) -> None:
    # given a document cut short after its first entry: read leniently, the cut entry has
    # neither id nor link, so nothing names it reliably
    whole = rss(_entries(1)).decode()
    server.put("/news.xml", (whole[:whole.index("</channel>")]
                             + "<item><title>Cut sh").encode())

    result = _poll(server, settings={"initial": "fire-existing"})

    assert _ids(result) == ["urn:news:1"]


def test_an_entry_without_id_is_known_by_its_link_else_by_its_title_and_date(
        server: FeedServer) -> None:
    server.put("/news.xml", rss([]))
    cursor = _poll(server).cursor
    entries = [Entry(None, "Linked", "/relative/page", T0 + timedelta(hours=1)),
               Entry(None, "Bare", None, T0)]
    server.put("/news.xml", rss(entries))

    result = _poll(server, cursor)
    # the same entries served again (a new ETag) are the same entries
    server.put("/news.xml", rss(entries, title="Renamed"))
    again = _poll(server, result.cursor)

    bare, linked = result.items
    assert linked.dedup_key == "entry:/relative/page"
    # a relative link resolves against where the feed was found
    assert linked.variables["entry"]["link"] == f"{server.url}/relative/page"
    assert bare.dedup_key.startswith("entry:sha256:")
    assert bare.variables["entry"]["title"] == "Bare"
    assert again.items == []


def test_an_id_longer_than_a_dedup_key_may_be_is_hashed(server: FeedServer) -> None:
    long_id = "urn:long:" + "z" * 2000
    server.put("/news.xml", rss([Entry(long_id, "Long", None, T0)]))

    (item,) = _poll(server, settings={"initial": "fire-existing"}).items

    assert item.dedup_key.startswith("entry-sha256:")
    assert len(item.dedup_key) <= MAX_DEDUP_KEY
    assert len(item.variables["entry"]["id"]) <= 2000


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (403, False), (404, False),
                                                   (410, False), (429, True), (500, True),
                                                   (503, True)])
def test_an_error_status_fails_the_poll_retryable_only_when_it_may_pass(
        server: FeedServer, status: int, retryable: bool) -> None:
    server.answer("/news.xml", status)

    # a URL with a user and a token in its query: neither may reach the message
    failure = _fails(server, url=server.url.replace("http://", "http://ada:s3cret@")
                     + "/news.xml?token=t0ps3cret")

    assert failure.message.startswith(f"Expected the feed at {server.url}/news.xml to answer "
                                      f"200, but it answered {status}")
    assert failure.retryable is retryable
    assert "s3cret" not in failure.message
    assert "t0ps3cret" not in failure.message


def test_a_redirect_is_followed_and_a_refused_connection_fails_retryable(
        server: FeedServer) -> None:
    server.put("/new.xml", rss(_entries(1)))
    server.answer("/old.xml", 301, location="/new.xml")

    result = _poll(server, path="/old.xml", settings={"initial": "fire-existing"})
    assert _ids(result) == ["urn:news:1"]

    # a port nothing listens on
    failure = _fails(server, url="http://127.0.0.1:9/news.xml")
    assert failure.retryable
    assert failure.message == ("Expected the feed at http://127.0.0.1:9/news.xml to answer, "
                               "but the request failed: ConnectError")


def test_the_deploy_check_refuses_a_missing_or_non_http_url_and_a_bad_max_items() -> None:
    trigger = FeedTrigger()

    assert list(trigger.check({"url": "https://example.org/feed.xml"})) == []
    assert list(trigger.check({})) == [
        "Expected laneway:url, the feed's http or https URL, but there is none"]
    assert list(trigger.check({"url": "file:///etc/passwd"})) == [
        "Expected laneway:url to be an http or https URL, but got 'file:///etc/passwd'"]
    assert list(trigger.check({"url": "ftp://example.org/feed"}))
    assert list(trigger.check({"url": "https://example.org/f", "maxItems": "0"})) == [
        "Expected laneway:maxItems to be a whole number from 1 to 1000, but got '0'"]


def test_a_diagram_declaring_a_feed_without_url_is_refused_with_its_start_event(
        tmp_path: Path) -> None:
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:message id="m" name="news" laneway:trigger="feed" laneway:url="gopher://x"/>
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="news_arrived"><bpmn:messageEventDefinition messageRef="m"/>
    </bpmn:startEvent>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f" sourceRef="news_arrived" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""
    path = tmp_path / "news.bpmn"
    path.write_text(xml)

    problems = check_triggers(parse(path.read_bytes(), str(path)))

    assert [(p.element_id, p.line) for p in problems] == [("news_arrived", 6)]
    assert "Expected laneway:url to be an http or https URL" in problems[0].message
