"""The `email` connector: one plain-text e-mail per job over SMTP (smtplib, in a thread).

The server comes from a secret, never from the diagram: `smtp`, or `smtp_<name>` when the
element says `laneway:smtp="<name>"`. The secret is a URL:

    smtp://user:pass@host:25              plain (a relay inside the cluster)
    smtp+starttls://user:pass@host:587    STARTTLS (the default port 587)
    smtps://user:pass@host:465            TLS from the first byte

with optional query parameters `from=` (the default sender) and `cafile=` (a CA bundle to
trust, for a private CA). The user and password are URL-encoded. Attributes: `laneway:to`,
`laneway:cc`, `laneway:bcc` (comma-separated, templates), `laneway:from`, `laneway:subject`,
`laneway:body` (templates), `laneway:resultVariable` (gets the Message-ID).

smtplib blocks, so each send runs in a thread of the connector's own pool (`SmtpPool`), not
asyncio's default one (a handful of threads shared with everything else, which capped the
mails in flight whatever the concurrency): at most `LANEWAY_CONNECTOR_EMAIL_THREADS` threads
(default 32, the default `LANEWAY_CONNECTOR_CONCURRENCY`; set it to the concurrency if that
is higher), made as sends need them. The TLS context of a `starttls`/`smtps` server is built
once per process and CA file (loading the trust store costs tens of milliseconds), and not at
all for plain SMTP.

The diagram says how many recipients there are: each placeholder in `to`, `cc`, `bcc` and
`from` must be exactly one bare address (`laneway.addresses`), so a variable holding
`a@x.org, b@y.net, "Boss" <c@z.com>` fails the job instead of mailing three people, and no
header value (subject included) may hold a line break, which would start a header of its
own. Both fail without retry: the variables have to change.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import smtplib
import ssl
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from opentelemetry.trace import SpanKind

from laneway.addresses import is_address
from laneway.attributes import POLICY, Attribute
from laneway.connectors._api import Connector, ConnectorContext, Job, JobFailed
from laneway.connectors._templates import TemplateError, render
from laneway.telemetry import child_span

DEFAULT_THREADS = 32
"""Threads sending at once per connector when `threads` is not set (the default
concurrency)."""
MAX_THREADS = 512
_SCHEMES = {"smtp": ("plain", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to send, read from the secret URL."""

    host: str
    port: int
    security: str
    """`plain`, `starttls` or `tls`."""
    user: str | None
    password: str | None
    sender: str | None
    cafile: str | None

    @staticmethod
    def from_url(url: str, secret: str) -> SmtpServer:
        """Parse the secret's URL; the message never quotes the URL (it holds a password)."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise JobFailed(f"Expected secret '{secret}' to be an SMTP URL such as "
                            "smtp+starttls://user:pass@host:587, but it does not parse",
                            retryable=False) from None
        if parts.scheme not in _SCHEMES or not parts.hostname:
            raise JobFailed(f"Expected secret '{secret}' to be a URL of scheme smtp, "
                            "smtp+starttls or smtps with a host, but it is not", retryable=False)
        security, default_port = _SCHEMES[parts.scheme]
        query = parse_qs(parts.query)
        return SmtpServer(
            host=parts.hostname, port=port or default_port, security=security,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            sender=query.get("from", [None])[0], cafile=query.get("cafile", [None])[0])


_ADDRESS_FIELDS = ("to", "cc", "bcc", "from")
# What str.splitlines breaks on: any of them in a header would start a line of its own
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_SHOWN = 80


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 1] + "…"


def _one_address(field: str) -> Callable[[str, Any], None]:
    """The check of a placeholder in an address field: one bare address."""
    def check(path: str, value: Any) -> None:
        if not (isinstance(value, str) and is_address(value.strip(), international=True)):
            raise JobFailed(f"Expected {{{{ {path} }}}} in laneway:{field} to be one e-mail "
                            f"address, but it is {_shown(value)}: each placeholder of an "
                            "address field names one recipient", retryable=False)
    return check


def _addresses(field: str, raw: str) -> list[str]:
    found = [addr for _, addr in getaddresses([raw]) if addr]
    for addr in found:
        if not is_address(addr, international=True):
            raise JobFailed(f"Expected laneway:{field} to hold e-mail addresses, but "
                            f"{_shown(addr)} is none", retryable=False)
    return found


def _no_line_breaks(fields: Mapping[str, str]) -> None:
    for name, value in fields.items():
        if _LINE_BREAKS.intersection(value):
            raise JobFailed(f"Expected laneway:{name} to be one line, but it holds a line "
                            f"break ({_shown(value)}), which would add a header of its own",
                            retryable=False)


def message_id(job: Job) -> str:
    """`<job-{instance}-{key}@laneway>`: the same for every attempt, so a receiving system
    that dedupes on Message-ID shows a repeated send once."""
    return f"<job-{job.instance_id}-{job.key}@laneway>"


def build_message(job: Job, sender: str | None) -> tuple[EmailMessage, list[str]]:
    """The message and its envelope recipients (to, cc and bcc)."""
    attrs, variables = job.attributes, job.variables
    try:
        fields = {name: render(attrs.get(f"laneway:{name}", ""), variables,
                               _one_address(name) if name in _ADDRESS_FIELDS else None).strip()
                  for name in ("to", "cc", "bcc", "from", "subject")}
        body = render(attrs.get("laneway:body", ""), variables)
    except TemplateError as exc:
        raise JobFailed(str(exc), retryable=False) from None
    _no_line_breaks(fields)
    to, cc, bcc = (_addresses(n, fields[n]) for n in ("to", "cc", "bcc"))
    if not to + cc + bcc:
        raise JobFailed("Expected laneway:to (or cc or bcc) to name a recipient, but it names "
                        "none", retryable=False)
    from_ = fields["from"] or sender
    if not from_:
        raise JobFailed("Expected laneway:from, or a from= parameter in the SMTP secret",
                        retryable=False)
    msg = EmailMessage()
    msg["From"] = from_
    if to:
        msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = fields["subject"]
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(job)
    msg.set_content(body)
    return msg, to + cc + bcc


@functools.lru_cache(maxsize=8)
def _tls_context(cafile: str | None) -> ssl.SSLContext:
    """The TLS context of servers trusting `cafile` (None: the system's CAs), made once: an
    `SSLContext` is safe to share between threads. A CA file changed on disk is read again
    after a restart."""
    return ssl.create_default_context(cafile=cafile)


def send(server: SmtpServer, msg: EmailMessage, recipients: list[str], timeout: float) -> None:
    """Send over SMTP, blocking; SMTP errors become `JobFailed` (4xx replies and lost
    connections retryable, 5xx not)."""
    # no maintained smtplib instrumentation: the send is a client span of its own, a child
    # of the job's span (this runs in the job's context, `SmtpPool.send`)
    with child_span("smtp send", kind=SpanKind.CLIENT, attributes={
            "server.address": server.host, "server.port": server.port,
            "laneway.smtp.recipients": len(recipients)}):
        _send(server, msg, recipients, timeout)


def _send(server: SmtpServer, msg: EmailMessage, recipients: list[str], timeout: float) -> None:
    context = _tls_context(server.cafile) if server.security != "plain" else None
    try:
        smtp: smtplib.SMTP
        if server.security == "tls":
            smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
        with smtp:
            if server.security == "starttls":
                smtp.starttls(context=context)
            if server.user is not None:
                smtp.login(server.user, server.password or "")
            smtp.send_message(msg, to_addrs=recipients)
    except smtplib.SMTPAuthenticationError as exc:
        raise JobFailed(f"SMTP login refused: {exc.smtp_code}", retryable=False) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        raise JobFailed(f"SMTP refused the recipients {refused}", retryable=False) from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        raise JobFailed(f"SMTP answered {exc.smtp_code} {text}",
                        retryable=400 <= exc.smtp_code < 500) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise JobFailed(f"SMTP server does not support it: {exc}", retryable=False) from None
    except ssl.SSLCertVerificationError as exc:
        raise JobFailed(f"SMTP server certificate not trusted: {exc.verify_message}",
                        retryable=False) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise JobFailed(f"SMTP connection to {server.host}:{server.port} failed: "
                        f"{type(exc).__name__}: {exc}") from None


SENDING = (
    Attribute("smtp", "SMTP server", "Which server: the secret smtp_<name>; without it, the "
              "secret smtp", secret=True),
    Attribute("to", "To", "Comma-separated addresses, template", kind="template"),
    Attribute("cc", "Cc", "Comma-separated addresses, template", kind="template"),
    Attribute("bcc", "Bcc", "Comma-separated addresses, template (envelope only)",
              kind="template"),
    Attribute("from", "From", "Template; else the secret's from=, else its user",
              kind="template"),
    Attribute("subject", "Subject", "Template", kind="template"),
    Attribute("body", "Body", "Template; a plain-text message", kind="template",
              multiline=True),
)
"""The attributes `build_message` and the server choice read: declared once for every
connector that sends a mail this way (email, response)."""


def threads(settings: Mapping[str, str]) -> int:
    """The `threads` setting (`LANEWAY_CONNECTOR_<TYPE>_THREADS`): 1 to `MAX_THREADS`."""
    raw = settings.get("threads", "").strip()
    if not raw:
        return DEFAULT_THREADS
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_THREADS):
        raise JobFailed(f"Expected the setting threads to be a whole number from 1 to "
                        f"{MAX_THREADS}, but it is {raw[:20]!r}", retryable=False)
    return int(raw)


class SmtpPool:
    """The threads a connector sends through: its own bounded pool, made on first use with
    the size of its `threads` setting (a process reads its settings once), threads started
    as sends need them. `close()` lets the sends under way finish and stops the threads."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None

    async def send(self, server: SmtpServer, msg: EmailMessage, recipients: list[str],
                   timeout: float, settings: Mapping[str, str]) -> None:
        """`send` in one of the pool's threads (in the caller's context, as `to_thread`)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(threads(settings),
                                                thread_name_prefix="laneway-smtp")
        call = functools.partial(contextvars.copy_context().run, send, server, msg,
                                 recipients, timeout)
        await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


class EmailConnector(Connector):
    """Sends an e-mail; see the module docstring and docs/connectors.md."""

    type = "email"

    attributes = (
        *SENDING,
        Attribute("resultVariable", "Result variable", "Gets the Message-ID", group="result"),
        *POLICY,
    )

    def __init__(self) -> None:
        self._pool = SmtpPool()

    async def close(self) -> None:
        """Stop the sending threads."""
        self._pool.close()

    async def run(self, job: Job, ctx: ConnectorContext) -> Mapping[str, Any]:
        """Build the message from the templates and send it through the named server."""
        name = job.attributes.get("laneway:smtp", "").strip()
        secret = f"smtp_{name}" if name else "smtp"
        server = SmtpServer.from_url(ctx.secrets.get(secret), secret)
        msg, recipients = build_message(job, server.sender or server.user)
        await self._pool.send(server, msg, recipients, ctx.timeout, ctx.settings)
        ctx.log.info("sent %s to %d recipient(s)", msg["Message-ID"], len(recipients))
        result_variable = job.attributes.get("laneway:resultVariable", "").strip()
        return {result_variable: msg["Message-ID"]} if result_variable else {}
