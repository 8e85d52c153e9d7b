"""The `slack` connector: one message per job through Slack's Web API, `chat.postMessage`.

`POST <api url>/chat.postMessage` with a JSON body and `Authorization: Bearer <bot token>`.
The API's base URL is a deployment setting (`LANEWAY_CONNECTOR_SLACK_API_URL`, default
`https://slack.com/api`), never a diagram attribute: a diagram cannot send the token anywhere
else. The token is the secret `slack_bot_token`, or the secret `laneway:tokenSecret` names.

Attributes (see docs/connectors.md): `laneway:channel`, `laneway:text`, `laneway:blocks` (Block
Kit JSON), `laneway:threadTs` (all templates), `laneway:resultVariable` (default `slack`, gets
`{ok, channel, ts}`), `laneway:errorCodes` (Slack error strings thrown as BPMN errors),
`laneway:tokenSecret`.

Slack answers 200 with `{"ok": false, "error": "..."}` for most errors: an error listed in
`laneway:errorCodes` is a BPMN error with that code; a transient one (`internal_error`,
`ratelimited`, ...) a retryable failure; any other (bad token, missing scope, unknown
channel, ...) a failure without retry, since only a change of diagram or deployment helps.
HTTP 429 (its `Retry-After` named in the message), 5xx, timeouts and lost connections are
retryable. Slack takes no idempotency key: a retry after an answer that was lost may post the
message twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NoReturn

import httpx

from laneway.attributes import POLICY, Attribute
from laneway.connectors._api import BpmnError, Connector, ConnectorContext, Job, JobFailed
from laneway.connectors._retry_after import retry_after_s
from laneway.connectors._templates import TemplateError, render, render_json
from laneway.http_reads import read_at_most

DEFAULT_API_URL = "https://slack.com/api"
DEFAULT_TOKEN_SECRET = "slack_bot_token"
DEFAULT_RESULT_VARIABLE = "slack"

MAX_TEXT_CHARS = 40_000
"""Slack truncates a longer `text`; refused before sending instead."""
MAX_BLOCKS = 50
"""Slack refuses more blocks in one message."""
MAX_BODY_BYTES = 1_000_000
"""The whole request as JSON: text and blocks together, whatever the variables held."""
MAX_ANSWER_BYTES = 2_000_000
"""Slack's answer echoes the message; a longer one is not Slack's."""
MAX_CHANNEL_CHARS = 200
_SHOWN = 300

# Slack error strings that say "try again later"; every other `ok: false` error needs a change
# of the diagram, the variables or the deployment (the token, its scopes, the channel).
RETRYABLE_ERRORS = frozenset({"internal_error", "fatal_error", "ratelimited", "rate_limited",
                              "service_unavailable", "request_timeout"})
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                         "token_expired", "missing_scope", "no_permission",
                         "not_allowed_token_type", "ekm_access_denied"})
_RETRYABLE_4XX = frozenset({408, 425, 429})
_TS = re.compile(r"^\d{1,20}(\.\d{1,20})?$")
_ERROR_CODE = re.compile(r"^[a-z0-9_]{1,100}$")
# What a bearer token may be: visible ASCII (a line break would start a header of its own, and
# httpx's complaint about an illegal header quotes the value)
_TOKEN = re.compile(r"^[\x21-\x7e]{1,1000}$")


def _shown(text: str) -> str:
    text = text.replace("\r", " ").replace("\n", " ")
    return text if len(text) <= _SHOWN else text[:_SHOWN - 1] + "…"


def error_codes(attrs: Mapping[str, str]) -> frozenset[str]:
    """`laneway:errorCodes`: a comma list of Slack error strings (`channel_not_found,...`)."""
    codes = frozenset(c.strip() for c in attrs.get("laneway:errorCodes", "").split(",")
                      if c.strip())
    for code in codes:
        if not _ERROR_CODE.match(code):
            raise JobFailed(f"Expected laneway:errorCodes to be a comma list of Slack error "
                            f"strings such as channel_not_found, but it holds {_shown(code)!r}",
                            retryable=False)
    return codes


def _blocks(raw: str, variables: Mapping[str, Any]) -> list[Any]:
    if raw.startswith("{{") and raw.endswith("}}"):
        raw = json.dumps(raw)  # `{{ blocks }}`: the variable's list itself
    try:
        blocks = render_json(raw, variables)
    except ValueError as exc:
        if isinstance(exc, TemplateError):
            raise
        raise JobFailed(f"Expected laneway:blocks to be a JSON list of Block Kit blocks, but "
                        f"it does not parse: {exc}", retryable=False) from None
    if isinstance(blocks, dict) and isinstance(blocks.get("blocks"), list):
        blocks = blocks["blocks"]  # what Block Kit Builder copies out
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise JobFailed("Expected laneway:blocks to be a JSON list of Block Kit blocks "
                        '(objects such as {"type": "section", ...})', retryable=False)
    if len(blocks) > MAX_BLOCKS:
        raise JobFailed(f"Expected at most {MAX_BLOCKS} blocks (Slack's limit), but "
                        f"laneway:blocks has {len(blocks)}", retryable=False)
    return blocks


def build_message(attrs: Mapping[str, str], variables: Mapping[str, Any]) -> dict[str, Any]:
    """The `chat.postMessage` body the attributes describe, checked against Slack's limits."""
    try:
        channel = render(attrs.get("laneway:channel", ""), variables).strip()
        text = render(attrs.get("laneway:text", ""), variables)
        raw_blocks = attrs.get("laneway:blocks", "").strip()
        blocks = _blocks(raw_blocks, variables) if raw_blocks else None
        thread_ts = render(attrs.get("laneway:threadTs", ""), variables).strip()
    except TemplateError as exc:
        raise JobFailed(str(exc), retryable=False) from None
    if not channel:
        raise JobFailed("Expected laneway:channel on the element (a channel id such as "
                        "C0123456789, or #name), but it has none", retryable=False)
    if len(channel) > MAX_CHANNEL_CHARS or any(c.isspace() for c in channel):
        raise JobFailed(f"Expected laneway:channel to be one channel id or name, but it is "
                        f"{_shown(channel)!r}", retryable=False)
    if not text.strip() and not blocks:
        raise JobFailed("Expected laneway:text or laneway:blocks to say something, but both "
                        "are empty", retryable=False)
    if len(text) > MAX_TEXT_CHARS:
        raise JobFailed(f"Expected laneway:text to be at most {MAX_TEXT_CHARS:,} characters "
                        f"(Slack's limit), but it is {len(text):,}", retryable=False)
    if thread_ts and not _TS.match(thread_ts):
        raise JobFailed(f"Expected laneway:threadTs to be a message's ts such as "
                        f"1700000000.000100, but it is {_shown(thread_ts)!r}", retryable=False)
    body: dict[str, Any] = {"channel": channel}
    if text:
        body["text"] = text
    if blocks:
        body["blocks"] = blocks
    if thread_ts:
        body["thread_ts"] = thread_ts
    return body


def _retry_after(response: httpx.Response) -> str:
    raw = response.headers.get("Retry-After", "").strip()
    if raw.isdigit() and len(raw) <= 9:
        return f"{int(raw)} s"
    return _shown(raw)[:40] if raw else "an unstated time"


async def _post(ctx: ConnectorContext, url: str, token: str, content: bytes) -> tuple[
        httpx.Response, bytes]:
    headers = {"Authorization": f"Bearer {token}",
               "Content-Type": "application/json; charset=utf-8"}
    try:
        async with ctx.http.stream("POST", url, headers=headers, content=content,
                                   timeout=ctx.timeout) as response:
            data = await read_at_most(response, MAX_ANSWER_BYTES)
            if data is None:
                # it may have posted: not retried, so not posted twice
                raise JobFailed(f"Expected Slack's answer to be at most "
                                f"{MAX_ANSWER_BYTES:,} bytes, but it is longer",
                                retryable=False)
            return response, data
    except httpx.InvalidURL as exc:
        raise JobFailed(f"Expected LANEWAY_CONNECTOR_SLACK_API_URL to be a URL: {exc}",
                        retryable=False) from None
    except httpx.TimeoutException as exc:
        raise JobFailed(f"chat.postMessage timed out: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise JobFailed(ctx.redact(f"chat.postMessage failed: {type(exc).__name__}: {exc}")
                        ) from None


class SlackConnector(Connector):
    """Posts a message to Slack; see the module docstring and docs/connectors.md."""

    type = "slack"

    attributes = (
        Attribute("channel", "Channel", "Template: a channel id (C0123456789) or #name",
                  kind="template", required=True),
        Attribute("text", "Text", "Template; the message, or the fallback text with blocks",
                  kind="template", multiline=True),
        Attribute("blocks", "Blocks", "Block Kit JSON template: a list of blocks",
                  kind="json"),
        Attribute("threadTs", "Reply in thread", "Template: the ts of the thread's first "
                  "message, e.g. {{ firstPost.ts }}", kind="template"),
        Attribute("tokenSecret", "Bot token secret", "Which secret holds the bot token; default "
                  f"{DEFAULT_TOKEN_SECRET}", secret=True, default=DEFAULT_TOKEN_SECRET),
        Attribute("resultVariable", "Result variable", "Gets {ok, channel, ts}; default slack",
                  group="result"),
        Attribute("errorCodes", "BPMN error codes", "Comma list of Slack errors thrown as BPMN "
                  "errors: channel_not_found,not_in_channel", group="errors"),
        *POLICY,
    )

    async def run(self, job: Job, ctx: ConnectorContext) -> Mapping[str, Any]:
        """Post the message the attributes describe and return `{ok, channel, ts}`."""
        attrs = job.attributes
        codes = error_codes(attrs)
        message = build_message(attrs, job.variables)
        content = json.dumps(message, ensure_ascii=False).encode()
        if len(content) > MAX_BODY_BYTES:
            raise JobFailed(f"Expected the message to be at most {MAX_BODY_BYTES:,} bytes as "
                            f"JSON, but it is {len(content):,}", retryable=False)
        result_variable = (attrs.get("laneway:resultVariable", "").strip()
                           or DEFAULT_RESULT_VARIABLE)
        secret = attrs.get("laneway:tokenSecret", "").strip() or DEFAULT_TOKEN_SECRET
        token = ctx.secrets.get(secret)
        if not _TOKEN.match(token):
            raise JobFailed(f"Expected secret '{secret}' to be a Slack bot token (xoxb-...), "
                            "but it holds spaces, line breaks or other characters no token "
                            "has", retryable=False)
        base = (ctx.settings.get("api_url", "").strip() or DEFAULT_API_URL).rstrip("/")
        response, raw = await _post(ctx, f"{base}/chat.postMessage", token, content)

        status = response.status_code
        if status == 429:
            raise JobFailed(f"Slack rate-limited chat.postMessage (429): it asks to wait "
                            f"{_retry_after(response)} before trying again",
                            retry_after_s=retry_after_s(response.headers))
        if status != 200:
            text = ctx.redact(_shown(raw.decode("utf-8", "replace")))
            detail = f"chat.postMessage answered {status} {response.reason_phrase}"
            raise JobFailed(f"{detail}: {text}" if text else detail,
                            retryable=status >= 500 or status in _RETRYABLE_4XX)
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            # a proxy's page, not Slack's answer; it may have posted, so not retried
            raise JobFailed("Expected Slack's answer to be a JSON object with ok, but it is "
                            f"{ctx.redact(_shown(raw.decode('utf-8', 'replace')))!r}",
                            retryable=False)
        if answer["ok"]:
            posted = {"ok": True, "channel": answer.get("channel"), "ts": answer.get("ts")}
            ctx.log.info("posted %s in %s", posted["ts"], posted["channel"])
            return {result_variable: posted}
        self._refused(answer, codes, result_variable, ctx)

    @staticmethod
    def _refused(answer: Mapping[str, Any], codes: frozenset[str], result_variable: str,
                 ctx: ConnectorContext) -> NoReturn:
        error = answer.get("error")
        error = ctx.redact(_shown(error)) if isinstance(error, str) and error else "unknown"
        detail = f"Slack refused chat.postMessage: {error}"
        metadata = answer.get("response_metadata")
        notes = metadata.get("messages") if isinstance(metadata, dict) else None
        if isinstance(notes, list) and notes:  # invalid_blocks says which block and why
            detail += " (" + ctx.redact(_shown("; ".join(str(n) for n in notes[:5]))) + ")"
        if error in codes:
            raise BpmnError(error, detail, {result_variable: {"ok": False, "error": error}})
        if error in AUTH_ERRORS:
            raise JobFailed(f"{detail}: the bot token (or its scopes) must change",
                            retryable=False)
        raise JobFailed(detail, retryable=error in RETRYABLE_ERRORS)
