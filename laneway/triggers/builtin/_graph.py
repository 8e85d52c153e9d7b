"""Microsoft Graph for the `graph-mailbox` and `sharepoint-folder` triggers: the app's token
(OAuth 2.0 client credentials, cached), bounded GETs that turn Graph's answers into
`TriggerFailed` or a resync, and the walk over a delta query's pages.

A delta query is a round of pages linked by `@odata.nextLink`; the last page carries an
`@odata.deltaLink`, which the next round starts from. The cursor keeps the link to continue
from and how the items on the pages still to read are treated (`mode`):

- `skip`: a first poll with `skip-existing` records where things are; nothing fires;
- `fire`: every item the source accepts fires (a round from a deltaLink, or `fire-existing`);
- `since`: after Graph dropped the delta token (410 Gone, `syncStateNotFound`): a fresh
  enumeration where only what changed since the last completed round (less `RESYNC_SLACK_MS`)
  fires. Items fired before collapse on their dedup key, so a reset neither loses what came
  meanwhile nor starts an instance twice.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import ipaddress
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from laneway.http_reads import read_at_most
from laneway.triggers._api import (
    MAX_DEDUP_KEY,
    PollRequest,
    PollResult,
    TriggerContext,
    TriggerFailed,
    TriggerItem,
)
from laneway.triggers._settings import whole_number

GRAPH_URL = "https://graph.microsoft.com/v1.0"
AUTHORITY_URL = "https://login.microsoftonline.com"
CREDENTIALS = ("tenantId", "clientId", "clientSecret")
"""The schedule's credentials: the app registration's tenant, client id and client secret."""

MAX_RESPONSE_BYTES = 4 << 20
"""The largest answer read from Graph or the token endpoint; a larger one fails the poll."""
MAX_PAGES = 25
"""Delta pages read per poll; more are read by the next poll, at once (`more=True`)."""
MAX_ITEMS = 1000
"""The highest `laneway:maxItems`."""
DEFAULT_MAX_ITEMS = 100
MAX_LINK = 8192
"""The longest nextLink or deltaLink kept in a cursor."""
TOKEN_MARGIN_S = 120.0
"""A token is fetched anew this long before it expires (clock skew, a slow poll)."""
RESYNC_SLACK_MS = 10 * 60_000
"""After a reset, items changed this long before the last completed round fire too: the
round's end and Graph's timestamps are on different clocks, and Exchange and SharePoint
record some changes late."""
_MAX_TOKENS = 256
_TIME_SHARE = 0.8  # of ctx.timeout: stop reading pages after this, and keep what was read
_RESYNC_CODES = frozenset({
    "syncstatenotfound", "syncstateinvalid", "resyncrequired",
    "resyncchangesapplydifferences", "resyncchangesuploaddifferences"})
# Microsoft's clouds (public, US government, China): a diagram may name these hosts
_MICROSOFT_HOSTS = frozenset({
    "graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn",
    "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn"})
_GRAPH_SCOPES = frozenset({"graph.microsoft.com", "graph.microsoft.us",
                           "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"})
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
_AADSTS = re.compile(r"AADSTS\d{4,8}")
_MAX_DETAIL = 200


def _short(text: object, limit: int = _MAX_DETAIL) -> str:
    """A far side's words in our message: one line, bounded."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


# --- settings -----------------------------------------------------------------------------

def max_items(settings: Mapping[str, str]) -> int:
    """`laneway:maxItems` (checked at deploy)."""
    return int(settings.get("maxItems", DEFAULT_MAX_ITEMS))


def check_common(settings: Mapping[str, str]) -> Iterator[str]:
    """What both Graph triggers refuse at deploy: a bad maxItems, endpoint URLs that are not
    plain http(s) addresses."""
    try:
        whole_number(settings, "maxItems", 1, 1, MAX_ITEMS)
    except ValueError as exc:
        yield str(exc)
    for name in ("graphUrl", "authorityUrl"):
        value = settings.get(name)
        if value is not None and _url_problem(value) is not None:
            yield f"Expected laneway:{name} to be an http(s) URL without query or user " \
                  f"name, such as '{GRAPH_URL if name == 'graphUrl' else AUTHORITY_URL}', " \
                  f"but got {value!r}"


def _url_problem(value: str) -> str | None:
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    if parts.query or parts.fragment or parts.username or parts.password:
        return "has a query, fragment or user name"
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the token and Graph are asked."""

    graph: str
    """Graph's base, without a trailing slash: `https://graph.microsoft.com/v1.0`."""
    authority: str
    """The identity platform's base: `https://login.microsoftonline.com`."""

    @property
    def scope(self) -> str:
        """The client-credentials scope: all the app's Graph permissions, of the cloud the
        Graph URL names (a test server or a proxy: the public cloud's)."""
        host = (urlsplit(self.graph).hostname or "").lower()
        return f"https://{host}/.default" if host in _GRAPH_SCOPES else \
            "https://graph.microsoft.com/.default"

    @property
    def graph_origin(self) -> str:
        parts = urlsplit(self.graph)
        return f"{parts.scheme}://{parts.netloc}".lower()

    def same_origin(self, url: str) -> bool:
        """Whether a link Graph gave (a nextLink) points back at Graph: the bearer token goes
        nowhere else."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        return f"{parts.scheme}://{parts.netloc}".lower() == self.graph_origin


def endpoints(settings: Mapping[str, str], deployment: Mapping[str, str]) -> Endpoints:
    """The schedule's endpoints: the diagram's `laneway:graphUrl`/`laneway:authorityUrl`, else
    the deployment's (`LANEWAY_TRIGGER_<TYPE>_GRAPH_URL`/`_AUTHORITY_URL`), else Microsoft's
    public cloud. A URL from the diagram must name one of Microsoft's hosts over https, a
    loopback address (a local test server), or a host the deployment allows
    (`..._ALLOWED_HOSTS`, comma-separated): the client secret goes to the authority, so a
    changed diagram must not send it elsewhere."""
    allowed = _MICROSOFT_HOSTS | {h.strip().lower() for h in
                                  deployment.get("allowed_hosts", "").split(",") if h.strip()}

    def pick(name: str, key: str, default: str) -> str:
        value = settings.get(name, "").strip()
        if not value:
            return (deployment.get(key, "").strip() or default).rstrip("/")
        if _url_problem(value) is not None:
            raise TriggerFailed(f"Expected laneway:{name} to be an http(s) URL, but got "
                                f"{value!r}", retryable=False)
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        if not (_loopback(host) or (host in allowed and parts.scheme == "https")):
            raise TriggerFailed(
                f"Expected laneway:{name} to name one of Microsoft's Graph or sign-in hosts "
                f"over https, a loopback address, or a host the deployment allows "
                f"(LANEWAY_TRIGGER_<TYPE>_ALLOWED_HOSTS), but it names {host!r}",
                retryable=False)
        return value.rstrip("/")

    return Endpoints(pick("graphUrl", "graph_url", GRAPH_URL),
                     pick("authorityUrl", "authority_url", AUTHORITY_URL))


# --- the app's token ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AppCredentials:
    """An app registration's client credentials."""

    tenant: str
    client_id: str
    client_secret: str = field(repr=False)

    def cache_key(self, authority: str) -> tuple[str, str, str, str]:
        # the secret's hash is part of the key: a schedule naming another's tenant and client
        # id with a wrong secret must not borrow the other's token
        digest = hashlib.sha256(self.client_secret.encode()).hexdigest()
        return authority, self.tenant.lower(), self.client_id, digest


def app_credentials(credentials: Mapping[str, str]) -> AppCredentials:
    """The schedule's credentials; a non-retryable failure naming what is missing (never a
    value) until an operator sets them."""
    missing = [n for n in CREDENTIALS if not str(credentials.get(n, "")).strip()]
    if missing:
        raise TriggerFailed(
            f"Expected the schedule's credentials {', '.join(CREDENTIALS)} (the app "
            f"registration's; set them with PUT /api/schedules/{{id}}/credentials), but "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing",
            retryable=False)
    tenant = credentials["tenantId"].strip()
    if not _TENANT.match(tenant):
        raise TriggerFailed("Expected the credential tenantId to be a tenant id or domain "
                            "name (letters, digits, '.', '-'), but it is not", retryable=False)
    return AppCredentials(tenant, credentials["clientId"].strip(),
                          credentials["clientSecret"].strip())


class TokenCache:
    """Access tokens by (authority, tenant, client, secret's hash), each until
    `TOKEN_MARGIN_S` before it expires. In memory only: a restarted service asks anew."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str, str], tuple[str, float]] = {}

    def get(self, key: tuple[str, str, str, str]) -> str | None:
        found = self._tokens.get(key)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def put(self, key: tuple[str, str, str, str], token: str, expires_in: float) -> None:
        until = time.monotonic() + expires_in - TOKEN_MARGIN_S
        if until <= time.monotonic():
            return  # too short-lived to keep: the next poll asks anew
        if len(self._tokens) >= _MAX_TOKENS:
            now = time.monotonic()
            for k in [k for k, (_, u) in self._tokens.items() if u <= now]:
                del self._tokens[k]
            while len(self._tokens) >= _MAX_TOKENS:
                del self._tokens[next(iter(self._tokens))]  # the oldest
        self._tokens[key] = (token, until)

    def drop(self, key: tuple[str, str, str, str]) -> None:
        self._tokens.pop(key, None)


# --- Graph --------------------------------------------------------------------------------

class Resync(Exception):
    """Graph no longer knows the delta token: start a fresh enumeration."""


def _retry_after(response: httpx.Response) -> str:
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return f"; retry after {int(value)} s"
    return f"; retry after {_short(value, 40)}" if value else ""


def _error_code(body: Any) -> tuple[str, str]:
    """Graph's `{"error": {"code", "message"}}`, or the identity platform's
    `{"error", "error_description"}`."""
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("code", "")), str(error.get("message", ""))
    if isinstance(error, str):
        return error, str(body.get("error_description", ""))
    return "", ""


class GraphClient:
    """One poll's conversation with Graph: the token (refreshed once on a 401), bounded
    answers, the poll's time budget."""

    def __init__(self, ctx: TriggerContext, ends: Endpoints, app: AppCredentials,
                 tokens: TokenCache) -> None:
        self._ctx = ctx
        self.ends = ends
        self._app = app
        self._tokens = tokens
        self._key = app.cache_key(ends.authority)
        self._refreshed = False
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + max(1.0, ctx.timeout * _TIME_SHARE)

    def remaining(self) -> float:
        return self._deadline - asyncio.get_running_loop().time()

    def url(self, path: str) -> str:
        return self.ends.graph + path

    async def _read(self, method: str, url: str, what: str, **kwargs: Any) -> tuple[
            httpx.Response, Any]:
        """Send, read at most MAX_RESPONSE_BYTES, parse JSON (None when the body is not)."""
        timeout = max(1.0, self.remaining())
        try:
            async with self._ctx.http.stream(method, url, timeout=timeout, **kwargs) as response:
                data = await read_at_most(response, MAX_RESPONSE_BYTES)
                if data is None:
                    raise self._too_large(what)
        except httpx.InvalidURL as exc:
            raise TriggerFailed(f"Expected a valid URL for {what}: {_short(exc)}",
                                retryable=False) from None
        except httpx.TimeoutException as exc:
            raise TriggerFailed(f"{what} timed out: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise TriggerFailed(f"{what} failed: {type(exc).__name__}: {_short(exc)}") from None
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):
            body = None
        return response, body

    @staticmethod
    def _too_large(what: str) -> TriggerFailed:
        return TriggerFailed(f"Expected {what} to answer at most {MAX_RESPONSE_BYTES >> 20} "
                             f"MiB, but it sent more", retryable=False)

    async def token(self) -> str:
        cached = self._tokens.get(self._key)
        if cached is not None:
            return cached
        what = "the token request to the identity platform"
        url = f"{self.ends.authority}/{self._app.tenant}/oauth2/v2.0/token"
        response, body = await self._read(
            "POST", url, what, data={"grant_type": "client_credentials",
                                     "client_id": self._app.client_id,
                                     "client_secret": self._app.client_secret,
                                     "scope": self.ends.scope})
        status = response.status_code
        if status != 200:
            code, description = _error_code(body)
            # the description may quote the client id; only the AADSTS number is kept
            aadsts = _AADSTS.search(description)
            detail = " ".join(p for p in (_short(code, 60), aadsts.group(0) if aadsts else "")
                              if p)
            retry = status in (408, 429) or status >= 500
            hint = _retry_after(response) if retry else \
                " (check the credentials tenantId, clientId and clientSecret)"
            raise TriggerFailed(f"The identity platform refused the app's client credentials:"
                                f" {status}{' ' + detail if detail else ''}{hint}",
                                retryable=retry)
        token = body.get("access_token") if isinstance(body, dict) else None
        expires = body.get("expires_in") if isinstance(body, dict) else None
        try:
            expires_in = float(expires) if expires is not None else 0.0
        except (TypeError, ValueError):
            expires_in = 0.0
        if not isinstance(token, str) or not token or len(token) > 64_000:
            raise TriggerFailed("Expected the identity platform's token answer to carry an "
                                "access_token, but it does not")
        self._tokens.put(self._key, token, expires_in)
        return token

    async def get(self, url: str, what: str, headers: Sequence[tuple[str, str]] = (), *,
                  delta: bool = False) -> dict[str, Any]:
        """GET a Graph URL as the app: the parsed JSON object. Raises `Resync` when Graph
        dropped the delta token (`delta`: a delta query's page), `TriggerFailed` otherwise."""
        while True:
            token = await self.token()
            response, body = await self._read(
                "GET", url, what, headers=[("Authorization", f"Bearer {token}"),
                                           ("Accept", "application/json"), *headers])
            status = response.status_code
            if status == 401 and not self._refreshed:
                # an expired or revoked token: one fresh one, then the answer stands
                self._refreshed = True
                self._tokens.drop(self._key)
                continue
            break
        code, message = _error_code(body)
        if status == 200:
            if not isinstance(body, dict):
                raise TriggerFailed(f"Expected {what} to answer a JSON object, but it did not")
            return body
        if delta and (status == 410 or (400 <= status < 500 and code.lower() in _RESYNC_CODES)):
            raise Resync(code or str(status))
        detail = f"{status} {_short(code, 60)}".strip() + (f": {_short(message)}"
                                                             if message else "")
        if status == 401:
            raise TriggerFailed(f"Microsoft Graph refused a fresh token of the app for {what}"
                                f" ({detail})", retryable=False)
        if status == 403:
            raise TriggerFailed(f"Microsoft Graph refused {what} ({detail}): the app lacks "
                                f"the permission or admin consent", retryable=False)
        if status in (408, 429) or status >= 500:
            raise TriggerFailed(f"Microsoft Graph answered {what} with {detail}"
                                f"{_retry_after(response)}")
        raise TriggerFailed(f"Microsoft Graph answered {what} with {detail}", retryable=False)


# --- delta queries ------------------------------------------------------------------------

class DeltaSource(abc.ABC):
    """What is tracked: a mail folder's messages, a drive folder's files."""

    resource: str
    """What the cursor was made for; a cursor for something else (the diagram changed the
    folder or the Graph URL) is dropped and the schedule starts as new."""
    what: str
    """The delta query in messages: `the delta of mail folder 'inbox'`."""
    supports_latest = False
    """Whether `first_url(latest=True)` gives the current deltaLink without the items."""

    def headers(self, *, skipping: bool) -> Sequence[tuple[str, str]]:
        """Headers of each page's request; `skipping`: its items are not wanted."""
        return ()

    @abc.abstractmethod
    def first_url(self, *, latest: bool) -> str:
        """The first page of a fresh round; `latest`: the current deltaLink at once, without
        the existing items, where the source can (drives: `token=latest`)."""

    @abc.abstractmethod
    def item(self, entry: Mapping[str, Any]) -> TriggerItem | None:
        """The item an entry of a page starts, or None (removed, filtered out)."""

    @abc.abstractmethod
    def changed_ms(self, entry: Mapping[str, Any]) -> int | None:
        """When the entry arrived or changed (epoch ms), for a reset's `since`."""

    @abc.abstractmethod
    def order(self, item: TriggerItem) -> str:
        """Sorts a poll's items oldest first."""


def parse_time(value: Any) -> int | None:
    """An ISO 8601 time of Graph's (`2026-12-06T09:00:00Z`) in epoch ms; None when it is not
    one."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def dedup_key(prefix: str, *parts: str) -> str:
    """`prefix:part:part`, hashed when longer than the scheduler keeps."""
    key = ":".join((prefix, *parts))
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return f"{prefix}-sha256:" + hashlib.sha256(key.encode()).hexdigest()


@dataclass(slots=True)
class _Walk:
    link: str
    mode: str
    since: int | None
    synced: int | None
    items: dict[str, TriggerItem] = field(default_factory=dict)
    caught_up: bool = False
    more: bool = False
    resets: int = 0


def _fresh(source: DeltaSource, policy: str, synced: int | None, *, reset: bool) -> tuple[
        str, str, int | None]:
    """(link, mode, since) of a fresh round: a first poll or a reset."""
    if policy == "fire-existing":
        return source.first_url(latest=False), "fire", None
    if reset and synced is not None:
        since = synced - RESYNC_SLACK_MS
        return source.first_url(latest=False), "since", since
    return source.first_url(latest=source.supports_latest), "skip", None


def _cursor_walk(source: DeltaSource, client: GraphClient, cursor: Any,
                 policy: str) -> _Walk:
    if isinstance(cursor, dict) and cursor.get("v") == 1 \
            and cursor.get("resource") == source.resource:
        link, mode = cursor.get("link"), cursor.get("mode")
        since, synced = cursor.get("since"), cursor.get("synced")
        synced = synced if isinstance(synced, int) else None
        if isinstance(link, str) and client.ends.same_origin(link) \
                and mode in ("skip", "fire", "since"):
            return _Walk(link, mode, since if isinstance(since, int) else None, synced)
        link, mode, since = _fresh(source, policy, synced, reset=True)
        return _Walk(link, mode, since, synced)
    link, mode, since = _fresh(source, policy, None, reset=False)
    return _Walk(link, mode, since, None)


def _next_link(value: Any, client: GraphClient, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_LINK or not client.ends.same_origin(value):
        raise TriggerFailed(f"Expected {what} to link its next page on {client.ends.graph_origin}"
                            f" (at most {MAX_LINK} characters), but it did not", retryable=False)
    return value


async def poll_delta(request: PollRequest, ctx: TriggerContext, client: GraphClient,
                     source: DeltaSource, *, policy: str, limit: int,
                     extra: Mapping[str, Any] | None = None) -> PollResult:
    """One poll of a delta query: read pages from the cursor's link until the deltaLink, the
    item limit, `MAX_PAGES` or the time budget; the items oldest first and the next cursor
    (with `extra` kept in it)."""
    walk = _cursor_walk(source, client, request.cursor, policy)
    pages = 0
    while True:
        if pages >= MAX_PAGES or (pages and client.remaining() <= 0):
            walk.more = True
            break
        try:
            page = await client.get(walk.link, source.what,
                                    source.headers(skipping=walk.mode == "skip"), delta=True)
        except Resync as resync:
            if walk.resets:
                raise TriggerFailed(f"Microsoft Graph dropped the delta token of {source.what} "
                                    f"twice in one poll ({resync})") from None
            walk.resets += 1
            walk.link, walk.mode, walk.since = _fresh(source, policy, walk.synced, reset=True)
            ctx.log.info("Graph dropped the delta token of %s (%s): a fresh round, mode %s",
                         source.what, resync, walk.mode)
            continue
        pages += 1
        entries = page.get("value")
        if not isinstance(entries, list):
            raise TriggerFailed(f"Expected {source.what} to answer a page with a 'value' list, "
                                f"but it did not", retryable=False)
        if walk.mode != "skip":
            _take(source, walk, entries)
        if "@odata.deltaLink" in page:
            walk.link = _next_link(page["@odata.deltaLink"], client, source.what)
            walk.caught_up = True
            break
        walk.link = _next_link(page.get("@odata.nextLink"), client, source.what)
        if len(walk.items) >= limit:
            walk.more = True
            break
    cursor: dict[str, Any] = {"v": 1, "resource": source.resource, **(extra or {})}
    if walk.caught_up:
        # the next round's changes all fire; the time of this poll is where a reset starts
        cursor.update(link=walk.link, mode="fire", synced=request.now_ms)
    else:
        cursor.update(link=walk.link, mode=walk.mode)
        if walk.since is not None:
            cursor["since"] = walk.since
        if walk.synced is not None:
            cursor["synced"] = walk.synced
    items = sorted(walk.items.values(), key=source.order)
    return PollResult(items, cursor, more=walk.more)


def _take(source: DeltaSource, walk: _Walk, entries: list[Any]) -> None:
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if walk.mode == "since":
            changed = source.changed_ms(entry)
            if changed is None or walk.since is None or changed < walk.since:
                continue
        item = source.item(entry)
        if item is not None:
            # the same item may come twice in a round: the later is its latest state
            walk.items.pop(item.dedup_key, None)
            walk.items[item.dedup_key] = item
