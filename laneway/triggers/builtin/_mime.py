"""Reading an untrusted e-mail (RFC 5322 / MIME) into a process's variables: the headers, the
text body and the attachments, each bounded. Attachment bytes go to files, never to variables.

Every part of a mail is the sender's to choose: a header that does not parse, a charset nobody
knows, a file name like `../../etc/passwd`, ten thousand parts, nesting deep enough to exhaust
the parser's recursion. Each is bounded here or read as best it can be, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

MAX_TEXT = 64 * 1024
"""The largest text body given as a variable, in bytes as the start command carries it (JSON,
UTF-8); `textTruncated` says when it was cut. With the other variables' bounds, a mail's
variables stay well below the 256 KiB a start may carry."""
MAX_HTML = 256 * 1024
"""An HTML body is read up to this many characters when there is no plain text part."""
MAX_HEADER = 1000
"""The longest header value (subject, a name) given as a variable, in characters."""
MAX_ADDRESSES = 50
"""Addresses given per header (to, cc)."""
MAX_ADDRESS = 320
"""The longest address given, in characters (a valid one has at most 254)."""
MAX_PARTS = 500
"""MIME parts looked at per message."""
MAX_ATTACHMENTS = 50
"""Attachments stored per message; the others are listed with `path` null."""
MAX_FILE_NAME = 120
"""The longest stored file name, in characters (the extension kept)."""


def parse(raw: bytes, *, headers_only: bool = False) -> EmailMessage:
    """The message (or only its header block) parsed with the standard library's modern
    policy; a malformed message parses as far as it can (defects are recorded, not raised)."""
    parser = BytesParser(policy=policy.default)
    message = parser.parsebytes(raw, headersonly=headers_only)
    assert isinstance(message, EmailMessage)  # what policy.default makes
    return message


def _clip(text: str, limit: int = MAX_HEADER) -> str:
    return text if len(text) <= limit else text[:limit]


def header_text(message: Message, name: str) -> str:
    """A header's decoded text ('' when absent); a header the parser chokes on gives its raw
    text instead of failing the whole message."""
    try:
        value = message.get(name)
    except Exception:  # a malformed header: the modern parser raises on some
        value = None
        with contextlib.suppress(Exception):
            value = message.get_all(name, [None])[0]
    return "" if value is None else _clip(" ".join(str(value).split()))


def addresses(message: Message, name: str) -> list[tuple[str, str]]:
    """(display name, address) of each address in a header, at most MAX_ADDRESSES."""
    out: list[tuple[str, str]] = []
    try:
        header = message.get(name)
        for address in getattr(header, "addresses", ()):
            if len(out) >= MAX_ADDRESSES:
                break
            out.append((_clip(address.display_name), _clip(address.addr_spec, MAX_ADDRESS)))
    except Exception:  # a header the parser chokes on: no addresses rather than no item
        return out
    return out


def iso_date(message: Message) -> str | None:
    """The Date header as ISO 8601, or None when absent or unreadable."""
    try:
        header = message.get("date")
        when = getattr(header, "datetime", None)
        return None if when is None else str(when.isoformat())
    except Exception:  # an impossible date (month 13) raises in the parser
        return None


class _TextOfHtml(HTMLParser):
    """The readable text of an HTML body: scripts and styles dropped, block ends as lines."""

    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
                         "table", "ul", "ol", "blockquote", "pre", "hr"})
    _HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """HTML stripped to its text (at most MAX_HTML characters of it are read)."""
    reader = _TextOfHtml()
    reader.feed(html[:MAX_HTML])
    reader.close()
    lines = (" ".join(line.split()) for line in "".join(reader.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _part_text(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except Exception:  # an unknown charset or a broken transfer encoding
        pass
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def body_text(message: EmailMessage) -> tuple[str, bool]:
    """The text body: the text/plain part, else the HTML part stripped to text; and whether
    it was cut at MAX_TEXT bytes."""
    text = ""
    with contextlib.suppress(Exception):  # a structure get_body cannot walk: no text
        plain = message.get_body(preferencelist=("plain",))
        if plain is not None:
            text = _part_text(plain)
        else:
            html = message.get_body(preferencelist=("html",))
            if html is not None:
                text = html_to_text(_part_text(html))
    return _fit(text.replace("\r\n", "\n").strip(), MAX_TEXT)


def _json_size(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def _fit(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to at most `limit` bytes as JSON (a control character takes six)."""
    cut = len(text) > limit
    text = text[:limit]
    size = _json_size(text)
    if size <= limit:
        return text, cut
    low, high = 0, len(text)  # the longest prefix that fits: about 16 rounds
    while low < high:
        middle = (low + high + 1) // 2
        if _json_size(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:low], True


def safe_file_name(name: str | None, fallback: str = "attachment") -> str:
    """A file name safe to create in a folder of our own: the last path component only
    (`../../etc/passwd` is `passwd`), no control or separator characters, no leading dot,
    at most MAX_FILE_NAME characters with the extension kept."""
    text = unicodedata.normalize("NFKC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(c if c.isalnum() or c in "-_.+ ()[]" else "_" for c in text)
    text = re.sub(r"_{2,}", "_", text).strip(" .")
    if not text or set(text) <= {"_", "."}:
        text = fallback
    if len(text) > MAX_FILE_NAME:
        stem, dot, ext = text.rpartition(".")
        ext = ext[:20] if dot and stem else ""
        text = text[:MAX_FILE_NAME - len(ext) - 1] + ("." + ext if ext else "")
    return text


@dataclass
class Attachment:
    name: str
    """The name the sender gave (cleaned of control characters), for people."""
    content_type: str
    size: int
    path: str | None
    """Where its bytes were stored; None when not stored (over a bound)."""

    def variables(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "contentType": self.content_type,
                "path": self.path}


@dataclass
class _Budget:
    bytes_left: int
    files_left: int = MAX_ATTACHMENTS
    names: set[str] = field(default_factory=set)


def _attachment_parts(message: EmailMessage) -> Iterator[Message]:
    for seen, part in enumerate(message.walk()):
        if seen >= MAX_PARTS:
            return
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        if disposition == "attachment" or (disposition != "inline" and part.get_filename()) \
                or (disposition == "inline" and part.get_filename()
                    and part.get_content_maintype() != "text"):
            yield part


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    stem, dot, ext = name.rpartition(".")
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}.{ext}" if dot and stem else f"{name}-{n}"
    taken.add(candidate.lower())
    return candidate


def store_attachments(message: EmailMessage, folder: Path, max_bytes: int) -> list[Attachment]:
    """Each attachment's bytes written to `folder` under a safe, unique name (at most
    MAX_ATTACHMENTS files and `max_bytes` in all); the list of them, stored or not."""
    budget = _Budget(max_bytes)
    found: list[Attachment] = []
    for part in _attachment_parts(message):
        try:
            given = part.get_filename()
        except Exception:  # an RFC 2231 name that does not decode
            given = None
        shown = _clip("".join(c for c in (given or "") if c.isprintable()), 255)
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        path: str | None = None
        if budget.files_left > 0 and len(data) <= budget.bytes_left:
            name = _unique(safe_file_name(given), budget.names)
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / name
            temp = folder / f".{name}.{os.getpid()}.tmp"
            temp.write_bytes(data)
            os.replace(temp, target)  # a reader never sees half a file
            budget.files_left -= 1
            budget.bytes_left -= len(data)
            path = str(target.absolute())  # the service's data directory may be relative
        found.append(Attachment(shown, part.get_content_type(), len(data), path))
        if len(found) >= MAX_PARTS:
            break
    return found


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
