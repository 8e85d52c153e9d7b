"""Free ports for the services and servers a test starts."""

from __future__ import annotations

import socket

# Every port free_port has handed out in this process: a port is free only until its service
# binds it, so two calls before the first service is up could get the same port from the
# kernel (a CI run once gave the audit and definitions services one port, and the audit
# answered the definitions' health check).
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, never one this process handed out before."""
    for _ in range(1000):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("Expected a free port not handed out before, but found none in 1000 tries")
