"""`graph-mailbox` and `sharepoint-folder`: Microsoft Graph's delta queries over a mail folder
and over a drive's folder, as the app of a tenant (client credentials per schedule).

`graph-mailbox` fires once per message that arrives in the folder (`message:<id>`; only
created messages are asked for, so a message read or flagged later fires no more).
`sharepoint-folder` fires once per version of a file directly in the folder whose name matches
the pattern (`item:<id>:<eTag>`: a new version fires again). Both keep the delta's link as the
cursor and start over by themselves when Graph drops it (see `_graph`). docs/triggers.md has
the settings and variables.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from laneway.attributes import Attribute, polling
from laneway.triggers._api import (
    PollRequest,
    PollResult,
    Trigger,
    TriggerContext,
    TriggerFailed,
    TriggerItem,
)
from laneway.triggers.builtin import _graph
from laneway.triggers.builtin._graph import DeltaSource, GraphClient, TokenCache

_MESSAGE_FIELDS = ("id", "subject", "from", "toRecipients", "receivedDateTime", "bodyPreview",
                   "webLink", "hasAttachments")
_FILE_FIELDS = ("id", "name", "eTag", "size", "file", "folder", "deleted", "parentReference",
                "webUrl", "lastModifiedDateTime", "lastModifiedBy")
_MAX_TEXT = 1000
_MAX_URL = 2048
_MAX_RECIPIENTS = 100
_MAX_PATH = 1024
_MAX_PATTERN = 500
_MAIL_PAGE = 50  # Graph's page size for messages (odata.maxpagesize) at most
_DRIVE_PAGE = 200  # a drive's delta covers the whole drive: large pages, few of them ours
_BAD_NAME_CHARS = frozenset('"*:<>?\\|#')  # not allowed in SharePoint names


def _text(value: Any, limit: int = _MAX_TEXT) -> str | None:
    """A string field of an untrusted answer, bounded; None when it is not a string."""
    return value[:limit] if isinstance(value, str) else None


def _address(value: Any) -> str | None:
    """`{"emailAddress": {"address": ...}}`'s address."""
    if isinstance(value, dict) and isinstance(value.get("emailAddress"), dict):
        return _text(value["emailAddress"].get("address"), 320)
    return None


def _segment(value: str) -> str:
    """A setting put into a Graph path: percent-encoded whole, so it names one thing."""
    return quote(value.strip(), safe="@")


# --- graph-mailbox ------------------------------------------------------------------------

class _MailFolder(DeltaSource):
    def __init__(self, graph: str, settings: Mapping[str, str]) -> None:
        user = settings["user"].strip()
        folder = settings.get("folder", "inbox").strip() or "inbox"
        self._path = f"/users/{_segment(user)}/mailFolders/{_segment(folder)}"
        self._graph = graph
        self.resource = f"{graph}{self._path}"
        self.what = f"the delta of mail folder {folder!r} of {user!r}"
        self._subject = settings.get("subjectContains", "").casefold()
        self._from = settings.get("from", "").strip().casefold()
        self._page = min(_MAIL_PAGE, _graph.max_items(settings))

    def headers(self, *, skipping: bool) -> Sequence[tuple[str, str]]:
        # pages no larger than a poll's items (a page is never split), but large while the
        # first poll skips; immutable ids: a message moved out of the folder and back keeps
        # its id, and its key
        page = _MAIL_PAGE if skipping else self._page
        return (("Prefer", f"odata.maxpagesize={page}"), ("Prefer", 'IdType="ImmutableId"'))

    def first_url(self, *, latest: bool) -> str:
        # changeType=created: a message read, flagged or categorised later is not reported
        return (f"{self._graph}{self._path}/messages/delta?changeType=created"
                f"&$select={','.join(_MESSAGE_FIELDS[1:])}")

    def _wanted(self, subject: str | None, sender: str | None) -> bool:
        if self._subject and self._subject not in (subject or "").casefold():
            return False
        if self._from:
            address = (sender or "").casefold()
            if self._from.startswith("@"):
                return address.endswith(self._from)
            return address == self._from
        return True

    def item(self, entry: Mapping[str, Any]) -> TriggerItem | None:
        message_id = entry.get("id")
        if "@removed" in entry or not isinstance(message_id, str) or not message_id:
            return None
        subject, sender = _text(entry.get("subject")), _address(entry.get("from"))
        if not self._wanted(subject, sender):
            return None
        recipients = entry.get("toRecipients")
        to = [a for a in (_address(r) for r in recipients[:_MAX_RECIPIENTS]) if a] \
            if isinstance(recipients, list) else []
        mail = {
            "id": message_id[:_MAX_TEXT],
            "subject": subject,
            "from": sender,
            "to": to,
            "receivedDateTime": _text(entry.get("receivedDateTime"), 40),
            "bodyPreview": _text(entry.get("bodyPreview")),
            "webLink": _text(entry.get("webLink"), _MAX_URL),
            "hasAttachments": entry.get("hasAttachments") is True,
        }
        return TriggerItem(_graph.dedup_key("message", message_id), {"mail": mail},
                           {"subject": (subject or "")[:200], "from": sender})

    def changed_ms(self, entry: Mapping[str, Any]) -> int | None:
        return _graph.parse_time(entry.get("receivedDateTime"))

    def order(self, item: TriggerItem) -> str:
        return str(item.variables["mail"].get("receivedDateTime") or "")

_GRAPH_COMMON = (
    Attribute("maxItems", "Max items per poll", f"1 to {_graph.MAX_ITEMS}; default "
              f"{_graph.DEFAULT_MAX_ITEMS}", kind="number", low=1, high=_graph.MAX_ITEMS),
    *polling("PT1M"),
)


class _GraphTrigger(Trigger):
    """What the two Graph triggers share: the token cache, the endpoints, the delta poll."""

    def __init__(self) -> None:
        # one cache for every schedule of the type; keyed by the app (with its secret's hash)
        self._tokens = TokenCache()

    def check(self, settings: Mapping[str, str]) -> Iterator[str]:
        yield from _graph.check_common(settings)

    def _client(self, request: PollRequest, ctx: TriggerContext) -> GraphClient:
        app = _graph.app_credentials(request.credentials)
        ends = _graph.endpoints(request.schedule.settings, ctx.settings)
        return GraphClient(ctx, ends, app, self._tokens)

    def _policy(self, request: PollRequest) -> str:
        return request.schedule.settings.get("initial", self.initial)


class GraphMailboxTrigger(_GraphTrigger):
    """New messages in a folder of an Exchange Online mailbox (docs/triggers.md)."""

    type = "graph-mailbox"

    attributes = (
        Attribute("user", "Mailbox", "Its user principal name or id", required=True),
        Attribute("folder", "Folder", "A well-known folder name or a folder id; default inbox"),
        Attribute("subjectContains", "Subject contains", "Case-insensitive", group="filter"),
        Attribute("from", "From", "An address, or @domain", group="filter"),
        *_GRAPH_COMMON,
    )

    def check(self, settings: Mapping[str, str]) -> Iterator[str]:
        yield from super().check(settings)
        if not settings.get("user", "").strip():
            yield "Expected laneway:user, the mailbox (its user principal name or id, such " \
                  "as 'invoices@contoso.com'), but there is none"
        for name in ("user", "folder", "subjectContains", "from"):
            if len(settings.get(name, "")) > _MAX_TEXT:
                yield f"Expected laneway:{name} of at most {_MAX_TEXT} characters"
        if "folder" in settings and not settings["folder"].strip():
            yield "Expected laneway:folder to name a mail folder (a well-known name such as " \
                  "'inbox', or an id), but it is empty"

    async def poll(self, request: PollRequest, ctx: TriggerContext) -> PollResult:
        settings = request.schedule.settings
        if not settings.get("user", "").strip():
            raise TriggerFailed("Expected laneway:user, the mailbox, but there is none",
                                retryable=False)
        client = self._client(request, ctx)
        source = _MailFolder(client.ends.graph, settings)
        return await _graph.poll_delta(request, ctx, client, source,
                                       policy=self._policy(request),
                                       limit=_graph.max_items(settings))


# --- sharepoint-folder --------------------------------------------------------------------

def _folder_path(value: str) -> str:
    """`laneway:folder` as `Invoices/2026` (no leading or trailing slash; '' is the root)."""
    return "/".join(p for p in value.strip().replace("\\", "/").split("/") if p)


def _folder_problem(path: str) -> str | None:
    if len(path) > _MAX_PATH:
        return f"at most {_MAX_PATH} characters"
    for part in path.split("/") if path else ():
        if part in (".", "..") or any(c in _BAD_NAME_CHARS or ord(c) < 32 for c in part):
            return "folder names without '..' or any of \" * : < > ? \\ | #"
    return None


class _DriveFolder(DeltaSource):
    supports_latest = True

    def __init__(self, graph: str, drive: str, folder_id: str, folder: str,
                 pattern: str) -> None:
        self._graph = graph
        self._drive = drive
        self._folder_id = folder_id
        self._folder = folder
        self._pattern = pattern.casefold()
        # the folder's id, not its path: a delta reports no paths, and a renamed folder is
        # still the one watched
        self.resource = f"{graph}/drives/{drive}|{folder_id}"
        self.what = f"the delta of drive {drive!r}"

    def first_url(self, *, latest: bool) -> str:
        # a delta of a folder other than the root is not offered by SharePoint: the root's,
        # filtered by parent
        token = "token=latest&" if latest else ""
        return (f"{self._graph}/drives/{quote(self._drive, safe='')}/root/delta?{token}"
                f"$select={','.join(_FILE_FIELDS)}&$top={_DRIVE_PAGE}")

    def item(self, entry: Mapping[str, Any]) -> TriggerItem | None:
        item_id, name, etag = entry.get("id"), entry.get("name"), entry.get("eTag")
        parent = entry.get("parentReference")
        if ("deleted" in entry or "@removed" in entry or not isinstance(entry.get("file"), dict)
                or not isinstance(item_id, str) or not item_id or not isinstance(name, str)
                or not isinstance(parent, dict) or parent.get("id") != self._folder_id):
            return None
        if not fnmatch.fnmatchcase(name.casefold(), self._pattern):
            return None
        version = etag if isinstance(etag, str) and etag else \
            str(entry.get("lastModifiedDateTime", ""))
        size = entry.get("size")
        modified_by = entry.get("lastModifiedBy")
        who = None
        if isinstance(modified_by, dict):
            for kind in ("user", "application", "device"):
                identity = modified_by.get(kind)
                if isinstance(identity, dict):
                    who = _text(identity.get("displayName"), 256) or \
                        _text(identity.get("email"), 320)
                    if who:
                        break
        mime = entry["file"].get("mimeType")
        file = {
            "id": item_id[:_MAX_TEXT],
            "name": name[:_MAX_TEXT],
            "path": ("/" + self._folder if self._folder else "") + "/" + name[:_MAX_TEXT],
            "size": size if isinstance(size, int) and not isinstance(size, bool) else None,
            "webUrl": _text(entry.get("webUrl"), _MAX_URL),
            "lastModifiedDateTime": _text(entry.get("lastModifiedDateTime"), 40),
            "lastModifiedBy": who,
            "eTag": _text(etag, 256),
            "mimeType": _text(mime, 256),
        }
        return TriggerItem(_graph.dedup_key("item", item_id, version), {"file": file},
                           {"name": name[:200], "eTag": _text(etag, 256)})

    def changed_ms(self, entry: Mapping[str, Any]) -> int | None:
        return _graph.parse_time(entry.get("lastModifiedDateTime"))

    def order(self, item: TriggerItem) -> str:
        return str(item.variables["file"].get("lastModifiedDateTime") or "")


class SharePointFolderTrigger(_GraphTrigger):
    """New files, and new versions of files, in a folder of a SharePoint document library or
    a OneDrive (docs/triggers.md)."""

    type = "sharepoint-folder"

    attributes = (
        Attribute("drive", "Drive id", "A document library's or a OneDrive's; or a site"),
        Attribute("site", "Site", "contoso.sharepoint.com:/sites/Finance, or its id"),
        Attribute("library", "Library", "With a site: the library's name"),
        Attribute("folder", "Folder", "The folder's path in the drive; default the root"),
        Attribute("pattern", "File name pattern", "*.pdf; default *"),
        *_GRAPH_COMMON,
    )

    def check(self, settings: Mapping[str, str]) -> Iterator[str]:
        yield from super().check(settings)
        drive, site = settings.get("drive", "").strip(), settings.get("site", "").strip()
        if bool(drive) == bool(site):
            yield "Expected either laneway:drive (a drive id) or laneway:site (a site id, " \
                  "with laneway:library naming a document library), but " + \
                  ("both are set" if drive else "neither is")
        if "library" in settings and not site:
            yield "Expected laneway:library only with laneway:site"
        for name in ("drive", "site", "library"):
            value = settings.get(name, "")
            if len(value) > _MAX_TEXT or any(ord(c) < 32 for c in value):
                yield f"Expected laneway:{name} of at most {_MAX_TEXT} printable characters"
        if site and ("?" in site or "#" in site or ".." in site.split("/")):
            yield f"Expected laneway:site to be a site id such as 'contoso.sharepoint.com," \
                  f"<guid>,<guid>' or 'contoso.sharepoint.com:/sites/Finance', but got {site!r}"
        problem = _folder_problem(_folder_path(settings.get("folder", "")))
        if problem:
            yield f"Expected laneway:folder to be a folder path such as 'Invoices/2026' with " \
                  f"{problem}, but got {settings.get('folder')!r}"
        pattern = settings.get("pattern")
        if pattern is not None and not 0 < len(pattern.strip()) <= _MAX_PATTERN:
            yield f"Expected laneway:pattern to be a file name pattern such as '*.pdf' of at " \
                  f"most {_MAX_PATTERN} characters, but got {pattern[:80]!r}"

    async def poll(self, request: PollRequest, ctx: TriggerContext) -> PollResult:
        settings = request.schedule.settings
        client = self._client(request, ctx)
        folder = _folder_path(settings.get("folder", ""))
        if _folder_problem(folder):
            raise TriggerFailed(f"Expected laneway:folder to be a folder path, but got "
                                f"{settings.get('folder')!r}", retryable=False)
        drive, folder_id = await self._resolve(client, settings, folder, request.cursor)
        source = _DriveFolder(client.ends.graph, drive, folder_id, folder,
                              settings.get("pattern", "*").strip() or "*")
        return await _graph.poll_delta(
            request, ctx, client, source, policy=self._policy(request),
            limit=_graph.max_items(settings),
            extra={"drive": drive, "folderId": folder_id, "where": self._where(
                client, settings, folder)})

    @staticmethod
    def _where(client: GraphClient, settings: Mapping[str, str], folder: str) -> str:
        """What the drive and folder ids were resolved from: another answer asks again."""
        return "|".join((client.ends.graph, settings.get("drive", "").strip(),
                         settings.get("site", "").strip(), settings.get("library", "").strip(),
                         folder))

    async def _resolve(self, client: GraphClient, settings: Mapping[str, str], folder: str,
                       cursor: Any) -> tuple[str, str]:
        """(drive id, folder item id): from the cursor when it was resolved from the same
        settings, else asked of Graph (a site's library by name, the folder by path)."""
        where = self._where(client, settings, folder)
        if isinstance(cursor, dict) and cursor.get("where") == where \
                and isinstance(cursor.get("drive"), str) \
                and isinstance(cursor.get("folderId"), str):
            return cursor["drive"], cursor["folderId"]
        drive = settings.get("drive", "").strip() or await self._site_drive(client, settings)
        drive_path = f"/drives/{quote(drive, safe='')}"
        if folder:
            url = client.url(f"{drive_path}/root:/{quote(folder, safe='/')}?$select=id,folder")
        else:
            url = client.url(f"{drive_path}/root?$select=id,folder")
        found = await client.get(url, f"the folder {'/' + folder!r} of drive {drive!r}")
        folder_id = found.get("id")
        if not isinstance(folder_id, str) or not folder_id or len(folder_id) > _MAX_TEXT:
            raise TriggerFailed(f"Expected the folder {'/' + folder!r} to have an id, but "
                                f"Graph gave none", retryable=False)
        if "folder" not in found and folder:
            raise TriggerFailed(f"Expected laneway:folder {'/' + folder!r} to be a folder of "
                                f"the drive, but it is a file", retryable=False)
        return drive, folder_id

    @staticmethod
    async def _site_drive(client: GraphClient, settings: Mapping[str, str]) -> str:
        site = quote(settings["site"].strip(), safe=",:/")
        if ":" in site:
            # `host:/sites/Finance` names a site by path; its id is asked first, as a path
            # cannot be followed by /drives without Graph's closing colon syntax
            found = await client.get(client.url(f"/sites/{site}?$select=id"),
                                     f"the site {settings['site']!r}")
            site_id = found.get("id")
            if not isinstance(site_id, str) or not site_id or len(site_id) > _MAX_TEXT:
                raise TriggerFailed(f"Expected Graph to give site {settings['site']!r} an id, "
                                    f"but it did not", retryable=False)
            site = quote(site_id, safe=",")
        library = settings.get("library", "").strip()
        if not library:
            found = await client.get(client.url(f"/sites/{site}/drive?$select=id"),
                                     f"the default library of site {settings['site']!r}")
            drive = found.get("id")
        else:
            listing = await client.get(client.url(f"/sites/{site}/drives?$select=id,name"),
                                       f"the libraries of site {settings['site']!r}")
            drives: Sequence[Any] = listing.get("value") or []
            drive = next((d.get("id") for d in drives if isinstance(d, dict)
                          and str(d.get("name", "")).casefold() == library.casefold()), None)
            if drive is None:
                raise TriggerFailed(f"Expected site {settings['site']!r} to have a document "
                                    f"library named {library!r}, but it has none (of the "
                                    f"first {len(drives)})", retryable=False)
        if not isinstance(drive, str) or not drive or len(drive) > _MAX_TEXT:
            raise TriggerFailed(f"Expected Graph to give the drive of site "
                                f"{settings['site']!r} an id, but it did not", retryable=False)
        return drive
