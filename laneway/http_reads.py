"""Reading an answer from a server that is not ours, within a bound: what the connectors and
triggers that call out share."""

from __future__ import annotations

import httpx

__all__ = ["read_at_most"]


async def read_at_most(response: httpx.Response, limit: int) -> bytes | None:
    """The streamed `response`'s body, or None once it is past `limit` bytes (after
    decompression). A declared Content-Length over the limit is refused before anything is
    read; a server that declares none, or lies, is stopped as soon as it sends more."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
