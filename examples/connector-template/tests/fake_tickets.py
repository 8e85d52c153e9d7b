"""A local ticketing API that answers as the real one does: 201 with the new ticket, the same
ticket again (200) for an `Idempotency-Key` it has seen, 401 for a wrong token, 422 for a ticket
it refuses, 429 with `Retry-After`, 503. Only what leaves the machine is replaced: the
connector, httpx and the secrets in the tests are the real ones."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from laneway.connectors.testing import serve

TOKEN = "tk-live-4f9a2c"


@dataclass
class FakeTickets:
    """What the API received and holds, and what it answers next (`script`, by title)."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    tickets: dict[str, dict[str, str]] = field(default_factory=dict)
    """Ticket by idempotency key."""
    script: dict[str, tuple[int, Mapping[str, Any], Mapping[str, str]]] = field(
        default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def fake_tickets() -> Iterator[FakeTickets]:
    """Run the fake API for the duration of the block."""
    state = FakeTickets()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

        def _send(self, status: int, body: Mapping[str, Any],
                  headers: Mapping[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            key = self.headers.get("Idempotency-Key", "")
            with state.lock:
                state.requests.append({"path": self.path, "body": body, "key": key,
                                       "auth": self.headers.get("Authorization", "")})
                scripted = state.script.get(body.get("title", ""))
                seen = state.tickets.get(key)
            if self.path != "/tickets":
                self._send(404, {"error": "not found"})
            elif self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"error": "invalid token"})
            elif scripted is not None:
                self._send(*scripted)
            elif seen is not None:
                self._send(200, seen)  # the same request again: the same ticket
            elif not body.get("title"):
                self._send(422, {"error": "title is required"})
            else:
                with state.lock:
                    number = len(state.tickets) + 1
                    ticket = {"id": f"T-{number}", "url": f"{state.url}/t/{number}"}
                    state.tickets[key] = ticket
                self._send(201, ticket)

    with serve(Handler) as url:
        state.url = url
        yield state
