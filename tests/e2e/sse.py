"""A server-sent events client for the live feed's tests and benchmark, as the console reads
it: `fetch()`-style streaming with a bearer header (httpx), not `EventSource`.

`parse` turns lines into events (the SSE format: `field: value` lines, a blank line ends an
event, a line starting with `:` is a comment); `LiveStream` reads one stream with a deadline
on every wait, so a test never hangs on a stream that says nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["LiveStream", "SseEvent", "SseParser"]


@dataclass
class SseEvent:
    """One event (or, with `comment`, one comment line) and when it was read."""

    event: str | None = None
    id: str | None = None
    data: str = ""
    comment: str | None = None
    read_at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.data)


class SseParser:
    """Feed lines; get events when a blank line ends them, and comments at once."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}
        self._data: list[str] = []

    def line(self, line: str) -> SseEvent | None:
        if line.startswith(":"):
            return SseEvent(comment=line[1:].strip())
        if line == "":
            if not self._fields and not self._data:
                return None
            event = SseEvent(event=self._fields.get("event"), id=self._fields.get("id"),
                             data="\n".join(self._data))
            self._fields, self._data = {}, []
            return event
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        else:
            self._fields[name] = value
        return None


class LiveStream:
    """`GET /api/instances/{id}/live` through `base_url`, open while the `with` block runs."""

    def __init__(self, base_url: str, instance_id: str, headers: dict[str, str],
                 timeout_s: float = 30.0) -> None:
        self._client = httpx.Client(base_url=base_url, headers=headers,
                                    timeout=httpx.Timeout(timeout_s))
        self._request = self._client.build_request("GET", f"/api/instances/{instance_id}/live")
        self.response: httpx.Response | None = None
        self.events: list[SseEvent] = []
        """Every event and comment read so far."""
        self._lines: Iterator[str] | None = None
        self._parser = SseParser()

    def __enter__(self) -> LiveStream:
        self.response = self._client.send(self._request, stream=True)
        if self.response.status_code == 200:
            self._lines = self.response.iter_lines()
        else:
            self.response.read()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.response is not None:
            self.response.close()
        self._client.close()

    @property
    def status_code(self) -> int:
        assert self.response is not None
        return self.response.status_code

    def next(self, deadline: float) -> SseEvent | None:
        """The next event or comment; None when the stream ended. Fails past `deadline`
        (time.monotonic()): the server's keepalive bounds each wait."""
        assert self._lines is not None, "the stream did not open"
        for line in self._lines:
            event = self._parser.line(line)
            if event is not None:
                self.events.append(event)
                return event
            if time.monotonic() > deadline:
                break
        else:
            return None
        raise AssertionError(f"the stream said nothing useful before the deadline; read "
                             f"{len(self.events)} events")

    def until(self, wanted: Callable[[SseEvent], bool], timeout_s: float,
              what: str = "an event") -> SseEvent:
        """Read until an event `wanted` accepts; fail after `timeout_s` or at the end."""
        deadline = time.monotonic() + timeout_s
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout_s:g}s; read: "
                                     f"{[(e.event, e.data[:120]) for e in self.events]}")
            event = self.next(deadline)
            if event is None:
                raise AssertionError(f"the stream ended before {what}; read: "
                                     f"{[(e.event, e.data[:120]) for e in self.events]}")
            if wanted(event):
                return event
