"""`imap-mailbox`: each new message in a folder of an IMAP mailbox starts an instance.

    <bpmn:message id="Msg_Mail" name="mail" laneway:trigger="imap-mailbox"
                  laneway:host="imap.example.org" laneway:folder="INBOX"
                  laneway:subjectContains="invoice" laneway:after="move:Done"/>

The standard library's imaplib over TLS (`tls`: `ssl`, the default; `starttls`; `none` for a
server on loopback only), run in a worker thread. The schedule's credentials are `username` and
`password` (`PUT /api/schedules/{id}/credentials`). Polling, not IDLE: each poll logs in,
EXAMINEs the folder (read-only: a poll never changes the mailbox) and reads the messages whose
UID is above the cursor's.

The cursor is `{"folder", "uidValidity", "last"}`: the folder's UIDVALIDITY and the last UID
read. A different UIDVALIDITY (the folder was recreated or the server rebuilt its index) makes
the old UIDs meaningless: the trigger then starts over as `skip-existing` would, from the
folder's next UID, and logs it. Each message is an item with the dedup key
`mid:<Message-ID>` (hashed when long), else `uid:<uidvalidity>:<uid>`, and the variables
`{"mail": {...}}` (docs/triggers.md); attachments are written to
`<data dir>/<folder hash>-<uidvalidity>-<uid>/` and listed with their paths. After the starts,
`acknowledged` marks the messages \\Seen, or moves them (`after="move:<folder>"`), or leaves
them (`after="none"`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import imaplib
import ipaddress
import re
import ssl
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from laneway.attributes import Attribute, polling
from laneway.regex import RegexError, compile_regex
from laneway.triggers._api import (
    PollRequest,
    PollResult,
    Trigger,
    TriggerContext,
    TriggerFailed,
    TriggerItem,
)
from laneway.triggers._settings import whole_number
from laneway.triggers.builtin import _mime

DEFAULT_MAX_ITEMS = 50
MAX_ITEMS = 1000
DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024
"""A larger message becomes an item with its headers and size only (`tooLarge`)."""
MAX_MESSAGE_BYTES = 100 * 1024 * 1024
MAX_SCAN = 1000
"""Messages looked at per poll, those the filters drop included (`more` when cut)."""
MAX_HEADER_BYTES = 64 * 1024
"""Bytes of a message's header block read for the filters."""
_SEARCH_WINDOW = 10_000  # UIDs per SEARCH: an answer stays far below imaplib's line bound
_FETCH_BATCH = 50  # header blocks per FETCH
_MAX_MESSAGE_ID = 200  # a longer Message-ID is hashed into the dedup key
_SOCKET_TIMEOUT = 30.0
_TLS = ("ssl", "starttls", "none")
_DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


# -- settings ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Config:
    host: str
    port: int
    tls: str
    folder: str
    subject_contains: str | None
    subject_pattern: Any | None
    senders: tuple[str, ...]
    after: str
    """`seen`, `none` or `move`."""
    move_to: str | None
    max_items: int
    max_message_bytes: int
    initial: str


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _folder_problem(setting: str, name: str) -> str | None:
    if not name or len(name) > 255 or any(not c.isprintable() for c in name):
        return f"Expected {setting} to be a folder name of 1 to 255 printable characters, " \
               f"but got {name[:80]!r}"
    return None


def _int(settings: Mapping[str, str], name: str, default: int, low: int, high: int,
         problems: list[str]) -> int:
    try:
        return whole_number(settings, name, default, low, high)
    except ValueError as exc:
        problems.append(str(exc))
        return default


def _parse(settings: Mapping[str, str]) -> tuple[_Config, list[str]]:
    problems: list[str] = []
    host = settings.get("host", "").strip().removeprefix("[").removesuffix("]")
    if not host:
        problems.append("Expected laneway:host, the IMAP server's host name, but there is none")
    elif len(host) > 253 or any(c.isspace() or c in "/@?#[]" for c in host):
        problems.append(f"Expected laneway:host to be a host name such as 'imap.example.org', "
                        f"but got {host[:80]!r}")
    tls = settings.get("tls", "ssl").strip()
    if tls not in _TLS:
        problems.append(f"Expected laneway:tls to be one of {', '.join(_TLS)}, but got {tls!r}")
        tls = "ssl"
    elif tls == "none" and host and not _is_loopback(host):
        problems.append(f"Expected laneway:tls='none' only for a server on this machine "
                        f"(localhost, 127.0.0.1, ::1), but the host is {host!r}: the password "
                        f"would cross the network in the clear; use ssl or starttls")
    port = _int(settings, "port", _DEFAULT_PORTS[tls], 1, 65535, problems)
    folder = settings.get("folder", "INBOX")
    if (why := _folder_problem("laneway:folder", folder)) is not None:
        problems.append(why)
    pattern = None
    if (text := settings.get("subjectPattern")) is not None:
        try:
            pattern = compile_regex(text)
        except RegexError as exc:
            problems.append(f"laneway:subjectPattern: {exc}")
    senders = tuple(s.strip().casefold() for s in settings.get("from", "").split(",")
                    if s.strip())
    after_text = settings.get("after", "seen").strip()
    after, colon, move_to = after_text.partition(":")
    if after not in ("seen", "none", "move") or (after == "move") != bool(colon):
        problems.append(f"Expected laneway:after to be 'seen', 'none' or 'move:<folder>', but "
                        f"got {after_text!r}")
        after, move_to = "seen", ""
    elif after == "move":
        move_to = move_to.strip()
        if (why := _folder_problem("the folder of laneway:after='move:...'", move_to)):
            problems.append(why)
        elif move_to == folder:
            problems.append(f"Expected laneway:after to move the messages to another folder "
                            f"than laneway:folder, but both are {folder!r}")
    subject_contains = settings.get("subjectContains")
    if subject_contains is not None and len(subject_contains) > _mime.MAX_HEADER:
        problems.append(f"Expected laneway:subjectContains of at most {_mime.MAX_HEADER} "
                        f"characters, but it has {len(subject_contains)}")
    config = _Config(
        host=host, port=port, tls=tls, folder=folder,
        subject_contains=subject_contains.casefold() if subject_contains else None,
        subject_pattern=pattern, senders=senders, after=after,
        move_to=move_to or None,
        max_items=_int(settings, "maxItems", DEFAULT_MAX_ITEMS, 1, MAX_ITEMS, problems),
        max_message_bytes=_int(settings, "maxMessageBytes", DEFAULT_MAX_MESSAGE_BYTES, 1024,
                               MAX_MESSAGE_BYTES, problems),
        initial=settings.get("initial", "skip-existing"))
    return config, problems


# -- IMAP details --------------------------------------------------------------------------------

def _utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501, 5.1.3): `Entwürfe` is `Entw&APw-rfe`."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _mailbox(name: str) -> str:
    """A folder name as an IMAP quoted string."""
    return '"' + _utf7(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _uid_set(uids: Sequence[int]) -> str:
    """`1:3,7,9:10` for [1, 2, 3, 7, 9, 10]."""
    ranges: list[str] = []
    ordered = sorted(set(uids))
    start = prev = ordered[0]
    for uid in [*ordered[1:], None]:
        if uid is not None and uid == prev + 1:
            prev = uid
            continue
        ranges.append(str(start) if start == prev else f"{start}:{prev}")
        if uid is not None:
            start = prev = uid
    return ",".join(ranges)


def _text(data: Any) -> str:
    """The text of an imaplib answer (bytes or a list of them), for an error message."""
    if isinstance(data, (list, tuple)):
        data = b" ".join(d if isinstance(d, bytes) else b"" for d in data)
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return " ".join(str(data).split())[:300]


_FETCH_UID = re.compile(rb"\bUID (\d+)")
_FETCH_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


@dataclass(slots=True)
class _Fetched:
    uid: int
    size: int | None = None
    data: bytes = b""


def _fetched(data: list[Any]) -> dict[int, _Fetched]:
    """imaplib's FETCH answer, one entry per message: `(b'1 (UID 7 RFC822.SIZE 12
    BODY[HEADER]<0> {45}', b'<literal>')` then `b')'` (or `b' UID 7)'` when the server sends
    UID after the literal)."""
    out: dict[int, _Fetched] = {}
    current: _Fetched | None = None
    meta = b""
    for entry in data:
        if isinstance(entry, tuple):
            meta, literal = entry[0], entry[1]
            current = _Fetched(0, data=literal if isinstance(literal, bytes) else b"")
        elif isinstance(entry, bytes):
            if current is None:
                meta, current = entry, _Fetched(0)
            else:
                meta += b" " + entry
        else:
            continue
        if current is not None and meta.rstrip().endswith(b")"):
            if (uid := _FETCH_UID.search(meta)) is not None:
                current.uid = int(uid.group(1))
                if (size := _FETCH_SIZE.search(meta)) is not None:
                    current.size = int(size.group(1))
                out[current.uid] = current
            current, meta = None, b""
    return out


class _Session:
    """One logged-in IMAP connection (used in a worker thread)."""

    def __init__(self, config: _Config, username: str, password: str, cafile: str | None,
                 timeout: float) -> None:
        self.config = config
        self._password = password
        where = f"{config.host}:{config.port}"
        try:
            context = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise TriggerFailed(f"Expected a CA file the IMAP trigger can read, but {exc}",
                                retryable=False) from None
        try:
            if config.tls == "ssl":
                self.conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    config.host, config.port, ssl_context=context, timeout=timeout)
            else:
                self.conn = imaplib.IMAP4(config.host, config.port, timeout=timeout)
                if config.tls == "starttls":
                    self.conn.starttls(ssl_context=context)
        except ssl.SSLCertVerificationError as exc:
            raise TriggerFailed(f"Expected the IMAP server {where} to show a certificate this "
                                f"service trusts, but {exc.verify_message}",
                                retryable=False) from None
        except imaplib.IMAP4.abort as exc:
            raise TriggerFailed(f"The IMAP server {where} closed the connection: "
                                f"{_text(exc.args)}") from None
        except imaplib.IMAP4.error as exc:  # STARTTLS refused or not offered
            raise TriggerFailed(f"Expected the IMAP server {where} to start TLS, but "
                                f"{self.scrub(_text(exc.args))}", retryable=False) from None
        except (OSError, EOFError) as exc:
            raise TriggerFailed(f"Could not connect to the IMAP server {where}: "
                                f"{type(exc).__name__}: {exc}") from None
        try:
            self._login(username, password)
        except BaseException:
            self.close()
            raise

    def scrub(self, text: str) -> str:
        # a server that echoes what it was sent must not put the password into our messages
        return text.replace(self._password, "***") if self._password else text

    def _login(self, username: str, password: str) -> None:
        where = f"{self.config.host}:{self.config.port}"
        try:
            if username.isascii() and password.isascii():
                self.conn.login(username, password)
            else:  # LOGIN's strings are ASCII in imaplib; SASL PLAIN carries UTF-8
                secret = f"\0{username}\0{password}".encode()
                self.conn.authenticate("PLAIN", lambda _challenge: secret)
        except imaplib.IMAP4.abort as exc:
            raise TriggerFailed(f"The IMAP server {where} closed the connection at login: "
                                f"{self.scrub(_text(exc.args))}") from None
        except imaplib.IMAP4.error as exc:
            raise TriggerFailed(
                f"The IMAP server {where} refused the login with the schedule's credentials "
                f"(set them with PUT /api/schedules/{{id}}/credentials): "
                f"{self.scrub(_text(exc.args))}", retryable=False) from None

    def capabilities(self) -> set[str]:
        """The capabilities after login (the greeting's may lack MOVE and UIDPLUS)."""
        typ, data = self.conn.capability()
        return set(_text(data).upper().split()) if typ == "OK" else set()

    def open(self, folder: str, *, readonly: bool) -> tuple[int, int | None]:
        """SELECT (or EXAMINE) the folder: (UIDVALIDITY, UIDNEXT or None)."""
        typ, data = self.conn.select(_mailbox(folder), readonly=readonly)
        if typ != "OK":
            raise TriggerFailed(f"Expected the folder {folder!r} on the IMAP server "
                                f"{self.config.host}, but it answered: {_text(data)}",
                                retryable=False)
        validity = _text(self.conn.response("UIDVALIDITY")[1])
        following = _text(self.conn.response("UIDNEXT")[1])
        if not validity.isdigit():
            raise TriggerFailed(f"Expected the IMAP server {self.config.host} to give the "
                                f"folder's UIDVALIDITY, but it gave {validity!r}")
        return int(validity), int(following) if following.isdigit() else None

    def uids_after(self, last: int, uid_next: int | None, limit: int
                   ) -> tuple[list[int], bool, int]:
        """Up to `limit` UIDs above `last`, oldest first; whether there are more; and the UID
        up to which the folder was searched."""
        if uid_next is None:  # a server without UIDNEXT: one search to the end
            found = sorted(u for u in self.search(f"{last + 1}:*") if u > last)
            if len(found) > limit:
                return found[:limit], True, found[limit - 1]
            return found, False, found[-1] if found else last
        top = uid_next - 1
        found = []
        start = last + 1
        searches = 0
        while start <= top and len(found) <= limit and searches < 100:
            end = min(top, start + _SEARCH_WINDOW - 1)
            found += sorted(u for u in self.search(f"{start}:{end}") if start <= u <= end)
            start = end + 1
            searches += 1
        if len(found) > limit:
            return found[:limit], True, found[limit - 1]
        return found, start <= top, start - 1

    def search(self, uids: str) -> list[int]:
        typ, data = self.conn.uid("SEARCH", "UID", uids)
        if typ != "OK":
            raise TriggerFailed(f"The IMAP server {self.config.host} refused a search: "
                                f"{_text(data)}")
        return [int(u) for u in _text(data).split() if u.isdigit()]

    def fetch(self, uids: Sequence[int], what: str) -> dict[int, _Fetched]:
        typ, data = self.conn.uid("FETCH", _uid_set(uids), f"(UID RFC822.SIZE {what})")
        if typ != "OK":
            raise TriggerFailed(f"The IMAP server {self.config.host} refused a fetch: "
                                f"{_text(data)}")
        return _fetched(data)

    def command(self, what: str, *args: str) -> tuple[str, str]:
        typ, data = self.conn.uid(what, *args)
        return typ, _text(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.logout()  # also closes the socket


@contextlib.contextmanager
def _session(config: _Config, request: PollRequest, ctx: TriggerContext
             ) -> Iterator[_Session]:
    username, password = _credentials(request)
    timeout = max(1.0, min(_SOCKET_TIMEOUT, ctx.timeout))
    session = _Session(config, username, password, ctx.settings.get("cafile"), timeout)
    where = f"{config.host}:{config.port}"
    try:
        yield session
    except imaplib.IMAP4.abort as exc:
        raise TriggerFailed(f"The IMAP server {where} closed the connection: "
                            f"{session.scrub(_text(exc.args))}") from None
    except imaplib.IMAP4.error as exc:
        raise TriggerFailed(f"The IMAP server {where} answered with an error: "
                            f"{session.scrub(_text(exc.args))}") from None
    except (OSError, EOFError) as exc:
        raise TriggerFailed(f"The connection to the IMAP server {where} failed: "
                            f"{type(exc).__name__}: {exc}") from None
    finally:
        session.close()


def _credentials(request: PollRequest) -> tuple[str, str]:
    missing = [k for k in ("username", "password") if not request.credentials.get(k)]
    if missing:
        raise TriggerFailed(
            f"Expected the schedule's credentials to have {' and '.join(missing)} (set them "
            f"with PUT /api/schedules/{request.schedule.id}/credentials), but "
            f"{'they are' if len(missing) > 1 else 'it is'} not set", retryable=False)
    username, password = request.credentials["username"], request.credentials["password"]
    if any(c in value for value in (username, password) for c in "\r\n\0"):
        # imaplib quotes LOGIN's strings but leaves line breaks in: they would end the command
        raise TriggerFailed("Expected the schedule's username and password without line breaks "
                            "or NUL characters, but one has them", retryable=False)
    return username, password


# -- the trigger ---------------------------------------------------------------------------------

def _dedup_key(message_id: str, validity: int, uid: int) -> str:
    mid = message_id.strip()
    if not mid:
        return f"uid:{validity}:{uid}"
    if len(mid) > _MAX_MESSAGE_ID or not mid.isprintable():
        return f"mid-sha256:{_mime.digest(mid)}"
    return f"mid:{mid}"


@dataclass(frozen=True, slots=True)
class _Where:
    folder: str
    validity: int


class ImapMailboxTrigger(Trigger):
    """New messages in a folder of an IMAP mailbox."""

    type = "imap-mailbox"

    attributes = (
        Attribute("host", "IMAP server", "", required=True),
        Attribute("port", "Port", "Default 993 with ssl, else 143", kind="number", low=1,
                  high=65535),
        Attribute("tls", "TLS", "ssl, starttls, or none (localhost only); default ssl",
                  kind="choice", choices=_TLS, default="ssl"),
        Attribute("folder", "Folder", "Default INBOX"),
        Attribute("subjectContains", "Subject contains", "Case-insensitive", group="filter"),
        Attribute("subjectPattern", "Subject pattern", "An RE2 pattern", group="filter"),
        Attribute("from", "From", "Comma-separated sender parts: @partner.example",
                  group="filter"),
        Attribute("after", "After the start", "seen, move:<folder> or none; default seen"),
        Attribute("maxItems", "Max items per poll", f"1 to {MAX_ITEMS}; default "
                  f"{DEFAULT_MAX_ITEMS}", kind="number", low=1, high=MAX_ITEMS),
        Attribute("maxMessageBytes", "Max message bytes", "A larger one fires with its headers "
                  "only; default 25 MiB", kind="number", low=1024, high=MAX_MESSAGE_BYTES),
        *polling("PT1M"),
    )
    initial = "skip-existing"
    default_interval_ms = 60_000

    def check(self, settings: Mapping[str, str]) -> Iterator[str]:
        yield from _parse(settings)[1]

    @staticmethod
    def _config(settings: Mapping[str, str]) -> _Config:
        config, problems = _parse(settings)
        if problems:  # checked at deploy; a schedule from before a stricter check ends here
            raise TriggerFailed(problems[0], retryable=False)
        return config

    async def poll(self, request: PollRequest, ctx: TriggerContext) -> PollResult:
        config = self._config(request.schedule.settings)
        _credentials(request)  # before connecting: a missing password is no network error
        # imaplib blocks; leave a fifth of the poll's time for the starts
        deadline = time.monotonic() + ctx.timeout * 0.8
        return await asyncio.to_thread(self._poll, config, request, ctx, deadline)

    def _poll(self, config: _Config, request: PollRequest, ctx: TriggerContext,
              deadline: float) -> PollResult:
        with _session(config, request, ctx) as session:
            validity, uid_next = session.open(config.folder, readonly=True)
            cursor = request.cursor if isinstance(request.cursor, dict) else None
            here = {"folder": config.folder, "uidValidity": validity}
            same = cursor is not None and cursor.get("folder") == config.folder \
                and cursor.get("uidValidity") == validity
            if not same:
                if cursor is not None:
                    ctx.log.warning("folder %r has a new UIDVALIDITY (%s, was %s) or is another "
                                    "folder: starting over from its next message", config.folder,
                                    validity, cursor.get("uidValidity"))
                if cursor is not None or config.initial != "fire-existing":
                    top = uid_next - 1 if uid_next is not None else max(
                        session.search("1:*"), default=0)
                    return PollResult([], {**here, "last": max(0, top)})
                last = 0
            else:
                assert cursor is not None
                last = int(cursor.get("last", 0))
            uids, more, searched = session.uids_after(last, uid_next, MAX_SCAN)
            items: list[TriggerItem] = []
            where = _Where(config.folder, validity)
            done = last  # the last UID handled: where a cut poll continues
            for start in range(0, len(uids), _FETCH_BATCH):
                batch = uids[start:start + _FETCH_BATCH]
                heads = session.fetch(batch, f"BODY.PEEK[HEADER]<0.{MAX_HEADER_BYTES}>")
                for uid in batch:
                    if len(items) >= config.max_items or time.monotonic() > deadline:
                        return PollResult(items, {**here, "last": done}, more=True)
                    done = uid
                    head = heads.get(uid)
                    if head is None:  # expunged since the search
                        continue
                    headers = _mime.parse(head.data, headers_only=True)
                    if not self._wanted(config, headers):
                        continue
                    items.append(self._item(session, config, ctx, where, head, headers))
            return PollResult(items, {**here, "last": searched}, more=more)

    @staticmethod
    def _wanted(config: _Config, headers: EmailMessage) -> bool:
        subject = _mime.header_text(headers, "subject")
        if config.subject_contains and config.subject_contains not in subject.casefold():
            return False
        if config.subject_pattern is not None and not config.subject_pattern.search(subject):
            return False
        if config.senders:
            senders = [a.casefold() for _, a in _mime.addresses(headers, "from")]
            if not any(want in a for want in config.senders for a in senders):
                return False
        return True

    def _item(self, session: _Session, config: _Config, ctx: TriggerContext, where: _Where,
              head: _Fetched, headers: EmailMessage) -> TriggerItem:
        uid = head.uid
        size = head.size if head.size is not None else 0
        message = headers
        too_large = size > config.max_message_bytes
        text, truncated, attachments = "", False, []
        if not too_large:
            whole = session.fetch([uid], f"BODY.PEEK[]<0.{config.max_message_bytes}>").get(uid)
            if whole is not None:
                folder = ctx.data_dir / _message_dir(where, uid)
                try:
                    message = _mime.parse(whole.data)
                    text, truncated = _mime.body_text(message)
                    attachments = _mime.store_attachments(message, folder,
                                                          config.max_message_bytes)
                except OSError as exc:  # the data directory: a failed poll, to be retried
                    raise TriggerFailed(f"Could not store the attachments of message uid "
                                        f"{uid} in {folder}: {exc}") from None
                except Exception as exc:  # parts nested thousands deep, a parser's surprise
                    message, text, truncated, attachments = headers, "", False, []
                    ctx.log.warning("message uid %s could not be read (%s); given with its "
                                    "headers only", uid, type(exc).__name__)
        senders = _mime.addresses(message, "from")
        message_id = _mime.header_text(message, "message-id")
        subject = _mime.header_text(message, "subject")
        mail = {
            "from": senders[0][1] if senders else "",
            "fromName": senders[0][0] if senders else "",
            "to": [a for _, a in _mime.addresses(message, "to")],
            "cc": [a for _, a in _mime.addresses(message, "cc")],
            "subject": subject,
            "date": _mime.iso_date(message),
            "messageId": message_id,
            "text": text,
            "textTruncated": truncated,
            "attachments": [a.variables() for a in attachments],
            "size": size,
            "tooLarge": too_large,
            "folder": where.folder,
            "uid": uid,
            "uidValidity": where.validity,
        }
        summary: dict[str, Any] = {"subject": subject[:200], "from": mail["from"], "uid": uid,
                                   "size": size}
        if too_large:
            summary["tooLarge"] = True
            ctx.log.warning("message uid %s has %s bytes, over laneway:maxMessageBytes (%s): "
                            "given with its headers only", uid, size, config.max_message_bytes)
        return TriggerItem(_dedup_key(message_id, where.validity, uid), {"mail": mail},
                           summary)

    async def acknowledged(self, request: PollRequest, items: Sequence[TriggerItem],
                           ctx: TriggerContext) -> None:
        config = self._config(request.schedule.settings)
        if config.after == "none" or not items:
            return
        await asyncio.to_thread(self._acknowledge, config, request, items, ctx)

    def _acknowledge(self, config: _Config, request: PollRequest,
                     items: Sequence[TriggerItem], ctx: TriggerContext) -> None:
        marks: dict[int, list[int]] = {}
        for item in items:
            mail = item.variables.get("mail")
            if isinstance(mail, Mapping) and mail.get("folder") == config.folder:
                marks.setdefault(int(mail["uidValidity"]), []).append(int(mail["uid"]))
        if not marks:
            return
        with _session(config, request, ctx) as session:
            validity, _ = session.open(config.folder, readonly=False)
            uids = marks.get(validity)
            if not uids:
                ctx.log.warning("folder %r has a new UIDVALIDITY since the poll: its messages "
                                "are left as they are", config.folder)
                return
            uid_set = _uid_set(uids)
            if config.after == "seen":
                self._must(session, "STORE", uid_set, "+FLAGS.SILENT", r"(\Seen)")
                return
            assert config.move_to is not None
            self._move(session, uid_set, config.move_to)

    def _move(self, session: _Session, uid_set: str, target: str) -> None:
        capabilities = session.capabilities()
        verb = "MOVE" if "MOVE" in capabilities else "COPY"
        typ, text = session.command(verb, uid_set, _mailbox(target))
        if typ != "OK" and "TRYCREATE" in text.upper():
            session.conn.create(_mailbox(target))
            typ, text = session.command(verb, uid_set, _mailbox(target))
        if typ != "OK":
            raise TriggerFailed(f"Expected the IMAP server {session.config.host} to {verb} the "
                                f"started messages to {target!r}, but it answered: {text}")
        if verb == "MOVE":
            return
        # no MOVE: copy, flag \Deleted and expunge; UID EXPUNGE (UIDPLUS) removes only these,
        # a plain EXPUNGE every message flagged \Deleted in the folder
        self._must(session, "STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
        if "UIDPLUS" in capabilities:
            self._must(session, "EXPUNGE", uid_set)
        else:
            typ, data = session.conn.expunge()
            if typ != "OK":
                raise TriggerFailed(f"Expected the IMAP server {session.config.host} to "
                                    f"expunge the moved messages, but it answered: "
                                    f"{_text(data)}")

    @staticmethod
    def _must(session: _Session, verb: str, *args: str) -> None:
        typ, text = session.command(verb, *args)
        if typ != "OK":
            raise TriggerFailed(f"Expected the IMAP server {session.config.host} to {verb} "
                                f"the started messages, but it answered: {text}")


def _message_dir(where: _Where, uid: int) -> Path:
    """A folder per message, named by what identifies it for good: the folder (hashed), the
    UIDVALIDITY and the UID; nothing the sender chose."""
    return Path(f"{_mime.digest(where.folder)[:12]}-{where.validity}-{uid}")
