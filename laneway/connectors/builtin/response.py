"""The `response` connector: wait for an outside party's answer through a one-time signed link.

The connector makes a link `<public URL>/respond/<token>` (laneway/response_tokens.py: signed
with the secret `response_signing_key`, expiring after `laneway:deadline`) and e-mails it
(the `email` connector's sending, its SMTP secret and templates; `{{ responseUrl }}` fills in
the link) or, with `laneway:send="none"`, only returns it for another connector to send.

- `laneway:mode="task"` (the default): the job stays open (`Pending`); the answer completes it
  (COMPLETE_JOB from the triggers service, the answer in `laneway:resultVariable`).
- `laneway:mode="message"`: the job completes at once with `responseUrl`, `responseId` and
  `responseExpires`; the answer is published as the message `laneway:message` with the
  correlation key `responseId`, for a message catch event that follows.

The answer comes as the person's form (`GET`/`POST /respond/<token>`) or a machine's signed
JSON (`POST /api/respond/<token>`), once: services/triggers/respond.py. The modeler draws the
deadline's timer path (an interrupting timer boundary event of the same duration, or an
event-based gateway's timer); the link expires with it: counted, as the boundary timer is,
from the job's creation in the engine (`Job.created_ms`), a short guard earlier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import isodate

from laneway.attributes import POLICY, Attribute
from laneway.connectors._api import Connector, ConnectorContext, Job, JobFailed, Pending
from laneway.connectors._policy import PolicyError, parse_duration
from laneway.connectors._templates import TemplateError, render
from laneway.connectors.builtin.email import SENDING, SmtpPool, SmtpServer, build_message
from laneway.model import EventKind, FlowNode, NodeKind, Process, TimerKind
from laneway.response_tokens import (
    MAX_TITLE,
    MIN_KEY,
    ResponseToken,
    check_fields,
)
from laneway.response_tokens import (
    sign as sign_token,
)

SIGNING_SECRET = "response_signing_key"
"""The secret that signs the links; the triggers service verifies with the same one."""
DEFAULT_DEADLINE = "P7D"
MAX_DEADLINE_S = 366 * 86400
MAX_GUARD_MS = 2000
DEFAULT_RESULT = "response"
_MODES = ("task", "message")
_SENDS = ("email", "none")


def _fail(message: str) -> JobFailed:
    return JobFailed(message, retryable=False)


def token_id(key: str, job: Job) -> str:
    """The token's id: derived from the job with the signing key, so every attempt and
    every redelivery of the job makes a link with the same id (one answer for all of them),
    and nobody without the key can guess another job's."""
    mac = hmac.new(key.encode(), f"response-id:{job.idempotency_key}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:16]).rstrip(b"=").decode("ascii")


def public_url(settings: Mapping[str, str]) -> str:
    """The public base URL the links start with (`LANEWAY_CONNECTOR_RESPONSE_PUBLIC_URL`)."""
    url = settings.get("public_url", "").strip().rstrip("/")
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail("Expected LANEWAY_CONNECTOR_RESPONSE_PUBLIC_URL, the public base URL of "
                    "the links (https://laneway.example.org), but it is not set or not an "
                    "http(s) URL")
    return url


def _identifier(attrs: Mapping[str, str], name: str, default: str) -> str:
    value = attrs.get(f"laneway:{name}", "").strip() or default
    if not value.isidentifier():
        raise _fail(f"Expected laneway:{name} to be a variable name, but got {value[:80]!r}")
    return value


def expiry_s(job: Job, deadline_s: float, now_s: float) -> int:
    """When the link stops taking answers (epoch seconds): `deadline_s` after the engine
    created the job (`Job.created_ms`, the instant the element's timer boundary events count
    from, so the link closes no later than a boundary timer of the same duration fires, however
    late the connector ran), less a guard (`guard_ms`) so that an answer taken just before
    still reaches the engine before the timer does. Counted from `now_s` only when the job's
    creation time is not known."""
    deadline_ms = int(deadline_s * 1000)
    start_ms = job.created_ms if job.created_ms > 0 else int(now_s * 1000)
    return (start_ms + deadline_ms - guard_ms(deadline_ms)) // 1000


def guard_ms(deadline_ms: int) -> int:
    """How long before the deadline the link closes: a tenth of it, at most `MAX_GUARD_MS`
    (clock differences between the services and the time an answer takes to Kafka)."""
    return min(MAX_GUARD_MS, deadline_ms // 10)


def plan(job: Job, key: str, now_s: float) -> ResponseToken:
    """The token the job's attributes ask for (JobFailed when they are malformed)."""
    attrs = job.attributes
    mode = attrs.get("laneway:mode", "task").strip() or "task"
    if mode not in _MODES:
        raise _fail(f"Expected laneway:mode to be task or message, but got {mode[:80]!r}")
    message = attrs.get("laneway:message", "").strip()
    if mode == "message" and not message:
        raise _fail("Expected laneway:message, the message the answer is published as, with "
                    "laneway:mode=\"message\"")
    if len(message) > 200:
        raise _fail("Expected laneway:message of at most 200 characters")
    try:
        deadline = parse_duration(attrs.get("laneway:deadline", DEFAULT_DEADLINE),
                                  "laneway:deadline")
    except PolicyError as exc:
        raise _fail(str(exc)) from None
    if not 1 <= deadline <= MAX_DEADLINE_S:
        raise _fail(f"Expected laneway:deadline from one second to {MAX_DEADLINE_S // 86400} "
                    "days")
    fields = [f.strip() for f in attrs.get("laneway:fields", "answer").split(",") if f.strip()]
    why = check_fields(fields) if fields else "Expected laneway:fields to name a field"
    if why is not None:
        raise _fail(f"laneway:fields: {why}")
    webhook = attrs.get("laneway:webhookSecret", "").strip()
    if webhook and not (webhook.replace("_", "").replace("-", "").isalnum()
                        and len(webhook) <= 60):
        raise _fail("Expected laneway:webhookSecret to be a secret name of letters, digits, "
                    "'_' and '-'")
    try:
        title = render(attrs.get("laneway:title", ""), job.variables).strip()
    except TemplateError as exc:
        raise _fail(str(exc)) from None
    title = title or job.element_name or job.element_id
    return ResponseToken(
        token_id=token_id(key, job), instance_id=job.instance_id,
        expires_s=expiry_s(job, deadline, now_s),
        job_key=job.key if mode == "task" else None,
        message=message if mode == "message" else None, fields=tuple(fields),
        title=title[:MAX_TITLE], webhook_secret=webhook or None,
        result=_identifier(attrs, "resultVariable", DEFAULT_RESULT))


def deadline_findings(node: FlowNode, process: Process) -> tuple[list[str], list[str]]:
    """What the deploy check says about a mode `task` element's `laneway:deadline` against
    the interrupting timer boundary events on it: (problems, warnings).

    The first of them to fire, among those written as a plain duration (`P3D`, not an
    expression, a date or a cycle), must last as long as the deadline (default `P7D`):
    a shorter timer lets the link take answers after the job is gone, a longer one closes the
    link early. No interrupting timer at all is a warning: the task waits until the link
    expires and then for ever. An expression timer is not judged (its value is known only
    when the timer is created), nor is a malformed deadline (the attribute check says so).
    """
    from laneway.timers import TimerError, parse_timer  # the deploy check's, not the worker's

    attrs = node.attrs
    if (attrs.get("laneway:mode", "task").strip() or "task") != "task":
        return [], []
    written = attrs.get("laneway:deadline", DEFAULT_DEADLINE).strip()
    try:
        deadline_s = parse_duration(written, "laneway:deadline")
    except PolicyError:
        return [], []
    timers = [b for b in process.nodes.values()
              if b.kind == NodeKind.BOUNDARY_EVENT and b.attached_to == node.id
              and b.cancel_activity and b.event_kind == EventKind.TIMER]
    if not timers:
        # a warning says so first, as laneway/bpmn/_warnings.py's do
        return [], [f"warning: no interrupting timer boundary event ends this response task: "
                    f"it waits until the link expires (laneway:deadline, {written}) and then "
                    f"for ever; give it one of the same duration"]
    plain: list[tuple[int, str, str]] = []  # (due from the epoch, the timer's id, its text)
    for boundary in timers:
        timer = boundary.event_definitions[0].timer
        if timer is None or timer.kind != TimerKind.DURATION \
                or (timer.expression.language or "") == "feel":
            continue
        text = timer.expression.text.strip()
        try:
            due = parse_timer(TimerKind.DURATION, text).first_due(0)
        except TimerError:
            continue  # an expression giving a duration (or a literal the engine's check refuses)
        if due is not None:
            plain.append((due, boundary.id, text))
    if not plain:
        return [], []
    _, timer_id, text = min(plain)
    span = isodate.parse_duration(text)
    # months and years have no fixed length, and a deadline has none of them
    if isinstance(span, timedelta) and span.total_seconds() == deadline_s:
        return [], []
    return [f"Expected laneway:deadline ({written}) to equal the duration of the interrupting "
            f"timer boundary event '{timer_id}' ({text}): the link must close when the timer "
            f"ends the task"], []


class ResponseConnector(Connector):
    """Sends a one-time answer link; see the module docstring and docs/connectors.md."""

    type = "response"

    attributes = (
        Attribute("mode", "Waits as", "task: the task stays open until the answer; message: "
                  "the task completes with the link and a message catch event waits",
                  kind="choice", choices=("task", "message"), default="task"),
        Attribute("message", "Message", "With mode message: the name the answer is published as"),
        Attribute("deadline", "Deadline", "ISO 8601 duration from the task's start; the link "
                  "closes then. Give the timer boundary event the same duration",
                  kind="duration", default=DEFAULT_DEADLINE),
        Attribute("fields", "Answer fields", "Comma-separated field names of the answer",
                  default="answer"),
        Attribute("title", "Title", "Template: the heading of the answer page",
                  kind="template"),
        Attribute("send", "Send the link by", "email, or none to return it (responseUrl) for "
                  "another connector", kind="choice", choices=("email", "none"),
                  default="email"),
        *(replace(a, description=f"{a.description}; {{{{ responseUrl }}}} is the link")
          if a.name in ("subject", "body") else a for a in SENDING),
        Attribute("webhookSecret", "Webhook secret", "Signed machine answers: the secret "
                  "response_webhook_<name>; without it, response_webhook", secret=True),
        Attribute("resultVariable", "Result variable", f"Gets the answer; default "
                  f"{DEFAULT_RESULT}", group="result"),
        *POLICY,
    )

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        # the e-mail connector's sending threads (LANEWAY_CONNECTOR_RESPONSE_THREADS)
        self._smtp = SmtpPool()

    async def close(self) -> None:
        """Stop the sending threads."""
        self._smtp.close()

    async def run(self, job: Job, ctx: ConnectorContext) -> Mapping[str, Any] | Pending:
        """Sign the link, send or return it; leave the job open in mode task."""
        key = ctx.secrets.get(SIGNING_SECRET)
        if len(key) < MIN_KEY:
            raise _fail(f"Expected the secret '{SIGNING_SECRET}' to hold at least {MIN_KEY} "
                        "characters")
        send_by = job.attributes.get("laneway:send", "email").strip() or "email"
        if send_by not in _SENDS:
            raise _fail(f"Expected laneway:send to be email or none, but got {send_by[:80]!r}")
        token = plan(job, key, self._clock())
        if send_by == "none" and token.mode == "task":
            raise _fail("Expected laneway:mode=\"message\" with laneway:send=\"none\": a task "
                        "that stays open cannot hand its link to another connector")
        try:
            text = sign_token(key, token)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        url = f"{public_url(ctx.settings)}/respond/{text}"
        links = {"responseUrl": url, "responseId": token.token_id,
                 "responseExpires": token.expires_s}
        if token.expires_s <= self._clock():
            # the job waited past its deadline (a backlog, an outage): its timer path is
            # taken or about to be; a link that is already expired is not worth a mail
            ctx.log.info("the deadline of link %s passed before it was sent: not sent",
                         token.token_id)
        elif send_by == "email":
            name = job.attributes.get("laneway:smtp", "").strip()
            secret = f"smtp_{name}" if name else "smtp"
            server = SmtpServer.from_url(ctx.secrets.get(secret), secret)
            mail_job = replace(job, variables={**job.variables, **links})
            msg, recipients = build_message(mail_job, server.sender or server.user)
            await self._smtp.send(server, msg, recipients, ctx.timeout, ctx.settings)
            ctx.log.info("sent the response link %s to %d recipient(s), expiring at %d",
                         token.token_id, len(recipients), token.expires_s)
        if token.mode == "task":
            return Pending(f"waiting for the answer to link {token.token_id}")
        return links
