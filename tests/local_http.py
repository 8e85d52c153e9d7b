"""How the tests' local HTTP servers start: a real server on a free port of 127.0.0.1, served
in a daemon thread for the duration of a `with` block. The scripted servers (connectors, feeds,
Microsoft Graph, the Anthropic Messages API, a JSON tool endpoint) bring only their handler."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["serve"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # a connectors service answers 32 jobs at once per process: the default backlog of 5
    # reset some of their connections (a ReadError for the job, not the code under test)
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up (a timeout test, one that stopped reading a body too large)
        is expected, not news."""


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free port of 127.0.0.1 in a thread for the duration of the block;
    yields the base URL, `http://127.0.0.1:<port>`."""
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
