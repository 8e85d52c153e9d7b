"""The answers to the `response` connector's links (laneway/connectors/builtin/response.py).

- `GET /respond/{token}`: the form for a person (self-contained HTML: no script, no outside
  resource, a strict Content-Security-Policy, every text escaped), or a page that says why
  there is none: 404 not a valid link, 410 expired, 409 already answered.
- `POST /respond/{token}`: the form's submission (`application/x-www-form-urlencoded`).
- `POST /api/respond/{token}`: a machine's answer, a JSON object signed as the webhook trigger's
  calls are (`X-Laneway-Signature: sha256=<hex>` of `<X-Laneway-Timestamp>.<body>`, within 300
  seconds) with the secret `response_webhook` (or `response_webhook_<name>` when the element
  says `laneway:webhookSecret="<name>"`). Answers are problem documents or
  `{"responseId", "duplicate": false}` with 202.

The token is the capability (signed with the secret `response_signing_key`): no bearer token.
Only the fields the element declared are taken, each at most `MAX_VALUE` characters; the
answer lands in the element's result variable (`response` by default) as an object.

Exactly once: a row in `responses` (the token's id as primary key) is inserted before the
answer is sent on; a second answer finds it and gets 409, never a second correlation. When
Kafka does not take the answer, the row is deleted and the party is told to try again (503).
Behind that, the engine refuses a second COMPLETE_JOB of the same job and a second
PUBLISH_MESSAGE with the same message id (the token's id).

Mode `task`: COMPLETE_JOB {jobKey, variables}. Mode `message`: PUBLISH_MESSAGE {name,
correlationKey: token id, messageId: token id, ttl: until the link expires}. The principal
is `respondent:<token id>`: `human` through the form, `agent` through the API.
"""

from __future__ import annotations

import hmac
import html
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from psycopg_pool import ConnectionPool

from laneway.connectors import JobFailed, Secrets
from laneway.limits import TooLarge
from laneway.publisher import Publisher, PublishError
from laneway.records import Command, Principal, PrincipalKind, command
from laneway.response_tokens import ResponseToken, TokenRefused, verify
from laneway.triggers.builtin.webhook import sign as sign_call
from laneway.web.problems import problem

SIGNING_SECRET = "response_signing_key"
WEBHOOK_SECRET = "response_webhook"
MAX_BODY = 65536
"""The largest answer read (bytes)."""
MAX_VALUE = 10000
"""The longest value of one field (characters)."""
TOLERANCE_S = 300
_NAMESPACE = uuid.UUID("3b0f5f0e-1f4e-4d1b-8f0a-6a3c2d9e7b55")
CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

page = APIRouter(prefix="/respond", tags=["responses"])
api = APIRouter(prefix="/api/respond", tags=["responses"])


class ResponseStore:
    """The answered links (table `responses`)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def claim(self, token_id: str, instance_id: str, via: str) -> bool:
        """Whether this is the first answer (the row is written atomically)."""
        with self.pool.connection() as conn:
            found = conn.execute(
                "INSERT INTO responses (token_id, instance_id, via) VALUES (%s, %s, %s) "
                "ON CONFLICT (token_id) DO NOTHING RETURNING token_id",
                (token_id, instance_id, via)).fetchone()
        return found is not None

    def release(self, token_id: str) -> None:
        """Forget an answer that was not sent on, so the party can send it again."""
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM responses WHERE token_id = %s", (token_id,))

    def answered(self, token_id: str) -> bool:
        with self.pool.connection() as conn:
            return conn.execute("SELECT 1 FROM responses WHERE token_id = %s",
                                (token_id,)).fetchone() is not None


@dataclass(slots=True)
class Responses:
    """What the answer routes need."""

    store: ResponseStore
    secrets: Secrets
    publisher: Publisher
    clock_s: Any = time.time

    def key(self) -> str:
        return self.secrets.get(SIGNING_SECRET)


class Refused(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


_REASONS = {"invalid": (404, "This link is not valid"),
            "expired": (410, "This link has expired")}


def _responses(request: Request) -> Responses | None:
    deps = getattr(request.app.state, "deps", None)
    return getattr(deps, "responses", None)


def _token(parts: Responses, text: str) -> ResponseToken:
    try:
        key = parts.key()
    except JobFailed:
        raise Refused(503, "Answers cannot be taken now",
                      "The service has no signing key for answer links; tell the sender.") \
            from None
    try:
        token = verify(key, text, parts.clock_s())
    except TokenRefused as exc:
        status, title = _REASONS[exc.reason]
        raise Refused(status, title, exc.message +
                      (" The time to answer is over." if exc.reason == "expired" else
                       " Check that the whole link was copied.")) from None
    return token


def _used(parts: Responses, token: ResponseToken) -> None:
    if parts.store.answered(token.token_id):
        raise Refused(409, "This link was already used",
                      "An answer was already given through this link; it is used once.")


def _send(parts: Responses, token: ResponseToken, answer: dict[str, str], via: str) -> None:
    """Record the answer once, then send it on (Refused when it cannot be)."""
    if not parts.store.claim(token.token_id, token.instance_id, via):
        raise Refused(409, "This link was already used",
                      "An answer was already given through this link; it is used once.")
    kind = PrincipalKind.HUMAN if via == "form" else PrincipalKind.AGENT
    principal = Principal(kind, f"respondent:{token.token_id}", claims={"via": via})
    now_s = parts.clock_s()
    variables = {token.result: answer}
    record_id = str(uuid.uuid5(_NAMESPACE, f"{token.token_id}/answer"))
    if token.job_key is not None:
        record = command(Command.COMPLETE_JOB, token.instance_id,
                         {"jobKey": token.job_key, "variables": variables},
                         record_id=record_id, timestamp=int(now_s * 1000), principal=principal)
    else:
        record = command(Command.PUBLISH_MESSAGE, record_id,
                         {"name": token.message, "correlationKey": token.token_id,
                          "variables": variables, "messageId": token.token_id,
                          "ttl": max(1000, int((token.expires_s - now_s) * 1000))},
                         record_id=record_id, timestamp=int(now_s * 1000), principal=principal)
    try:
        parts.publisher.send_command(record)
    except TooLarge:
        parts.store.release(token.token_id)
        raise Refused(413, "The answer is too large", "Shorten the answer and send it again.") \
            from None
    except PublishError:
        parts.store.release(token.token_id)
        raise Refused(503, "The answer could not be taken now",
                      "Nothing was recorded; send it again in a moment.") from None


def _page(status: int, title: str, body: str) -> HTMLResponse:
    text = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>body{{font-family:system-ui,sans-serif;"
            "max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
            "label{display:block;margin-top:1rem;font-weight:600}"
            "textarea{width:100%;min-height:4rem}button{margin-top:1rem;padding:.5rem 1rem}"
            f"</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return HTMLResponse(text, status_code=status, headers={
        "Content-Security-Policy": CSP, "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"})


def _refused_page(exc: Refused) -> HTMLResponse:
    return _page(exc.status, exc.title, f"<p>{html.escape(exc.message)}</p>")


def _form(token: ResponseToken) -> HTMLResponse:
    inputs = "".join(
        f"<label for=\"f-{name}\">{html.escape(name)}</label>"
        f"<textarea id=\"f-{name}\" name=\"{name}\" maxlength=\"{MAX_VALUE}\"></textarea>"
        for name in token.fields)  # names are checked identifiers: safe in attributes
    return _page(200, token.title or "Your answer",
                 "<form method=\"post\">" + inputs + "<button type=\"submit\">Send</button>"
                 "</form><p><small>This link can be used once.</small></p>")


async def _body(request: Request) -> bytes | None:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def _fields(token: ResponseToken, values: Mapping[str, Any]) -> dict[str, str]:
    unknown = sorted(set(values) - set(token.fields))
    if unknown:
        raise Refused(422, "The answer has fields it should not",
                      f"Expected only the fields {', '.join(token.fields)}, but got "
                      f"{', '.join(n[:40] for n in unknown[:5])}")
    answer: dict[str, str] = {}
    for name in token.fields:
        value = values.get(name, "")
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else None
        if not isinstance(value, str) or len(value) > MAX_VALUE or "\x00" in value:
            raise Refused(422, "The answer is not valid",
                          f"Expected the field {name} to be text of at most {MAX_VALUE} "
                          "characters")
        answer[name] = value
    return answer


@page.get("/{token}", response_class=HTMLResponse,
          summary="The answer form of a one-time link (or why there is none)",
          responses={404: {"description": "Not a valid link"},
                     409: {"description": "Already answered"},
                     410: {"description": "Expired"}})
async def show(token: str, request: Request) -> Response:
    parts = _responses(request)
    if parts is None:
        return _page(503, "Answers cannot be taken now", "<p>Try again in a moment.</p>")

    def answer() -> HTMLResponse:
        try:
            found = _token(parts, token)
            _used(parts, found)
        except Refused as exc:
            return _refused_page(exc)
        return _form(found)
    return await run_in_threadpool(answer)


@page.post("/{token}", response_class=HTMLResponse,
           summary="The form's answer: completes the task or publishes the message, once",
           responses={404: {"description": "Not a valid link"},
                      409: {"description": "Already answered"},
                      410: {"description": "Expired"}, 413: {"description": "Too large"},
                      422: {"description": "Not the declared fields"}})
async def submit(token: str, request: Request) -> Response:
    parts = _responses(request)
    if parts is None:
        return _page(503, "Answers cannot be taken now", "<p>Try again in a moment.</p>")
    body = await _body(request)

    def answer() -> HTMLResponse:
        try:
            found = _token(parts, token)
            if body is None:
                raise Refused(413, "The answer is too large",
                              f"Expected at most {MAX_BODY} bytes.")
            try:
                values = parse_qs(body.decode("utf-8"), keep_blank_values=True,
                                  strict_parsing=False, max_num_fields=len(found.fields) + 5)
            except (UnicodeDecodeError, ValueError):
                raise Refused(422, "The answer is not valid",
                              "Expected a form of the declared fields.") from None
            _send(parts, found, _fields(found, values), "form")
        except Refused as exc:
            return _refused_page(exc)
        return _page(200, "Thank you", "<p>Your answer was recorded.</p>")
    return await run_in_threadpool(answer)


@api.post("/{token}", status_code=202,
          summary="A machine's answer: a JSON object signed with the webhook secret, once",
          responses={401: {"description": "Signature or timestamp refused"},
                     404: {"description": "Not a valid link"},
                     409: {"description": "Already answered"},
                     410: {"description": "Expired"}, 413: {"description": "Too large"},
                     422: {"description": "Not a JSON object of the declared fields"}})
async def answer_api(token: str, request: Request) -> Response:
    parts = _responses(request)
    if parts is None:
        return problem(503, "Expected the service to be ready, but it is starting",
                       headers={"Retry-After": "2"})
    body = await _body(request)
    headers = {k.lower(): v for k, v in request.headers.items()}

    def answer() -> JSONResponse:
        try:
            found = _token(parts, token)
            if body is None:
                raise Refused(413, "", f"Expected a body of at most {MAX_BODY} bytes")
            _check_signature(parts, found, headers, body)
            try:
                values = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise Refused(422, "", "Expected a JSON object, but the body is not JSON") \
                    from None
            if not isinstance(values, dict):
                raise Refused(422, "", "Expected a JSON object as the body")
            _send(parts, found, _fields(found, values), "webhook")
        except Refused as exc:
            return problem(exc.status, exc.message)
        return JSONResponse({"responseId": found.token_id, "duplicate": False},
                            status_code=202)
    return await run_in_threadpool(answer)


def _check_signature(parts: Responses, token: ResponseToken, headers: Mapping[str, str],
                     body: bytes) -> None:
    name = f"{WEBHOOK_SECRET}_{token.webhook_secret}" if token.webhook_secret \
        else WEBHOOK_SECRET
    try:
        secret = parts.secrets.get(name)
    except JobFailed:
        raise Refused(503, "", f"Expected the webhook secret '{name}' to be set, but it is "
                               "not: an operator sets it") from None
    timestamp = headers.get("x-laneway-timestamp", "")
    signature = headers.get("x-laneway-signature", "")
    if not timestamp or not signature:
        raise Refused(401, "", "Expected the headers X-Laneway-Signature and "
                               "X-Laneway-Timestamp")
    try:
        sent = float(timestamp)
    except ValueError:
        raise Refused(401, "", "Expected X-Laneway-Timestamp to be epoch seconds") from None
    if not abs(parts.clock_s() - sent) <= TOLERANCE_S:
        raise Refused(401, "", f"Expected X-Laneway-Timestamp within {TOLERANCE_S}s of now")
    if not hmac.compare_digest(sign_call(secret, timestamp, body).encode(),
                               signature.strip().encode("utf-8", "replace")):
        raise Refused(401, "", "Expected X-Laneway-Signature to be the HMAC-SHA256 of "
                               "'<timestamp>.<body>' with the webhook secret, but it is not")
