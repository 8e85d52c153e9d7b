"""A mail catcher for the e-mail and response connector tests: a real SMTP server (aiosmtpd)
on 127.0.0.1 that requires AUTH, records what it accepts and who logged in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.ports import free_port

SMTP_USER, SMTP_PASSWORD = "mailer", "s3cr3t-p@ss"
"""The one login the server accepts (the password has an `@`, so URLs must quote it)."""


@dataclass
class Mailbox:
    """What the server accepted: (sender, recipients, raw message), and who logged in."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    # aiosmtpd looks the hook up by this name
    async def handle_DATA(self, server: SMTPServer, session: Session,
                          envelope: Envelope) -> str:
        assert envelope.mail_from is not None
        content = envelope.content or b""
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              content if isinstance(content, bytes) else content.encode()))
        return "250 OK"

    def authenticate(self, server: SMTPServer, session: Session, envelope: Envelope,
                     mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER
              and auth_data.password.decode() == SMTP_PASSWORD)
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)




@contextmanager
def smtp_server(mailbox: Mailbox, **kwargs: Any) -> Iterator[int]:
    """Serve `mailbox` with AUTH required; yields the port. `kwargs` go to the Controller
    (`auth_require_tls=False` for a plain connection, `tls_context=`... for STARTTLS)."""
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, auth_required=True,
                            authenticator=mailbox.authenticate, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def smtp_url(port: int, sender: str, scheme: str = "smtp") -> str:
    """The `smtp` secret that reaches the server on `port` as the accepted login."""
    return (f"{scheme}://{SMTP_USER}:{quote(SMTP_PASSWORD, safe='')}@127.0.0.1:{port}"
            f"?from={quote(sender, safe='')}")
