"""What no route of any service accepts, refused before a route sees it: a path or query
holding U+0000, and a JSON body holding U+0000, a number that is NaN or infinite (`NaN`,
`Infinity`, `1e400`), or nesting deeper than `laneway.jsonb.MAX_DEPTH`.

Each of them is valid enough to pass FastAPI's validation and Python's `json` module, and
then is refused by PostgreSQL (`jsonb` and `text` take no U+0000, `jsonb` no NaN) or by a
recursive reader, far from the request: a 500, or worse, a record accepted with 201 that a
projection downstream cannot store. Here the client gets a 422 problem document that names
where the value is, and nothing is sent on. A JSON body larger than `MAX_JSON_BODY` is
refused with 413 (the edge allows no larger body; this holds for a client that reaches a
service's port directly). A body that is not JSON at all is left to the route's own answer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from laneway.jsonb import unstorable
from laneway.web.problems import problem

__all__ = ["MAX_JSON_BODY", "InputGuard", "install", "refusal"]

MAX_JSON_BODY = 21 * 1024 * 1024
"""The largest JSON body read (the edge's `client_max_body_size`, 21 MiB)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class InputGuard:
    """ASGI middleware: refuse what no store can keep before the app sees it."""

    def __init__(self, app: App, max_body: int = MAX_JSON_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or b"\x00" in unquote_to_bytes(
                scope.get("query_string", b"")):
            await problem(422, "Expected a path and query without the character U+0000, "
                               "but the request holds one")(scope, receive, send)
            return
        if not _is_json(scope):
            await self.app(scope, receive, send)
            return
        body, rest = await _read(receive, self.max_body)
        if rest is None:
            await problem(413, f"Expected a JSON body of at most {self.max_body} bytes, but "
                               "it is longer")(scope, receive, send)
            return
        reason = refusal(body)
        if reason is not None:
            await problem(422, f"Expected a JSON body every store can keep, but {reason}")(
                scope, receive, send)
            return
        await self.app(scope, _prefixed(
            {"type": "http.request", "body": body, "more_body": False}, rest), send)


def install(app: Any) -> None:
    """Guard every request of a FastAPI (or Starlette) app."""
    app.add_middleware(InputGuard)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind = bytes(value).split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return False


async def _read(receive: Receive, limit: int) -> tuple[bytes, Receive | None]:
    """The whole body, and the receive to hand on; None for the receive when the body is
    over `limit` (nothing more is read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: let the app see it
            return b"".join(chunks), _prefixed(message, receive)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), receive


def refusal(body: bytes) -> str | None:
    """Why the JSON `body` cannot be kept (it nests too deeply for the parser, or
    `laneway.jsonb.unstorable`), or None; None too when it is not JSON at all. For a route
    that reads its body as JSON whatever its content type says, which this guard does not
    look at."""
    try:
        document = json.loads(body)
    except RecursionError:
        return "it nests too deeply to read"
    except ValueError:  # not JSON (UnicodeDecodeError included): the route answers that
        return None
    return unstorable(document)


def _prefixed(first: Message, receive: Receive) -> Receive:
    """A receive that gives `first`, then what `receive` gives."""
    given = False

    async def then() -> Message:
        nonlocal given
        if not given:
            given = True
            return first
        return await receive()
    return then
