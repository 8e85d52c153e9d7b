"""Real servers on 127.0.0.1 for the connector tests: an HTTP server that records what it
receives and answers by path, counting requests per Idempotency-Key."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.local_http import serve


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    """What the server received; `url` is its base address."""

    url: str
    requests: list[Received] = field(default_factory=list)
    per_key: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path: str) -> int:
        """Requests received for `path`."""
        with self.lock:
            return sum(1 for r in self.requests if r.path.split("?")[0] == path)


def _answer(path: str, seen_for_path: int) -> tuple[int, dict[str, object] | str]:
    """The canned answers, by path."""
    route = path.split("?")[0]
    if route == "/orders":
        return 201, {"id": "o-1", "total": 12.5, "lines": [{"sku": "A-1"}]}
    if route == "/echo":
        return 200, {"ok": True}
    if route == "/text":
        return 200, "plain words"
    if route == "/bad":
        return 400, {"error": "amount must be positive"}
    if route == "/missing":
        return 404, {"error": "no such order"}
    if route == "/down":
        return 503, "try later"
    if route == "/busy":  # rate limited, with a Retry-After header (see the handler)
        return 429, {"error": "slow down"}
    if route.startswith("/flaky/"):  # /flaky/<n>: 503 for the first n calls, then 200
        failures = int(route.rsplit("/", 1)[1])
        return (503, "not yet") if seen_for_path <= failures else (200, {"attempt": seen_for_path})
    if route == "/slow":
        time.sleep(2.0)
        return 200, {"slow": True}
    return 404, "unknown route"


@contextmanager
def recording_server() -> Iterator[RecordingServer]:
    """Serve on a free port of 127.0.0.1 in a thread for the duration of the block."""
    state = RecordingServer(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            received = Received(self.command, self.path,
                                {k.lower(): v for k, v in self.headers.items()}, body)
            with state.lock:
                state.requests.append(received)
                state.per_key[received.headers.get("idempotency-key", "")] += 1
                seen = sum(1 for r in state.requests if r.path == self.path)
            status, payload = _answer(self.path, seen)
            data = (json.dumps(payload) if not isinstance(payload, str) else payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if not isinstance(
                payload, str) else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Request-Id", "req-7")
            if status == 429:
                self.send_header("Retry-After", "2")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests assert on what was received."""

    # the server's backlog is 128: a connectors service answers 32 jobs at once per process
    # (see tests/local_http.py); a client that gave up (a timeout test) is not logged
    with serve(Handler) as url:
        state.url = url
        yield state
