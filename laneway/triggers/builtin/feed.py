"""`feed`: one instance per new entry of an RSS or Atom feed.

Declared on a message start event's `<bpmn:message>`:

    <bpmn:message id="Msg_News" name="news" laneway:trigger="feed"
                  laneway:url="https://example.org/news.xml" laneway:interval="PT15M"/>

Settings: `laneway:url` (http or https, required), `laneway:maxItems` (starts per poll,
default 100), `laneway:initial` (`skip-existing`, the default: the first poll records the
entries already there) and `laneway:interval`. The deployment bounds the body read
(`LANEWAY_TRIGGER_FEED_MAX_BYTES`, default 5 MiB).

The feed is fetched with the service's HTTP client (a conditional GET: the ETag and
Last-Modified of the last answer are sent back, and a 304 is no news) and parsed by feedparser
from the bytes read, so feedparser never opens a URL or a file itself. An entry is known by its
id (`<guid>`, `<id>`), else its link, else a hash of its title and date; the dedup key is
`entry:<id>`. The cursor keeps the validators and the digests of the entries seen (every entry
of the last answer and up to `SEEN_KEEP` older ones), so an entry already seen never comes back
as an item, even when the feed re-orders or drops and re-adds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import httpx
import lxml.etree
import lxml.html

from laneway.attributes import Attribute, polling
from laneway.http_reads import read_at_most
from laneway.triggers._api import (
    INITIAL_POLICIES,
    MAX_DEDUP_KEY,
    InitialPolicy,
    PollRequest,
    PollResult,
    Trigger,
    TriggerContext,
    TriggerFailed,
    TriggerItem,
)
from laneway.triggers._settings import whole_number

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
"""The largest feed body read (after decompression) unless the deployment sets
`LANEWAY_TRIGGER_FEED_MAX_BYTES`; a larger one fails the poll."""
DEFAULT_MAX_ITEMS = 100
MAX_ITEMS_LIMIT = 1000
"""The most `laneway:maxItems` may ask for."""
MAX_ENTRIES = 10_000
"""Entries read from one answer (in document order); the rest are not looked at."""
SEEN_KEEP = 2000
"""Digests of entries seen that are kept beyond those of the last answer: an entry that left
the feed and comes back within this many is still known."""
MAX_SUMMARY = 2000
"""The longest `entry.summary` variable, in characters (the text, HTML tags removed)."""
_MAX_TEXT = 500  # titles, authors
_MAX_URL = 2000
_MAX_CATEGORIES = 20
_MAX_CATEGORY = 100
_MAX_VALIDATOR = 512  # an ETag or Last-Modified longer than this is not kept
_MAX_HTML_IN = 64 * 1024  # how much of an entry's HTML is read to make its text
_RETRYABLE_4XX = frozenset({408, 425, 429})
# the fetch's share of the poll's time: the rest is for parsing, and this message (which says
# what was slow) comes before the scheduler's own timeout
_FETCH_SHARE = 0.8
_ACCEPT = ("application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
           "application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1")


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    """The entry's id (or link, or hash): what the dedup key is made of."""
    when: float | None
    """Published (else updated) as epoch seconds, for the oldest-first order."""
    variables: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Feed:
    title: str | None
    link: str | None
    entries: list[_Entry]


def _digest(key: str) -> str:
    # 64 bits: two of the cursor's at most ~12,000 digests collide with odds of about 1e-11
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def dedup_key(entry_id: str) -> str:
    """`entry:<id>`, or `entry-sha256:<hex>` when that would be longer than MAX_DEDUP_KEY."""
    key = f"entry:{entry_id}"
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return f"entry-sha256:{hashlib.sha256(entry_id.encode()).hexdigest()}"


def _where(url: str) -> str:
    """The URL for messages and logs: no user info, no query (either may hold a token)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(an invalid URL)"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


def _url_problem(url: str | None) -> str | None:
    if url is None or not url.strip():
        return "Expected laneway:url, the feed's http or https URL, but there is none"
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL:
        return f"Expected laneway:url to be an http or https URL, but got {url[:200]!r}"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return f"Expected laneway:url to be an http or https URL, but got {url[:200]!r}"
    return None


def _max_items(settings: Mapping[str, str]) -> int:
    return whole_number(settings, "maxItems", DEFAULT_MAX_ITEMS, 1, MAX_ITEMS_LIMIT)


def _max_bytes(ctx: TriggerContext) -> int:
    raw = ctx.settings.get("max_bytes")
    try:
        return max(1, int(raw)) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        ctx.log.warning("LANEWAY_TRIGGER_FEED_MAX_BYTES is not a number (%r); reading at most "
                        "%d bytes", raw, DEFAULT_MAX_BYTES)
        return DEFAULT_MAX_BYTES


def _bounded(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value:
        return None
    return value if len(value) <= limit else value[:limit - 1] + "…"


def _text(value: object, kind: object, limit: int) -> str | None:
    """A title or summary as plain text: feedparser gives sanitized HTML for HTML content."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value
    if isinstance(kind, str) and "html" in kind:
        # an empty or unreadable fragment keeps what feedparser gave
        with contextlib.suppress(lxml.etree.ParserError, ValueError):
            text = lxml.html.fragment_fromstring(value[:_MAX_HTML_IN],
                                                 create_parent="div").text_content()
    return _bounded(" ".join(text.split()), limit)


def _iso(parsed: object) -> tuple[str | None, float | None]:
    """feedparser's UTC struct_time as ISO 8601 and epoch seconds."""
    if not isinstance(parsed, time.struct_time):
        return None, None
    try:
        when = datetime(*parsed[:6], tzinfo=UTC)
    except (ValueError, OverflowError):
        return None, None
    return when.isoformat().replace("+00:00", "Z"), when.timestamp()


def _link(value: object, base: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return _bounded(urljoin(base, value.strip()), _MAX_URL)


def _key(fields: Mapping[str, Any]) -> tuple[str, bool]:
    """What tells the entry apart: its id, else its link, else a hash of its title and date;
    and whether it was the hash."""
    for name in ("id", "link"):
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip(), False
    basis = f"{fields.get('title') or ''}\n{fields.get('published') or fields.get('updated') or ''}"
    return "sha256:" + hashlib.sha256(basis.encode()).hexdigest(), True


def _entry(raw: Mapping[str, Any], base: str) -> _Entry:
    # feedparser's dict answers `updated_parsed` with `published_parsed` (and a warning) when
    # the entry has none; a plain dict of what the entry has says only what the feed said
    fields = dict(raw)
    key, _ = _key(fields)
    published, published_at = _iso(fields.get("published_parsed"))
    updated, updated_at = _iso(fields.get("updated_parsed"))
    tags = fields.get("tags") or []
    categories = [term for term in (_bounded(t.get("term"), _MAX_CATEGORY)
                                    for t in tags[:_MAX_CATEGORIES] if isinstance(t, Mapping))
                  if term]
    variables = {
        "id": _bounded(key, _MAX_URL),
        "title": _text(fields.get("title"), (fields.get("title_detail") or {}).get("type"),
                       _MAX_TEXT),
        "link": _link(fields.get("link"), base),
        "published": published,
        "updated": updated,
        "summary": _text(fields.get("summary"),
                         (fields.get("summary_detail") or {}).get("type"), MAX_SUMMARY),
        "author": _bounded(fields.get("author"), _MAX_TEXT),
        "categories": categories,
    }
    return _Entry(key, published_at if published_at is not None else updated_at, variables)


def _parse(body: bytes, headers: Mapping[str, str], base: str, where: str,
           log: logging.LoggerAdapter[logging.Logger]) -> _Feed:
    """The feed from the bytes read (run in a thread: parsing is CPU work); relative links
    resolve against `base`, where the feed was found."""
    # a stream, never bytes or a str: feedparser opens a str that looks like a URL, and
    # `open()` takes bytes as a file name, so a body reading "/etc/passwd" would be read.
    # No Content-Location: feedparser would resolve a relative <guid> against it too, and an
    # entry's id would change with the feed's address (every entry firing again after a move)
    parsed = feedparser.parse(io.BytesIO(body), response_headers=dict(headers))
    entries = (parsed.get("entries") or [])[:MAX_ENTRIES]
    why = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if why is not None and entries:
        # read leniently (feedparser's loose parser): an entry with neither id nor link may be
        # cut short (a truncated document), so its title-and-date hash is no name for it
        kept = [e for e in entries if not _key(dict(e))[1]]
        if len(kept) < len(entries):
            log.warning("the feed at %s is not well-formed (%s): %d entries without an id or "
                        "link are left out", where, type(why).__name__,
                        len(entries) - len(kept))
        entries = kept
    if not entries and (why is not None or not parsed.get("version")):
        detail = f" ({type(why).__name__}: {str(why)[:200]})" if why else ""
        raise TriggerFailed(f"Expected an RSS or Atom feed at {where}, but the answer is not "
                            f"one{detail}")
    feed = dict(parsed.get("feed") or {})
    title = _text(feed.get("title"), (feed.get("title_detail") or {}).get("type"), _MAX_TEXT)
    return _Feed(title, _link(feed.get("link"), base), [_entry(raw, base) for raw in entries])


def _oldest_first(entries: Sequence[_Entry]) -> list[_Entry]:
    # feeds list the newest first by convention; when every entry is dated, the dates decide
    # (a stable sort: entries of one date keep the reversed document order)
    ordered = list(reversed(entries))
    if all(e.when is not None for e in ordered):
        ordered.sort(key=lambda e: e.when or 0.0)
    return ordered


def _pick(entries: Sequence[_Entry], previous: Sequence[str], skip: bool,
          max_items: int) -> tuple[list[_Entry], list[str], bool]:
    """The entries to start (oldest first, at most `max_items`), the digests the next cursor
    keeps, and whether entries were left over."""
    seen = set(previous)
    fresh: list[_Entry] = []
    in_feed: dict[str, None] = {}  # digests in document order, once each
    for entry in entries:
        digest = _digest(entry.key)
        if digest not in in_feed:
            in_feed[digest] = None
            if digest not in seen:
                fresh.append(entry)
    if skip:
        started: list[_Entry] = []
        handled = seen | in_feed.keys()
    else:
        started = _oldest_first(fresh)[:max_items]
        handled = seen | {_digest(e.key) for e in started}
    # every handled entry still in the feed (never forgotten while the feed shows it), then
    # up to SEEN_KEEP older ones; an entry left over by the bound is not kept: it comes next
    kept = [d for d in in_feed if d in handled]
    kept_set = set(kept)
    kept += [d for d in previous if d not in kept_set][:SEEN_KEEP]
    return started, kept, len(started) < len(fresh) and not skip


def _initial(settings: Mapping[str, str], default: InitialPolicy) -> InitialPolicy:
    # the deploy check refused any other value; an old schedule's is read as the default
    value = settings.get("initial")
    return next((p for p in INITIAL_POLICIES if p == value), default)


class FeedTrigger(Trigger):
    """RSS and Atom feeds."""

    type = "feed"

    attributes = (
        Attribute("url", "Feed URL", "RSS or Atom, http or https", required=True),
        Attribute("maxItems", "Max items per poll", f"1 to {MAX_ITEMS_LIMIT}; default "
                  f"{DEFAULT_MAX_ITEMS}", kind="number", low=1, high=MAX_ITEMS_LIMIT),
        *polling("PT15M"),
    )
    initial = "skip-existing"
    default_interval_ms = 15 * 60_000  # a feed reader's usual pace; laneway:interval to change

    def check(self, settings: Mapping[str, str]) -> Iterator[str]:
        problem = _url_problem(settings.get("url"))
        if problem:
            yield problem
        try:
            _max_items(settings)
        except ValueError as exc:
            yield str(exc)

    async def poll(self, request: PollRequest, ctx: TriggerContext) -> PollResult:
        settings = request.schedule.settings
        problem = _url_problem(settings.get("url"))
        if problem:
            raise TriggerFailed(problem, retryable=False)
        url = settings["url"].strip()
        try:
            max_items = _max_items(settings)
        except ValueError as exc:
            raise TriggerFailed(str(exc), retryable=False) from None
        cursor: dict[str, Any] = request.cursor if isinstance(request.cursor, dict) else {}
        first = request.cursor is None
        status, body, found_at, headers = await self._fetch(url, cursor, ctx)
        if status == 304:
            return PollResult([], cursor)
        feed = await asyncio.to_thread(_parse, body, headers, found_at, _where(url), ctx.log)

        seen = cursor.get("seen")
        previous = [d for d in seen if isinstance(d, str)] if isinstance(seen, list) else []
        skip = first and _initial(settings, self.initial) == "skip-existing"
        started, kept, more = _pick(feed.entries, previous, skip, max_items)
        if skip:
            ctx.log.info("first poll: the %d entries already in the feed are not started",
                         len(kept))
        next_cursor: dict[str, Any] = {"seen": kept}
        if not more:
            # a cut poll polls again at once: an If-None-Match then would hear 304 and never
            # see the entries left over
            next_cursor.update({k: v for k, v in (("etag", headers.get("etag")),
                                                  ("modified", headers.get("last-modified")))
                                if v and len(v) <= _MAX_VALIDATOR})
        feed_vars = {"title": feed.title, "link": feed.link}
        items = [TriggerItem(dedup_key(e.key), {"entry": e.variables, "feed": feed_vars},
                             {"title": (e.variables["title"] or "")[:200],
                              "link": (e.variables["link"] or "")[:500]})
                 for e in started]
        return PollResult(items, next_cursor, more=more)

    async def _fetch(self, url: str, cursor: Mapping[str, Any],
                     ctx: TriggerContext) -> tuple[int, bytes, str, dict[str, str]]:
        """(status, body, final URL, headers) of a conditional GET, the body read up to the
        bound."""
        where = _where(url)
        limit = _max_bytes(ctx)
        headers = {"Accept": _ACCEPT, "User-Agent": "Laneway feed trigger"}
        if isinstance(cursor.get("etag"), str):
            headers["If-None-Match"] = cursor["etag"]
        if isinstance(cursor.get("modified"), str):
            headers["If-Modified-Since"] = cursor["modified"]
        try:
            async with asyncio.timeout(ctx.timeout * _FETCH_SHARE), ctx.http.stream(
                    "GET", url, headers=headers, timeout=ctx.timeout,
                    follow_redirects=True) as response:
                status = response.status_code
                if status == 304:
                    return 304, b"", url, {}
                if status >= 400:
                    raise TriggerFailed(
                        f"Expected the feed at {where} to answer 200, but it answered {status} "
                        f"{response.reason_phrase[:100]}".rstrip(),
                        retryable=status >= 500 or status in _RETRYABLE_4XX)
                body = await read_at_most(response, limit)
                if body is None:
                    raise self._too_large(where, limit)
                kept = {k: response.headers[k] for k in
                        ("content-type", "content-language", "etag", "last-modified")
                        if k in response.headers}
                return status, body, str(response.url), kept
        except TimeoutError:
            raise TriggerFailed(f"Expected the feed at {where} to answer within "
                                f"{ctx.timeout * _FETCH_SHARE:g} s, but it did not") from None
        except httpx.HTTPError as exc:
            raise TriggerFailed(f"Expected the feed at {where} to answer, but the request "
                                f"failed: {type(exc).__name__}") from None

    @staticmethod
    def _too_large(where: str, limit: int) -> TriggerFailed:
        return TriggerFailed(f"Expected the feed at {where} to be at most {limit:,} bytes, but "
                             f"it is larger (LANEWAY_TRIGGER_FEED_MAX_BYTES)", retryable=False)
