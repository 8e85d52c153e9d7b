"""A real HTTP server on 127.0.0.1 that answers every request with one scripted status and JSON
body (change them at any time), recording each request's headers: a tool endpoint for the
`ai-listener` trigger's tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.local_http import serve

__all__ = ["JsonEndpoint", "json_endpoint"]


@dataclass
class JsonEndpoint:
    """The answer (`status`, `body`: JSON-able, or bytes sent as they are) and what was seen;
    `url` is the endpoint's address."""

    url: str = ""
    status: int = 200
    body: Any = field(default_factory=dict)
    seen: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.seen)


@contextmanager
def json_endpoint(path: str = "/tool") -> Iterator[JsonEndpoint]:
    """Serve on a free port of 127.0.0.1 for the duration of the block."""
    state = JsonEndpoint()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with state.lock:
                state.seen.append({k.lower(): v for k, v in self.headers.items()})
                status, body = state.status, state.body
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests assert on what was seen."""

    with serve(Handler) as url:
        state.url = url + path
        yield state
