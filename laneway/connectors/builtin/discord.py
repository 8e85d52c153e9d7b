"""The `discord` connector: one message per job through a Discord incoming webhook.

The webhook URL holds the webhook's token, so it is a secret: `discord_webhook`, or the one
`laneway:webhookSecret` names; the diagram names it, never holds it. The message is POSTed to
`<url>?wait=true` (Discord then answers the message it created) as
`{"content", "embeds", "username"}` from `laneway:content` (a template), `laneway:embeds` (a
JSON template of a list of embed objects) and `laneway:username`; `laneway:threadId` posts into
a thread. The answer's `{id, channelId}` goes to `laneway:resultVariable` (default `discord`).

Discord's limits (content, embeds, the embeds' text) are checked before anything is sent.
A 429 is retryable and names Discord's wait; 401/404 (a deleted webhook, a wrong token) and
other 4xx are not; 5xx, timeouts and lost connections are. `laneway:errorCodes` lists Discord
JSON error codes (`50006,10015`) thrown as the BPMN error of that code instead. See
docs/connectors.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx

from laneway.attributes import POLICY, Attribute
from laneway.connectors._api import BpmnError, Connector, ConnectorContext, Job, JobFailed
from laneway.connectors._retry_after import retry_after_s
from laneway.connectors._templates import TemplateError, render, render_json

DEFAULT_SECRET = "discord_webhook"
DEFAULT_RESULT = "discord"

# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TEXT = 6000
MAX_FIELDS = 25
MAX_USERNAME = 80
_TEXT_LIMITS = {("title",): 256, ("description",): 4096, ("footer", "text"): 2048,
                ("author", "name"): 256}
_FIELD_LIMITS = {"name": 256, "value": 1024}
# What we send and read is bounded: a message is small; beyond these something is wrong.
MAX_PAYLOAD = 64 * 1024
MAX_ANSWER = 64 * 1024
_MAX_IN_MESSAGE = 300


def _fail(message: str, ctx: ConnectorContext, *, retryable: bool,
          retry_after: float | None = None) -> JobFailed:
    return JobFailed(ctx.redact(message), retryable=retryable, retry_after_s=retry_after)


def _short(text: str) -> str:
    return text if len(text) <= _MAX_IN_MESSAGE else text[:_MAX_IN_MESSAGE] + "..."


def _webhook(attrs: Mapping[str, str], ctx: ConnectorContext) -> tuple[str, str]:
    """The secret's name and the webhook URL; the URL's token is remembered as secret too,
    so an error quoting only the path is redacted."""
    name = attrs.get("laneway:webhookSecret", "").strip() or DEFAULT_SECRET
    url = ctx.secrets.get(name).strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.netloc:
        raise JobFailed(f"Expected secret '{name}' to be a Discord webhook URL "
                        "(https://discord.com/api/webhooks/<id>/<token>), but it is not "
                        "an http(s) URL", retryable=False)
    ctx.secrets.remember(parts.path)
    token = parts.path.rstrip("/").rsplit("/", 1)[-1]
    ctx.secrets.remember(token)
    return name, url


def _embeds(raw: str, variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = raw.strip()
    if raw.startswith("{{") and raw.endswith("}}") and raw.count("{{") == 1:
        raw = json.dumps(raw)  # `{{ embeds }}`: the variable's value, as `"{{ embeds }}"`
    try:
        embeds = render_json(raw, variables)
    except ValueError as exc:
        if isinstance(exc, TemplateError):
            raise
        raise JobFailed(f"Expected laneway:embeds to be a JSON list of embed objects, but it "
                        f"does not parse: {exc}", retryable=False) from None
    if isinstance(embeds, dict):
        embeds = [embeds]
    if not isinstance(embeds, list) or not all(isinstance(e, dict) for e in embeds):
        raise JobFailed("Expected laneway:embeds to be a JSON list of embed objects",
                        retryable=False)
    return embeds


def _text_at(embed: Mapping[str, Any], path: tuple[str, ...]) -> str:
    value: Any = embed
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) else "" if value is None else json.dumps(value)


def _check_limits(content: str | None, embeds: list[dict[str, Any]],
                  username: str | None) -> None:
    """Discord's limits, before sending: over them Discord refuses the message, and trying
    again cannot help."""
    problems: list[str] = []
    if content is not None and len(content) > MAX_CONTENT:
        problems.append(f"content has {len(content)} characters, Discord takes {MAX_CONTENT}")
    if len(embeds) > MAX_EMBEDS:
        problems.append(f"{len(embeds)} embeds, Discord takes {MAX_EMBEDS}")
    if username is not None and len(username) > MAX_USERNAME:
        problems.append(f"username has {len(username)} characters, Discord takes "
                        f"{MAX_USERNAME}")
    total = 0
    for n, embed in enumerate(embeds, 1):
        for path, limit in _TEXT_LIMITS.items():
            size = len(_text_at(embed, path))
            total += size
            if size > limit:
                problems.append(f"embed {n}'s {'.'.join(path)} has {size} characters, "
                                f"Discord takes {limit}")
        fields = embed.get("fields") or []
        if not isinstance(fields, list):
            problems.append(f"embed {n}'s fields is not a list")
            continue
        if len(fields) > MAX_FIELDS:
            problems.append(f"embed {n} has {len(fields)} fields, Discord takes {MAX_FIELDS}")
        for field in fields:
            for key, limit in _FIELD_LIMITS.items():
                size = len(_text_at(field, (key,))) if isinstance(field, Mapping) else 0
                total += size
                if size > limit:
                    problems.append(f"embed {n} has a field {key} of {size} characters, "
                                    f"Discord takes {limit}")
    if total > MAX_EMBED_TEXT:
        problems.append(f"the embeds hold {total} characters of text, Discord takes "
                        f"{MAX_EMBED_TEXT} in all")
    if problems:
        raise JobFailed("Expected the message to fit Discord's limits, but " +
                        "; ".join(problems[:5]), retryable=False)


def _payload(attrs: Mapping[str, str], variables: Mapping[str, Any]) -> dict[str, Any]:
    if "laneway:content" not in attrs and "laneway:embeds" not in attrs:
        raise JobFailed("Expected laneway:content or laneway:embeds on the element, but it "
                        "has neither", retryable=False)
    payload: dict[str, Any] = {}
    content = render(attrs["laneway:content"], variables) if "laneway:content" in attrs \
        else None
    embeds = _embeds(attrs["laneway:embeds"], variables) \
        if attrs.get("laneway:embeds", "").strip() else []
    username = render(attrs["laneway:username"], variables).strip() \
        if attrs.get("laneway:username", "").strip() else None
    _check_limits(content, embeds, username)
    if content is not None:
        payload["content"] = content
    if embeds:
        payload["embeds"] = embeds
    if username:
        payload["username"] = username
    return payload


def _params(attrs: Mapping[str, str], variables: Mapping[str, Any]) -> dict[str, str]:
    params = {"wait": "true"}
    raw = attrs.get("laneway:threadId", "").strip()
    if raw:
        thread = render(raw, variables).strip()
        if not thread.isdigit() or len(thread) > 20:
            raise JobFailed(f"Expected laneway:threadId to be a Discord thread id (digits), "
                            f"but it is {_short(thread)!r}", retryable=False)
        params["thread_id"] = thread
    return params


def _error_codes(attrs: Mapping[str, str]) -> set[str]:
    return {c.strip() for c in attrs.get("laneway:errorCodes", "").split(",") if c.strip()}


async def _post(ctx: ConnectorContext, url: str, params: Mapping[str, str],
                body: bytes) -> tuple[httpx.Response, bytes]:
    """POST and read at most MAX_ANSWER bytes of the answer."""
    request = ctx.http.build_request(
        "POST", httpx.URL(url).copy_merge_params(dict(params)), content=body,
        headers={"Content-Type": "application/json"}, timeout=ctx.timeout)
    response = await ctx.http.send(request, stream=True)
    try:
        data = bytearray()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > MAX_ANSWER:
                break
        return response, bytes(data[:MAX_ANSWER])
    finally:
        await response.aclose()


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _retry_after(answer: Any, response: httpx.Response) -> str:
    """Discord's wait: the body's `retry_after` (seconds, fractional), else the header."""
    if isinstance(answer, dict) and isinstance(answer.get("retry_after"), int | float):
        return f"{float(answer['retry_after']):g} s"
    header = response.headers.get("retry-after", "").strip()
    if header:
        return f"{_short(header)} s" if header.replace(".", "", 1).isdigit() else _short(header)
    return "an unstated time"


class DiscordConnector(Connector):
    """Posts a message through a Discord webhook; see the module docstring."""

    type = "discord"

    attributes = (
        Attribute("webhookSecret", "Webhook secret", "The secret holding the webhook URL; "
                  f"default {DEFAULT_SECRET}", secret=True, default=DEFAULT_SECRET),
        Attribute("content", "Content", "Template: the message text (at most 2,000 characters)",
                  kind="template", multiline=True),
        Attribute("embeds", "Embeds", "JSON template of a list of embed objects (at most 10)",
                  kind="json"),
        Attribute("username", "Username", "Template: the name the message is posted under",
                  kind="template"),
        Attribute("threadId", "Thread id", "Template: post into this thread", kind="template"),
        Attribute("resultVariable", "Result variable", "Gets {id, channelId}; default "
                  f"{DEFAULT_RESULT}", group="result"),
        Attribute("errorCodes", "BPMN error codes", "Comma list of Discord JSON error codes "
                  "thrown as BPMN errors: 10015,50006", group="errors"),
        *POLICY,
    )

    async def run(self, job: Job, ctx: ConnectorContext) -> Mapping[str, Any]:
        """Post the message the attributes describe; answer its id and channel."""
        attrs = job.attributes
        secret, url = _webhook(attrs, ctx)
        try:
            payload = _payload(attrs, job.variables)
            params = _params(attrs, job.variables)
        except TemplateError as exc:
            raise _fail(str(exc), ctx, retryable=False) from None
        except JobFailed as exc:
            raise _fail(exc.message, ctx, retryable=exc.retryable) from None
        body = json.dumps(payload).encode()
        if len(body) > MAX_PAYLOAD:
            raise JobFailed(f"Expected the message to be at most {MAX_PAYLOAD} bytes of JSON, "
                            f"but it is {len(body)}", retryable=False)
        try:
            response, data = await _post(ctx, url, params, body)
        except httpx.InvalidURL:
            raise JobFailed(f"Expected secret '{secret}' to be a valid webhook URL",
                            retryable=False) from None
        except httpx.TimeoutException as exc:
            raise _fail(f"Discord did not answer in time: {type(exc).__name__}", ctx,
                        retryable=True) from None
        except httpx.TransportError as exc:
            raise _fail(f"Discord could not be reached: {type(exc).__name__}: {exc}", ctx,
                        retryable=True) from None
        status = response.status_code
        answer = _json(data)
        if 200 <= status < 300:
            return self._result(attrs, answer, ctx)
        self._refuse(attrs, status, response, answer, data, secret, ctx)

    @staticmethod
    def _result(attrs: Mapping[str, str], answer: Any, ctx: ConnectorContext
                ) -> dict[str, Any]:
        name = attrs.get("laneway:resultVariable", "").strip() or DEFAULT_RESULT
        message = answer if isinstance(answer, dict) else {}
        if not message:  # posted, but the answer is not the message: nothing to retry
            ctx.log.warning("Discord posted the message but answered no message JSON")
        ids = {"id": message.get("id"), "channelId": message.get("channel_id")}
        return {name: {k: v if isinstance(v, str | int) else None for k, v in ids.items()}}

    @staticmethod
    def _refuse(attrs: Mapping[str, str], status: int, response: httpx.Response, answer: Any,
                data: bytes, secret: str, ctx: ConnectorContext) -> NoReturn:
        error = answer if isinstance(answer, dict) else {}
        code = error.get("code")
        said = error.get("message")
        text = said if isinstance(said, str) else data.decode("utf-8", "replace").strip()
        detail = f"Discord answered {status} {response.reason_phrase}"
        if text:
            detail += f": {_short(text)}"
        if isinstance(code, int) and not isinstance(code, bool):
            detail += f" (code {code})"
            if str(code) in _error_codes(attrs):
                raise BpmnError(str(code), ctx.redact(detail),
                                {"discordError": {"status": status, "code": code,
                                                  "message": ctx.redact(_short(text))}})
        if status == 429:
            scope = "global" if error.get("global") is True else \
                response.headers.get("x-ratelimit-scope", "this webhook")
            raise _fail(f"{detail}; rate limited ({_short(str(scope))}), Discord asks to "
                        f"retry after {_retry_after(answer, response)}", ctx, retryable=True,
                        retry_after=retry_after_s(
                            response.headers,
                            answer.get("retry_after") if isinstance(answer, dict) else None))
        if status in (401, 404):
            raise _fail(f"{detail}; the webhook in secret '{secret}' is deleted or its token "
                        "is wrong: the deployment must fix the secret", ctx, retryable=False)
        raise _fail(detail, ctx, retryable=status >= 500 or status == 408)
