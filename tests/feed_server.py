"""A real HTTP server on 127.0.0.1 that serves feeds as a web server does: an ETag and a
Last-Modified per document, 304 to a matching If-None-Match or If-Modified-Since, redirects,
error statuses, and bodies sent chunked (no Content-Length). RSS 2.0 and Atom 1.0 builders.
Used by the feed trigger's integration and end-to-end tests."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from xml.sax.saxutils import escape, quoteattr

from tests.local_http import serve

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"


@dataclass(frozen=True)
class Entry:
    """One feed entry; None leaves the element out."""

    id: str | None
    title: str | None = None
    link: str | None = None
    published: datetime | None = None
    summary: str | None = None
    author: str | None = None
    categories: Sequence[str] = ()


def rss(entries: Sequence[Entry], *, title: str = "Example news",
        link: str = "https://news.example.org/") -> bytes:
    """An RSS 2.0 document, entries in the given order."""
    items = []
    for e in entries:
        parts = [f"<title>{escape(e.title)}</title>" if e.title is not None else "",
                 f"<link>{escape(e.link)}</link>" if e.link else "",
                 f'<guid isPermaLink="false">{escape(e.id)}</guid>' if e.id else "",
                 f"<pubDate>{format_datetime(e.published)}</pubDate>" if e.published else "",
                 f"<description>{escape(e.summary)}</description>" if e.summary else "",
                 f"<author>{escape(e.author)}</author>" if e.author else "",
                 *(f"<category>{escape(c)}</category>" for c in e.categories)]
        items.append("<item>" + "".join(parts) + "</item>")
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{escape(link)}</link>"
            f"<description>News</description>{''.join(items)}</channel></rss>").encode()


def atom(entries: Sequence[Entry], *, title: str = "Example updates",
         link: str = "https://updates.example.org/") -> bytes:
    """An Atom 1.0 document; summaries are sent as HTML."""
    items = []
    for e in entries:
        stamp = (e.published or datetime(2026, 1, 1, tzinfo=UTC)).isoformat()
        parts = [f"<id>{escape(e.id)}</id>" if e.id else "",
                 f"<title>{escape(e.title)}</title>" if e.title is not None else "",
                 f"<link href={quoteattr(e.link)}/>" if e.link else "",
                 f"<published>{stamp}</published>" if e.published else "",
                 f"<updated>{stamp}</updated>",
                 f'<summary type="html">{escape(e.summary)}</summary>' if e.summary else "",
                 f"<author><name>{escape(e.author)}</name></author>" if e.author else "",
                 *(f"<category term={quoteattr(c)}/>" for c in e.categories)]
        items.append("<entry>" + "".join(parts) + "</entry>")
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(title)}</title><link href={quoteattr(link)}/>"
            f"<id>urn:example:updates</id><updated>2026-01-01T00:00:00Z</updated>"
            f"{''.join(items)}</feed>").encode()


@dataclass
class Document:
    """What the server answers at one path."""

    body: bytes = b""
    content_type: str = RSS
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200
    location: str | None = None
    """For a 3xx: where to."""
    chunked: bool = False
    """Sent without Content-Length, in chunks: the client learns the size only by reading."""


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]


@dataclass
class FeedServer:
    """The documents by path and the requests received; `url` is the base address."""

    url: str = ""
    documents: dict[str, Document] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _version: int = 0

    def put(self, path: str, body: bytes, content_type: str = RSS, *,
            validators: bool = True, chunked: bool = False) -> None:
        """Publish `body` at `path`, with a new ETag and Last-Modified (the content's hash,
        and a second later than the last one, so If-Modified-Since tells them apart)."""
        with self.lock:
            self._version += 1
            etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"' if validators else None
            modified = (format_datetime(datetime(2026, 1, 1, tzinfo=UTC).replace(
                second=self._version % 60, minute=self._version // 60), usegmt=True)
                if validators else None)
            self.documents[path] = Document(body, content_type, etag, modified,
                                            chunked=chunked)

    def answer(self, path: str, status: int, location: str | None = None) -> None:
        """Answer `path` with `status` (and a Location for a redirect)."""
        with self.lock:
            self.documents[path] = Document(b"nope", "text/plain", status=status,
                                            location=location)

    def seen(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


def _not_modified(doc: Document, headers: dict[str, str]) -> bool:
    if "if-none-match" in headers:  # RFC 9110: If-Modified-Since is ignored then
        return doc.etag is not None and headers["if-none-match"] == doc.etag
    since = headers.get("if-modified-since")
    if since and doc.last_modified:
        try:
            return parsedate_to_datetime(doc.last_modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    """Serve on a free port of 127.0.0.1 in a thread for the duration of the block."""
    state = FeedServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.lock:
                state.requests.append(Request(self.path, headers))
                doc = state.documents.get(self.path.split("?")[0])
            if doc is None:
                doc = Document(b"no such feed", "text/plain", status=404)
            if doc.status == 200 and _not_modified(doc, headers):
                self.send_response(304)
                if doc.etag:
                    self.send_header("ETag", doc.etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(doc.status)
            self.send_header("Content-Type", doc.content_type)
            if doc.etag:
                self.send_header("ETag", doc.etag)
            if doc.last_modified:
                self.send_header("Last-Modified", doc.last_modified)
            if doc.location:
                self.send_header("Location", doc.location)
            if not doc.chunked:
                self.send_header("Content-Length", str(len(doc.body)))
                self.end_headers()
                self.wfile.write(doc.body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(doc.body), 65536):
                chunk = doc.body[start:start + 65536]
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests assert on what was received."""

    # a client that stopped reading a body too large is expected: the server logs no error
    with serve(Handler) as url:
        state.url = url
        yield state
