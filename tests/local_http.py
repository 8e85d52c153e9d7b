"""How the tests' local HTTP servers start: a real server on a free port of 127.0.0.1, served
in a daemon thread for the duration of a `with` block. The scripted servers (connectors, feeds,
Microsoft Graph, the Anthropic Messages API, a JSON tool endpoint) bring only their handler.

The same helper a connector team uses: `laneway.connectors.testing.serve`."""

from __future__ import annotations

from laneway.connectors.testing import serve

__all__ = ["serve"]
