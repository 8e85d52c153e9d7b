"""The `email` connector's own sending threads, seen from a real SMTP server (aiosmtpd) on
127.0.0.1 that counts the messages in flight: many jobs at once are many mails at once (not
the handful of threads of asyncio's default pool), up to the `threads` setting."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from laneway.connectors import Connector, JobFailed
from laneway.connectors.builtin import email
from laneway.connectors.builtin.email import EmailConnector
from laneway.connectors.testing import make_job, run_job_async

ATTRS = {"to": "clerk@example.org", "subject": "Order {{ n }}", "body": "Order {{ n }}."}


@dataclass
class Gate:
    """Holds each message until `wanted` are in flight at once (or `patience_s` passed), so
    the most in flight shows how many the client sends at once."""

    wanted: int
    patience_s: float = 3.0
    in_flight: int = 0
    most: int = 0
    delivered: list[str] = field(default_factory=list)
    _changed: asyncio.Condition | None = None

    async def handle_DATA(self, server: SMTPServer, session: Session,
                          envelope: Envelope) -> str:
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self._changed.notify_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(
                    lambda: self.in_flight >= self.wanted), self.patience_s)
            self.in_flight -= 1
        self.delivered.append(str(envelope.mail_from))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(gate: Gate) -> Iterator[str]:
    controller = Controller(gate, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{controller.port}?from=orders%40example.org"
    finally:
        controller.stop()


async def _send_many(connector: Connector, url: str, jobs: int,
                     settings: dict[str, str] | None = None) -> None:
    try:
        async with httpx.AsyncClient() as http:
            await asyncio.gather(*(
                run_job_async(connector, job=make_job("email", ATTRS, {"n": n}, key=n + 1),
                              secrets={"smtp": url}, settings=settings, http=http,
                              timeout=20.0)
                for n in range(jobs)))
    finally:
        await connector.close()


def test_many_jobs_send_many_mails_at_once() -> None:
    gate = Gate(wanted=16)
    for url in _serve(gate):
        asyncio.run(_send_many(EmailConnector(), url, 24))
    assert len(gate.delivered) == 24
    # asyncio's default pool has min(32, CPUs + 4) threads: 6 on a 2-CPU machine
    assert gate.most >= 16


def test_the_threads_setting_bounds_the_mails_in_flight() -> None:
    gate = Gate(wanted=3)
    for url in _serve(gate):
        asyncio.run(_send_many(EmailConnector(), url, 12, {"threads": "3"}))
    assert len(gate.delivered) == 12
    assert gate.most == 3


@pytest.mark.parametrize("raw", ["0", "-1", "many", "100000"])
def test_a_threads_setting_out_of_range_fails_without_retry(raw: str) -> None:
    gate = Gate(wanted=1)
    for url in _serve(gate):
        with pytest.raises(JobFailed) as caught:
            asyncio.run(_send_many(EmailConnector(), url, 1, {"threads": raw}))
    assert not caught.value.retryable
    assert "threads" in caught.value.message
    assert gate.delivered == []


def test_plain_smtp_builds_no_tls_context() -> None:
    gate = Gate(wanted=1)
    before = email._tls_context.cache_info()
    for url in _serve(gate):
        asyncio.run(_send_many(EmailConnector(), url, 3))
    assert len(gate.delivered) == 3
    assert email._tls_context.cache_info() == before
