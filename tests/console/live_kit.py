"""What the instance and audit pages' tests share: starting instances and waiting for them
through the API (setup, not what is tested), and a port that refuses connections until a test
opens an HTTP server on it."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx

from scripts.stack.testing import wait_until
from tests.auth import auth_header
from tests.e2e.harness import Laneway

__all__ = ["answering", "closed_port", "complete_task", "instance", "start",
           "task_of"]


def start(lw: Laneway, process_id: str, variables: dict[str, Any] | None = None,
          user: str = "starter") -> str:
    """Start an instance as `user` (a human without roles); its id once the projection has it."""
    r = httpx.post(f"{lw.public_url}/api/instances", headers=auth_header(user), timeout=30,
                   json={"processId": process_id, "variables": variables or {}})
    assert r.status_code == 201, r.text
    iid: str = r.json()["instanceId"]
    instance(lw, iid)
    return iid


def instance(lw: Laneway, iid: str, until: Any = None, timeout: float = 30) -> dict[str, Any]:
    """The projection of an instance (as an operator) once it is there and `until(it)` holds."""
    def read() -> dict[str, Any] | None:
        r = httpx.get(f"{lw.public_url}/api/instances/{iid}", timeout=10,
                      headers=auth_header("watcher", roles=["operator"]))
        if r.status_code != 200:
            return None
        found: dict[str, Any] = r.json()
        return found if until is None or until(found) else None
    result: dict[str, Any] = wait_until(read, timeout, 0.1, f"instance {iid}")
    return result


def task_of(lw: Laneway, iid: str, element_id: str, persona: str) -> dict[str, Any]:
    """The open user task of the instance at `element_id`, as its lane's persona sees it."""
    def read() -> dict[str, Any] | None:
        r = httpx.get(f"{lw.public_url}/api/tasks", params={"instanceId": iid}, timeout=10,
                      headers=auth_header("task-reader", personas=[persona]))
        items = r.json().get("items", []) if r.status_code == 200 else []
        return next((t for t in items if t.get("elementId") == element_id), None)
    found: dict[str, Any] = wait_until(read, 30, 0.1, f"task {element_id} of {iid}")
    return found


def complete_task(lw: Laneway, task_id: str, user: str, persona: str,
                  variables: dict[str, Any] | None = None) -> None:
    """Complete a task through the API as `user` holding the lane's `persona`."""
    r = httpx.post(f"{lw.public_url}/api/tasks/{task_id}/complete", timeout=30,
                   headers=auth_header(user, personas=[persona]),
                   json={"variables": variables or {}})
    assert r.status_code == 200, r.text


def closed_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Ok(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = json.dumps({"ok": True, "id": str(uuid.uuid4())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def answering(port: int) -> Iterator[http.server.ThreadingHTTPServer]:
    """An HTTP server on `port` answering 200 with JSON to every request, in a thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="http-ok")
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
