"""A local server that answers as Microsoft Graph and the identity platform document it, for
the `graph-mailbox` and `sharepoint-folder` triggers' tests.

- `POST /{tenant}/oauth2/v2.0/token`: client credentials (form), checks tenant, client id,
  secret and scope; answers `access_token` and `expires_in`, or `invalid_client` with an
  AADSTS code.
- `GET /v1.0/users/{user}/mailFolders/{folder}/messages/delta`: a mail folder's delta, with
  `$select`, `changeType` and `Prefer: odata.maxpagesize`, pages linked by `@odata.nextLink`
  (`$skiptoken`), the round ending in `@odata.deltaLink` (`$deltatoken`); deleted messages as
  `@removed`.
- `GET /v1.0/drives/{drive}/root/delta` (`token=latest`, `$select`, `$top`), `/root`,
  `/root:/{path}`, `/v1.0/sites/{site}/drive` and `/drives`: a drive's items, deleted ones
  with the `deleted` facet, no `parentReference.path` in a delta (as Graph).
- A delta token made before `expire_delta_tokens()` is answered 410 Gone with a `Location`
  (mail: `syncStateNotFound`; drive: `resyncChangesApplyDifferences`); `throttle(n)` answers
  the next n Graph requests 429 with `Retry-After`; `revoke_tokens()` makes the tokens given
  so far answer 401 `InvalidAuthenticationToken`.

The state tokens encode the round (`after`, `upto`, offset) and the query options of the
round's first request, as Graph encodes them into its links.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.local_http import serve

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Obj:
    """A message or a drive item, with its change history in sequence numbers."""

    id: str
    collection: str
    data: dict[str, Any]
    created: int
    changed: int
    deleted: bool = False


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, list[str]]
    form: dict[str, str] = field(default_factory=dict)


class GraphServer:
    """The server's state; `url` is its base (the authority), `graph_url` Graph's base."""

    def __init__(self) -> None:
        self.url = ""
        self.tenant = "contoso.onmicrosoft.com"
        self.client_id = "11111111-2222-3333-4444-555555555555"
        self.client_secret = "s3cr3t~value.for-tests"
        self.expires_in = 3599
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self._tokens: set[str] = set()
        self._objs: dict[str, _Obj] = {}
        self._seq = 0
        self._epoch = 0
        self._expiry_status = 410
        self._throttle = 0
        self._throttle_status = 429
        self._retry_after = "7"
        self._sites: dict[str, dict[str, str]] = {}
        self._roots: dict[str, str] = {}
        self._site_paths: dict[str, str] = {}
        self.reject_tokens = False
        """Every Graph request is 401, whatever the token (an app without access)."""
        self.link_base: str | None = None
        """When set, nextLinks point there instead of at this server."""
        self.pad_bytes = 0
        """Adds this many bytes to every Graph answer."""

    @property
    def graph_url(self) -> str:
        return self.url + "/v1.0"

    def credentials(self, **override: str) -> dict[str, str]:
        """Credentials this server accepts (override some to make them wrong)."""
        return {"tenantId": self.tenant, "clientId": self.client_id,
                "clientSecret": self.client_secret, **override}

    # --- what the tests do ----------------------------------------------------------------

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def add_message(self, user: str, folder: str, subject: str, *,
                    sender: str = "ada@fabrikam.example", to: tuple[str, ...] = (),
                    received: str | None = None, preview: str = "",
                    attachments: bool = False) -> str:
        with self.lock:
            seq = self._next()
            mid = "AAMk" + secrets.token_urlsafe(24)
            data = {
                "id": mid, "changeKey": f"CQ{seq}", "subject": subject,
                "from": {"emailAddress": {"name": sender.split("@")[0], "address": sender}},
                "toRecipients": [{"emailAddress": {"name": t, "address": t}} for t in to],
                "receivedDateTime": received or _now(), "bodyPreview": preview,
                "webLink": f"https://outlook.office365.com/owa/?ItemID={quote(mid)}",
                "hasAttachments": attachments, "isRead": False}
            self._objs[mid] = _Obj(mid, f"mail:{user.lower()}/{folder.lower()}", data, seq, seq)
            return mid

    def update_message(self, mid: str, **changes: Any) -> None:
        with self.lock:
            obj = self._objs[mid]
            seq = self._next()
            obj.data.update(changes, changeKey=f"CQ{seq}")
            obj.changed = seq

    def delete(self, oid: str) -> None:
        with self.lock:
            obj = self._objs[oid]
            obj.deleted, obj.changed = True, self._next()

    def add_drive(self, drive: str) -> str:
        """A drive with its root; the root's id."""
        with self.lock:
            seq = self._next()
            rid = f"01ROOT{secrets.token_hex(6).upper()}"
            self._roots[drive] = rid
            self._objs[rid] = _Obj(rid, f"drive:{drive}", {
                "id": rid, "name": "root", "root": {}, "folder": {"childCount": 0},
                "eTag": f'"{{{rid}}},1"', "parentReference": {"driveId": drive},
                "webUrl": f"https://contoso.sharepoint.com/sites/x/{drive}",
                "lastModifiedDateTime": _now()}, seq, seq)
            return rid

    def add_site(self, site: str, libraries: dict[str, str], default: str,
                 path: str | None = None) -> None:
        """A site by id (`host,guid,guid`) and, when given, by path (`host:/sites/x`)."""
        with self.lock:
            self._sites[site] = {"__default__": default, **libraries}
            if path is not None:
                self._site_paths[path] = site

    def _by_path(self, drive: str, path: str) -> _Obj | None:
        current = self._objs.get(self._roots.get(drive, ""))
        for part in [p for p in path.split("/") if p]:
            if current is None:
                return None
            current = next((o for o in self._objs.values() if o.collection == f"drive:{drive}"
                            and not o.deleted and o.data.get("name", "").lower() == part.lower()
                            and o.data.get("parentReference", {}).get("id") == current.id), None)
        return current

    def add_item(self, drive: str, parent_path: str, name: str, *, folder: bool = False,
                 size: int = 1234, mime: str = "application/pdf",
                 modified: str | None = None, by: str = "Megan Bowen") -> str:
        with self.lock:
            parent = self._by_path(drive, parent_path)
            assert parent is not None, parent_path
            seq = self._next()
            iid = f"01{secrets.token_hex(12).upper()}"
            data: dict[str, Any] = {
                "id": iid, "name": name, "eTag": f'"{{{iid}}},1"', "cTag": f'"c:{{{iid}}},1"',
                "size": size, "parentReference": {"driveId": drive, "id": parent.id,
                                                  "driveType": "documentLibrary"},
                "webUrl": f"https://contoso.sharepoint.com/sites/x/{quote(name)}",
                "lastModifiedDateTime": modified or _now(),
                "lastModifiedBy": {"user": {"displayName": by,
                                            "email": "megan@contoso.example"}}}
            if folder:
                data["folder"] = {"childCount": 0}
            else:
                data["file"] = {"mimeType": mime, "hashes": {"quickXorHash": "AAAA"}}
            self._objs[iid] = _Obj(iid, f"drive:{drive}", data, seq, seq)
            return iid

    def new_version(self, iid: str, *, size: int | None = None) -> str:
        """A new version of a file: a new eTag and modification time; the eTag."""
        with self.lock:
            obj = self._objs[iid]
            seq = self._next()
            version = int(obj.data["eTag"].rsplit(",", 1)[1].rstrip('"')) + 1
            obj.data.update(eTag=f'"{{{iid}}},{version}"', cTag=f'"c:{{{iid}}},{version}"',
                            lastModifiedDateTime=_now(),
                            size=size if size is not None else obj.data["size"] + 1)
            obj.changed = seq
            return str(obj.data["eTag"])

    def expire_delta_tokens(self, status: int = 410) -> None:
        """Every delta or skip token given so far is no longer known."""
        with self.lock:
            self._epoch += 1
            self._expiry_status = status

    def throttle(self, times: int, retry_after: str = "7", status: int = 429) -> None:
        with self.lock:
            self._throttle, self._retry_after, self._throttle_status = times, retry_after, status

    def revoke_tokens(self) -> None:
        with self.lock:
            self._tokens.clear()

    def token_requests(self) -> int:
        with self.lock:
            return sum(1 for s in self.seen if s.path.endswith("/oauth2/v2.0/token"))

    def graph_requests(self, contains: str = "") -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path.startswith("/v1.0/") and contains in s.path]

    # --- answering ------------------------------------------------------------------------

    def answer(self, seen: Seen) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.seen.append(seen)
            parts = urlsplit(seen.path)
            path = unquote(parts.path)
            if seen.method == "POST" and path.endswith("/oauth2/v2.0/token"):
                return self._token(path.split("/")[1], seen.form)
            if not path.startswith("/v1.0/"):
                return 404, {}, {"error": {"code": "NotFound", "message": path}}
            auth = seen.headers.get("authorization", [""])[0]
            if not auth.startswith("Bearer ") or auth[7:] not in self._tokens \
                    or self.reject_tokens:
                return 401, {"WWW-Authenticate": 'Bearer realm=""'}, {"error": {
                    "code": "InvalidAuthenticationToken",
                    "message": "Lifetime validation failed, the token is expired."}}
            if self._throttle > 0:
                self._throttle -= 1
                return self._throttle_status, {"Retry-After": self._retry_after}, {"error": {
                    "code": "TooManyRequests" if self._throttle_status == 429 else
                    "serviceNotAvailable", "message": "Please retry again later."}}
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            status, extra, body = self._graph(path[len("/v1.0"):], query, seen.headers)
            if self.pad_bytes and isinstance(body, dict):
                body["padding"] = "x" * self.pad_bytes
            return status, extra, body

    def _token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if tenant != self.tenant:
            return 400, {}, {"error": "invalid_request", "error_description":
                             f"AADSTS90002: Tenant '{tenant}' not found."}
        if form.get("grant_type") != "client_credentials":
            return 400, {}, {"error": "unsupported_grant_type",
                             "error_description": "AADSTS70003: unsupported grant type"}
        if form.get("client_id") != self.client_id or \
                form.get("client_secret") != self.client_secret:
            return 401, {}, {"error": "invalid_client", "error_description":
                             "AADSTS7000215: Invalid client secret provided. Ensure the secret "
                             f"being sent is the client secret value of app "
                             f"'{form.get('client_id')}'."}
        if form.get("scope") != GRAPH_SCOPE:
            return 400, {}, {"error": "invalid_scope", "error_description":
                             "AADSTS1002012: The provided value for scope is not valid."}
        token = "eyJ0eXAi." + secrets.token_urlsafe(32)
        self._tokens.add(token)
        return 200, {}, {"token_type": "Bearer", "expires_in": self.expires_in,
                         "ext_expires_in": self.expires_in, "access_token": token}

    def _graph(self, path: str, query: dict[str, str],
               headers: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        segs = path.strip("/").split("/")
        if len(segs) == 6 and segs[0] == "users" and segs[2] == "mailFolders" \
                and segs[4:] == ["messages", "delta"]:
            return self._mail_delta(segs[1], segs[3], query, headers)
        if segs[0] == "drives" and len(segs) >= 3:
            drive = segs[1]
            if segs[2:] == ["root", "delta"]:
                return self._drive_delta(drive, query)
            if segs[2] == "root" and len(segs) == 3:
                return 200, {}, self._select(self._objs[self._roots[drive]].data, query)
            if segs[2].startswith("root:"):
                item_path = "/".join([segs[2][5:], *segs[3:]]).rstrip(":")
                found = self._by_path(drive, item_path)
                if found is None:
                    return 404, {}, {"error": {"code": "itemNotFound",
                                               "message": "The resource could not be found."}}
                return 200, {}, self._select(found.data, query)
        if segs[0] == "sites" and ":" in segs[1]:  # GET /sites/{host}:/{path}: the site
            site_id = self._site_paths.get("/".join(segs[1:]))
            if site_id is None:
                return 404, {}, {"error": {"code": "itemNotFound", "message": path}}
            return 200, {}, {"id": site_id}
        if segs[0] == "sites" and len(segs) == 3 and segs[1] in self._sites:
            libraries = self._sites[segs[1]]
            if segs[2] == "drive":
                return 200, {}, {"id": libraries["__default__"]}
            if segs[2] == "drives":
                return 200, {}, {"value": [{"id": d, "name": n} for n, d in libraries.items()
                                           if n != "__default__"]}
        return 404, {}, {"error": {"code": "itemNotFound", "message": path}}

    @staticmethod
    def _select(data: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        wanted = query.get("$select")
        if not wanted:
            return dict(data)
        fields = {f.strip() for f in wanted.split(",")} | {"id"}
        return {k: v for k, v in data.items() if k in fields}

    @staticmethod
    def _encode(state: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")

    @staticmethod
    def _decode(token: str) -> dict[str, Any]:
        padded = token + "=" * (-len(token) % 4)
        state: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
        return state

    def _round(self, collection: str, state: dict[str, Any]) -> list[_Obj]:
        """The objects a round reports, in change order: everything there for a first round,
        else what changed in (after, upto]."""
        objs = [o for o in self._objs.values() if o.collection == collection]
        after, upto = state["after"], state["upto"]
        if after < 0:
            chosen = [o for o in objs if not o.deleted and o.created <= upto]
        elif state.get("changeType") == "created":
            chosen = [o for o in objs if after < o.created <= upto and not o.deleted]
        else:
            chosen = [o for o in objs if after < o.changed <= upto]
        return sorted(chosen, key=lambda o: o.changed)

    def _page(self, collection: str, state: dict[str, Any], size: int,
              links: tuple[str, str], render: Any) -> tuple[int, dict[str, str], Any]:
        chosen = self._round(collection, state)
        offset = state.get("offset", 0)
        page = chosen[offset:offset + size]
        body: dict[str, Any] = {"value": [render(o, state) for o in page]}
        if offset + size < len(chosen):
            link = links[0] if self.link_base is None else \
                self.link_base + links[0][len(self.url):]
            body["@odata.nextLink"] = link + self._encode({**state, "offset": offset + size})
        else:
            body["@odata.deltaLink"] = links[1] + self._encode(
                {**state, "after": state["upto"], "offset": 0})
        return 200, {}, body

    def _expired(self, state: dict[str, Any], code: str,
                 location: str) -> tuple[int, dict[str, str], Any] | None:
        if state.get("epoch", 0) == self._epoch:
            return None
        return self._expiry_status, {"Location": location}, {"error": {
            "code": code, "message": "The sync state generation is not found."}}

    def _mail_delta(self, user: str, folder: str, query: dict[str, str],
                    headers: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        base = f"{self.graph_url}/users/{quote(user)}/mailFolders/{quote(folder)}/messages/delta"
        token = query.get("$skiptoken") or query.get("$deltatoken")
        if token:
            state = self._decode(token)
            expired = self._expired(state, "syncStateNotFound", base)
            if expired:
                return expired
            if "$deltatoken" in query:  # a new round from where the last one ended
                state = {**state, "upto": self._seq}
        else:
            state = {"after": -1, "upto": self._seq, "offset": 0, "epoch": self._epoch,
                     "select": query.get("$select", ""), "changeType": query.get("changeType")}
        size = 10  # Graph's default page for messages
        for value in headers.get("prefer", []):
            for pref in value.split(","):
                name, _, number = pref.strip().partition("=")
                if name == "odata.maxpagesize" and number.isdigit():
                    size = int(number)

        def render(obj: _Obj, st: dict[str, Any]) -> dict[str, Any]:
            if obj.deleted:
                return {"@odata.type": "#microsoft.graph.message", "id": obj.id,
                        "@removed": {"reason": "deleted"}}
            return {"@odata.type": "#microsoft.graph.message",
                    "@odata.etag": f'W/"{obj.data["changeKey"]}"',
                    **self._select(obj.data, {"$select": st.get("select", "")})}

        return self._page(f"mail:{user.lower()}/{folder.lower()}", state, size,
                          (base + "?$skiptoken=", base + "?$deltatoken="), render)

    def _drive_delta(self, drive: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        base = f"{self.graph_url}/drives/{quote(drive)}/root/delta"
        token = query.get("token")
        if token == "latest":
            state = {"after": self._seq, "upto": self._seq, "offset": 0, "epoch": self._epoch,
                     "select": query.get("$select", ""), "top": int(query.get("$top", 200))}
            return 200, {}, {"value": [], "@odata.deltaLink": base + "?token=" +
                             self._encode(state)}
        if token:
            state = self._decode(token)
            expired = self._expired(state, "resyncChangesApplyDifferences", base)
            if expired:
                return expired
            if state.get("offset", 0) == 0 and state["after"] >= 0:
                state = {**state, "upto": self._seq}
        else:
            state = {"after": -1, "upto": self._seq, "offset": 0, "epoch": self._epoch,
                     "select": query.get("$select", ""), "top": int(query.get("$top", 200))}

        def render(obj: _Obj, st: dict[str, Any]) -> dict[str, Any]:
            if obj.deleted:  # Graph leaves the name out of a deleted item
                return {"id": obj.id, "deleted": {"state": "deleted"},
                        "parentReference": obj.data["parentReference"]}
            return self._select(obj.data, {"$select": st.get("select", "")})

        return self._page(f"drive:{drive}", state, int(state.get("top", 200)),
                          (base + "?token=", base + "?token="), render)


@contextmanager
def graph_server() -> Iterator[GraphServer]:
    """Serve on a free port of 127.0.0.1 in a thread for the duration of the block."""
    state = GraphServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: without this, each answer waits for the
        # client's delayed ACK (40 ms)
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers: dict[str, list[str]] = {}
            for name, value in self.headers.items():
                headers.setdefault(name.lower(), []).append(value)
            form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()} \
                if self.command == "POST" else {}
            status, extra, payload = state.answer(Seen(self.command, self.path, headers, form))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests assert on what was seen."""

    with serve(Handler) as url:
        state.url = url
        yield state
