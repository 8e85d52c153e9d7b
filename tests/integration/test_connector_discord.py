"""The `discord` connector against a real HTTP server on 127.0.0.1 that answers as Discord's
webhook endpoint does: 200 with the message when `wait=true` (204 without), 429 with its JSON
body and Retry-After, 400 with Discord's error JSON, 404 for a deleted webhook."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from laneway.connectors import BpmnError, ConnectorContext, Job, JobFailed, Secrets, discover
from laneway.connectors.builtin.discord import DiscordConnector
from tests.local_http import serve

INSTANCE = "5b0c7a2e-3f41-4e8d-9a6b-2c1d0e9f8a7b"
WEBHOOK_ID = "1180000000000000001"
TOKEN = "tok_9XvQeRmD3kLp2Zs8WnB7yHc4"
GONE_TOKEN = "tok_gone_Jq81KdPz0aLw5Rv3Ty"
LIMITED_TOKEN = "tok_busy_Hx42MbNs9cVe1Qo7Ui"
BROKEN_TOKEN = "tok_down_Pa63LeWr8dYt2Kf5Zg"
CHANNEL = "1180000000000000777"


@dataclass
class Posted:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeDiscord:
    url: str = ""
    posted: list[Posted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def webhook(self, token: str = TOKEN) -> str:
        return f"{self.url}/api/webhooks/{WEBHOOK_ID}/{token}"


def _answer(token: str, wait: bool, body: Any, seq: int) -> tuple[int, dict[str, str], Any]:
    """Discord's answers (discord.com/developers/docs/resources/webhook#execute-webhook)."""
    if token == GONE_TOKEN:
        return 404, {}, {"message": "Unknown Webhook", "code": 10015}
    if token == LIMITED_TOKEN:
        return 429, {"Retry-After": "2", "X-RateLimit-Scope": "shared"}, \
            {"message": "You are being rate limited.", "retry_after": 1.5, "global": False}
    if token == BROKEN_TOKEN:
        return 502, {}, "<html>502 Bad Gateway</html>"
    if token != TOKEN:
        return 401, {}, {"message": "Invalid Webhook Token", "code": 50027}
    if not isinstance(body, dict):
        return 400, {}, {"message": "Cannot send an empty message", "code": 50006}
    content, embeds = body.get("content") or "", body.get("embeds") or []
    if not content and not embeds:
        return 400, {}, {"message": "Cannot send an empty message", "code": 50006}
    if len(content) > 2000 or len(embeds) > 10:
        return 400, {}, {"message": "Invalid Form Body", "code": 50035}
    if not wait:
        return 204, {}, None
    return 200, {}, {"id": f"11900000000000000{seq:02d}", "type": 0, "channel_id": CHANNEL,
                     "content": content, "embeds": embeds, "webhook_id": WEBHOOK_ID,
                     "author": {"id": WEBHOOK_ID, "username": body.get("username", "Hook"),
                                "bot": True}}


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    state = FakeDiscord()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            with state.lock:
                state.posted.append(Posted(parts.path, query,
                                           {k.lower(): v for k, v in self.headers.items()},
                                           body))
                seq = len(state.posted)
            token = parts.path.rsplit("/", 1)[-1]
            status, headers, payload = _answer(token, query.get("wait") == ["true"], body, seq)
            data = b"" if payload is None else (
                payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "text/html" if isinstance(payload, str)
                                 else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests assert on what was received."""

    with serve(Handler) as url:
        state.url = url
        yield state


def _job(attrs: Mapping[str, str], variables: Mapping[str, Any] | None = None) -> Job:
    return Job(instance_id=INSTANCE, key=23, element_id="notify_team", element_name="Notify",
               type="discord", attributes=dict(attrs), lane=None, persona=None,
               variables=dict(variables if variables is not None else {
                   "permit": {"id": "P-42", "applicant": "Ada", "fee": 120,
                              "thread": "1180000000000000999"}}),
               headers={}, retries=3)


def _run(job: Job, webhook: str, secret: str = "discord_webhook") -> Mapping[str, Any]:
    secrets = Secrets({f"LANEWAY_SECRET_{secret.upper()}": webhook}, "/nonexistent")

    async def go() -> Mapping[str, Any]:
        async with httpx.AsyncClient() as http:
            ctx = ConnectorContext(secrets=secrets, http=http,
                                   log=logging.LoggerAdapter(logging.getLogger("test")),
                                   idempotency_key=job.idempotency_key, timeout=5.0)
            return await DiscordConnector().run(job, ctx)
    return asyncio.run(go())


def _no_token(text: str) -> None:
    for token in (TOKEN, GONE_TOKEN, LIMITED_TOKEN, BROKEN_TOKEN, WEBHOOK_ID + "/"):
        assert token not in text


def test_content_from_variables_is_posted_with_wait_and_the_message_id_kept(
        discord: FakeDiscord) -> None:
    job = _job({"laneway:content": "Permit {{ permit.id }} for {{ permit.applicant }}: "
                                   "fee {{ permit.fee }}",
                "laneway:username": "Permits {{ permit.id }}"})

    result = _run(job, discord.webhook())

    (posted,) = discord.posted
    assert posted.path == f"/api/webhooks/{WEBHOOK_ID}/{TOKEN}"
    assert posted.query == {"wait": ["true"]}
    assert posted.headers["content-type"] == "application/json"
    assert posted.body == {"content": "Permit P-42 for Ada: fee 120",
                           "username": "Permits P-42"}
    assert result == {"discord": {"id": "1190000000000000001", "channelId": CHANNEL}}


def test_embeds_from_a_json_template_keep_their_types_and_the_result_goes_where_named(
        discord: FakeDiscord) -> None:
    job = _job({"laneway:embeds": '[{"title": "Permit {{ permit.id }}", "color": 5763719, '
                                  '"fields": [{"name": "Fee", "value": "{{ permit.fee }} EUR", '
                                  '"inline": true}], "footer": {"text": "Laneway"}}]',
                "laneway:resultVariable": "posted"})

    result = _run(job, discord.webhook())

    (posted,) = discord.posted
    assert posted.body == {"embeds": [{"title": "Permit P-42", "color": 5763719,
                                       "fields": [{"name": "Fee", "value": "120 EUR",
                                                   "inline": True}],
                                       "footer": {"text": "Laneway"}}]}
    assert result["posted"]["channelId"] == CHANNEL


def test_a_thread_id_template_becomes_the_thread_id_query_parameter(
        discord: FakeDiscord) -> None:
    _run(_job({"laneway:content": "update", "laneway:threadId": "{{ permit.thread }}"}),
         discord.webhook())

    (posted,) = discord.posted
    assert posted.query == {"wait": ["true"], "thread_id": ["1180000000000000999"]}


def test_a_thread_id_that_is_not_digits_is_refused_before_sending(
        discord: FakeDiscord) -> None:
    job = _job({"laneway:content": "x", "laneway:threadId": "{{ permit.applicant }}"})
    with pytest.raises(JobFailed, match="threadId") as caught:
        _run(job, discord.webhook())
    assert not caught.value.retryable
    assert discord.posted == []


def test_the_webhook_secret_attribute_names_another_secret(discord: FakeDiscord) -> None:
    job = _job({"laneway:content": "hi", "laneway:webhookSecret": "discord_permits"})
    _run(job, discord.webhook(), secret="discord_permits")
    assert len(discord.posted) == 1


def test_a_429_is_retryable_and_names_discords_wait(discord: FakeDiscord) -> None:
    with pytest.raises(JobFailed) as caught:
        _run(_job({"laneway:content": "busy"}), discord.webhook(LIMITED_TOKEN))

    assert caught.value.retryable
    assert "429" in caught.value.message
    assert "You are being rate limited." in caught.value.message
    assert "retry after 1.5 s" in caught.value.message
    assert caught.value.retry_after_s == 1.5  # the runtime waits at least that long
    _no_token(caught.value.message)


def test_a_deleted_webhook_is_not_retried_and_its_url_and_token_stay_out_of_the_message(
        discord: FakeDiscord) -> None:
    with pytest.raises(JobFailed) as caught:
        _run(_job({"laneway:content": "hello"}), discord.webhook(GONE_TOKEN))

    assert not caught.value.retryable
    assert "404" in caught.value.message
    assert "Unknown Webhook" in caught.value.message
    assert "discord_webhook" in caught.value.message  # which secret to fix
    _no_token(caught.value.message)
    assert discord.url not in caught.value.message


def test_a_wrong_token_is_not_retried(discord: FakeDiscord) -> None:
    with pytest.raises(JobFailed, match="401") as caught:
        _run(_job({"laneway:content": "hello"}), discord.webhook("tok_wrong_Zz11Yy22Xx33"))
    assert not caught.value.retryable
    assert "tok_wrong_Zz11Yy22Xx33" not in caught.value.message


def test_a_400_is_not_retried_and_carries_discords_message(discord: FakeDiscord) -> None:
    with pytest.raises(JobFailed) as caught:
        _run(_job({"laneway:content": "{{ permit.note }}"}, {"permit": {"note": ""}}),
             discord.webhook())
    assert not caught.value.retryable
    assert "Cannot send an empty message (code 50006)" in caught.value.message


def test_a_5xx_is_retryable(discord: FakeDiscord) -> None:
    with pytest.raises(JobFailed, match="502") as caught:
        _run(_job({"laneway:content": "hello"}), discord.webhook(BROKEN_TOKEN))
    assert caught.value.retryable
    _no_token(caught.value.message)


def test_a_lost_connection_is_retryable_without_the_url() -> None:
    with serve(BaseHTTPRequestHandler) as url:
        pass  # the port is closed again: nobody answers there
    with pytest.raises(JobFailed) as caught:
        _run(_job({"laneway:content": "hello"}), f"{url}/api/webhooks/{WEBHOOK_ID}/{TOKEN}")
    assert caught.value.retryable
    _no_token(caught.value.message)


def test_listed_discord_error_codes_are_bpmn_errors(discord: FakeDiscord) -> None:
    job = _job({"laneway:content": "{{ permit.note }}", "laneway:errorCodes": "10015, 50006"},
               {"permit": {"note": ""}})
    with pytest.raises(BpmnError) as caught:
        _run(job, discord.webhook())
    assert caught.value.code == "50006"
    assert caught.value.variables == {"discordError": {
        "status": 400, "code": 50006, "message": "Cannot send an empty message"}}

    with pytest.raises(BpmnError) as gone:
        _run(_job({"laneway:content": "x", "laneway:errorCodes": "10015"}),
             discord.webhook(GONE_TOKEN))
    assert gone.value.code == "10015"
    _no_token(gone.value.message)


@pytest.mark.parametrize(("attrs", "variables", "words"), [
    ({"laneway:content": "{{ text }}"}, {"text": "x" * 2001}, "content has 2001"),
    ({"laneway:embeds": "{{ embeds }}"}, {"embeds": [{"title": "t"}] * 11}, "11 embeds"),
    ({"laneway:embeds": "{{ embeds }}"},
     {"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]},
     "6001 characters of text"),
    ({"laneway:embeds": '[{"title": "{{ t }}"}]'}, {"t": "t" * 257}, "title has 257"),
])
def test_a_message_over_discords_limits_is_refused_before_sending(
        discord: FakeDiscord, attrs: dict[str, str], variables: dict[str, Any],
        words: str) -> None:
    with pytest.raises(JobFailed, match=words) as caught:
        _run(_job(attrs, variables), discord.webhook())
    assert not caught.value.retryable
    assert discord.posted == []


def test_a_missing_variable_or_a_missing_secret_fails_without_retry(
        discord: FakeDiscord) -> None:
    with pytest.raises(JobFailed, match=r"permit\.nope") as caught:
        _run(_job({"laneway:content": "{{ permit.nope }}"}), discord.webhook())
    assert not caught.value.retryable
    with pytest.raises(JobFailed, match="discord_other") as missing:
        _run(_job({"laneway:content": "x", "laneway:webhookSecret": "discord_other"}),
             discord.webhook())
    assert not missing.value.retryable
    assert discord.posted == []


def test_discord_is_a_builtin_connector() -> None:
    assert isinstance(discover([]).connectors["discord"], DiscordConnector)
