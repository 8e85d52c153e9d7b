"""A real HTTP server on 127.0.0.1 that speaks the Anthropic Messages API, for tests of what
asks a model (the `ai-listener` trigger, the LLM connector).

`POST /v1/messages` checks what the API checks first (the key, in `x-api-key` or as
`Authorization: Bearer`, which the pinned SDK sends; an `anthropic-version` header; a JSON body
with `model`, a positive `max_tokens`, `messages`; a `tool_choice` naming an offered tool) and
answers, in the API's shapes, what the test scripted:

    with messages_api(key="sk-test") as api:
        api.answer(tool_use({"start": True, "reason": "storm"}))   # every request from now
        api.queue(error(529, "overloaded_error", "Overloaded"))    # the next request only

A successful answer is a `message` with the scripted content blocks, `stop_reason`
(`tool_use` when a block is a tool call, else `end_turn`) and `usage`; an error is
`{"type": "error", "error": {"type", "message"}, "request_id"}` with its status. `api.requests`
holds every request's headers and JSON body; `api.connections` and `api.closed` count the TCP
connections it accepted and saw closed (HTTP/1.1 keep-alive: a client that keeps its pool
uses one for request after request). `api.also_accept(key)` takes another key (a rotation).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.local_http import serve

__all__ = ["Answer", "MessagesApi", "ModelRequest", "error", "messages_api", "raw", "text",
           "tool_use"]


@dataclass(frozen=True)
class Answer:
    """What the server answers one request with: a status and a JSON body (None: the
    message of `blocks`, made for the request)."""

    status: int = 200
    body: Any = None
    blocks: tuple[dict[str, Any], ...] = ()
    stop_reason: str | None = None
    output_tokens: int = 17
    delay_s: float = 0.0
    """How long the server waits before answering (a slow model, for timeouts)."""


def tool_use(tool_input: Any, *, name: str | None = None, prose: str = "") -> Answer:
    """The model calls the tool (the one `tool_choice` names, unless `name` says) with
    `tool_input`, as it is (any JSON, so a malformed call can be scripted)."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": prose}] if prose else []
    blocks.append({"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24],
                   "name": name or "", "input": tool_input})
    return Answer(blocks=tuple(blocks), stop_reason="tool_use")


def text(words: str) -> Answer:
    """The model answers in prose and calls no tool."""
    return Answer(blocks=({"type": "text", "text": words},), stop_reason="end_turn")


def error(status: int, kind: str, message: str) -> Answer:
    """An error in the API's shape: 429 `rate_limit_error`, 529 `overloaded_error`, 401
    `authentication_error`, ..."""
    return Answer(status, {"type": "error", "error": {"type": kind, "message": message}})


def raw(status: int, body: Any) -> Answer:
    """Any body at all, for answers the API would never give."""
    return Answer(status, body)


@dataclass
class ModelRequest:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class MessagesApi:
    """The server's script and what it received; `url` is the base URL a client is given."""

    key: str
    url: str = ""
    requests: list[ModelRequest] = field(default_factory=list)
    connections: int = 0
    """TCP connections accepted."""
    closed: int = 0
    """TCP connections that ended (the client closed them)."""
    other_keys: set[str] = field(default_factory=set)
    _default: Answer = field(default_factory=lambda: text("No tool was scripted."))
    _queued: deque[Answer] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, answer: Answer) -> None:
        """Answer every request from now on with `answer` (after the queued ones)."""
        with self._lock:
            self._default = answer

    def queue(self, *answers: Answer) -> None:
        """Answer the next requests with `answers`, one each, then the default again."""
        with self._lock:
            self._queued.extend(answers)

    def also_accept(self, key: str) -> None:
        """Take `key` as well as the first one."""
        with self._lock:
            self.other_keys.add(key)

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def _next(self) -> Answer:
        with self._lock:
            return self._queued.popleft() if self._queued else self._default


def _refusal(status: int, kind: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"type": "error", "error": {"type": kind, "message": message}}


def _check(api: MessagesApi, headers: dict[str, str], body: Any) -> tuple[int, Any] | None:
    """What the API refuses before the model sees a request, as (status, body); None: fine."""
    given = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    if given != api.key and given not in api.other_keys:
        return _refusal(401, "authentication_error", "invalid x-api-key")
    if not headers.get("anthropic-version"):
        return _refusal(400, "invalid_request_error",
                        "anthropic-version: header is required")
    if not isinstance(body, dict):
        return _refusal(400, "invalid_request_error", "The request body is not valid JSON")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return _refusal(400, "invalid_request_error", "model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return _refusal(400, "invalid_request_error", "max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _refusal(400, "invalid_request_error", "messages: at least one message is "
                                                      "required")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        names = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        if choice.get("name") not in names:
            return _refusal(400, "invalid_request_error",
                            "tool_choice: the tool named is not in tools")
    return None


def _message(request_body: dict[str, Any], answer: Answer) -> dict[str, Any]:
    choice = request_body.get("tool_choice")
    forced = choice.get("name") if isinstance(choice, dict) else None
    blocks = [dict(b, name=b["name"] or forced or "tool") if b.get("type") == "tool_use" else b
              for b in answer.blocks]
    return {
        "id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant",
        "model": request_body["model"], "content": blocks,
        "stop_reason": answer.stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": max(1, len(json.dumps(request_body)) // 4),
                  "output_tokens": answer.output_tokens},
    }


@contextmanager
def messages_api(key: str = "sk-ant-test-key") -> Iterator[MessagesApi]:
    """Serve the Messages API on a free port of 127.0.0.1 for the duration of the block."""
    api = MessagesApi(key)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with api._lock:
                api.connections += 1

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                with api._lock:
                    api.closed += 1

        def _send(self, status: int, body: Any) -> None:
            if isinstance(body, dict) and body.get("type") == "error":
                body = {**body, "request_id": "req_" + uuid.uuid4().hex[:24]}
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                body: Any = json.loads(data)
            except ValueError:
                body = None
            with api._lock:
                api.requests.append(ModelRequest(self.path, headers, body))
            if self.path.split("?")[0] != "/v1/messages":
                self._send(*_refusal(404, "not_found_error", f"Not found: {self.path}"))
                return
            refused = _check(api, headers, body)
            if refused is not None:
                self._send(*refused)
                return
            answer = api._next()
            if answer.delay_s:
                time.sleep(answer.delay_s)
            if answer.body is not None or answer.status != 200:
                self._send(answer.status, answer.body)
                return
            self._send(200, _message(body, answer))

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests assert on what was received."""

    # a client that gave up (a timeout test) is expected: the server logs no error
    with serve(Handler) as url:
        api.url = url
        yield api
