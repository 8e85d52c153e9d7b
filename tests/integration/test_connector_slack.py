"""The `slack` connector against a real HTTP server on 127.0.0.1 that answers `chat.postMessage`
as Slack's Web API does: 200 with `ok: true` and the message's `ts`, 200 with `ok: false` and an
error string, 429 with `Retry-After`, 500. It checks the bearer token and records every request.
Only Slack is replaced; the connector, httpx and the secrets are the real ones."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from laneway.connectors import BpmnError, ConnectorContext, Job, JobFailed, Secrets
from laneway.connectors.builtin.slack import MAX_BLOCKS, MAX_TEXT_CHARS, SlackConnector
from tests.local_http import serve

INSTANCE = "0b7f9d52-8a0e-4d8e-9f51-3c2a1e4d5b6f"
TOKEN = "xoxb-1111-2222-secretpart"
OTHER_TOKEN = "xoxb-9999-8888-otherpart"


@dataclass
class FakeSlack:
    """What the server received, and how it answers next: `script` maps a channel to an answer
    (`ok`, an error string, `429`, `500`)."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    tokens: frozenset[str] = frozenset({TOKEN, OTHER_TOKEN})
    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: int = 0


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    state = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

        def _send(self, status: int, body: Mapping[str, Any] | str,
                  headers: Mapping[str, str] | None = None) -> None:
            data = (json.dumps(body) if not isinstance(body, str) else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8"
                             if not isinstance(body, str) else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            auth = self.headers.get("Authorization", "")
            with state.lock:
                state.paths.append(self.path)
                state.auth.append(auth)
                state.content_types.append(self.headers.get("Content-Type", ""))
            if self.path != "/api/chat.postMessage":
                self._send(404, "unknown method")
                return
            token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
            if token is None:
                self._send(200, {"ok": False, "error": "not_authed"})
                return
            if token not in state.tokens:
                self._send(200, {"ok": False, "error": "invalid_auth"})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(200, {"ok": False, "error": "invalid_json"})
                return
            with state.lock:
                state.requests.append(body)
            channel = body.get("channel")
            if channel == "C_RATE":
                self._send(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"})
            elif channel == "C_DOWN":
                self._send(500, "<html>Internal Server Error</html>")
            elif channel == "C_INTERNAL":
                self._send(200, {"ok": False, "error": "internal_error"})
            elif channel in ("C_GONE", "#nowhere"):
                self._send(200, {"ok": False, "error": "channel_not_found"})
            elif "blocks" in body and not all(isinstance(b, dict) and "type" in b
                                              for b in body["blocks"]):
                self._send(200, {"ok": False, "error": "invalid_blocks", "response_metadata": {
                    "messages": ["[ERROR] missing required field: type [json-pointer:/blocks/0]"]}})
            elif not body.get("text") and not body.get("blocks"):
                self._send(200, {"ok": False, "error": "no_text"})
            else:
                with state.lock:
                    state.messages += 1
                    ts = f"1700000000.{state.messages:06d}"
                message: dict[str, Any] = {"type": "message", "user": "U0BOT", "ts": ts,
                                           "text": body.get("text", "")}
                if "blocks" in body:
                    message["blocks"] = body["blocks"]
                if "thread_ts" in body:
                    message["thread_ts"] = body["thread_ts"]
                self._send(200, {"ok": True, "channel": "C1", "ts": ts, "message": message})

    with serve(Handler) as url:
        state.url = url
        yield state


def _job(attrs: Mapping[str, str], variables: Mapping[str, Any] | None = None) -> Job:
    return Job(instance_id=INSTANCE, key=23, element_id="notify", element_name="Notify",
               type="slack", attributes=dict(attrs), lane=None, persona=None,
               variables=dict(variables if variables is not None else {
                   "permit": {"id": "P-7", "applicant": "Ada"}, "channel": "C1"}),
               headers={}, retries=3)


def _secrets(**more: str) -> Secrets:
    return Secrets({"LANEWAY_SECRET_SLACK_BOT_TOKEN": TOKEN, **more}, "/nonexistent")


def _run(slack: FakeSlack, job: Job, secrets: Secrets | None = None,
         api_url: str | None = None) -> Mapping[str, Any]:
    async def go() -> Mapping[str, Any]:
        async with httpx.AsyncClient() as http:
            ctx = ConnectorContext(secrets=secrets or _secrets(), http=http,
                                   log=logging.LoggerAdapter(logging.getLogger("test")),
                                   idempotency_key=job.idempotency_key, timeout=5.0,
                                   settings={"api_url": api_url or slack.url + "/api"})
            return await SlackConnector().run(job, ctx)
    return asyncio.run(go())


def _failure(slack: FakeSlack, job: Job, secrets: Secrets | None = None) -> JobFailed:
    with pytest.raises(JobFailed) as caught:
        _run(slack, job, secrets)
    assert TOKEN not in str(caught.value)
    assert "secretpart" not in str(caught.value)
    return caught.value


def test_a_post_sends_the_text_from_variables_with_the_bot_token(slack: FakeSlack) -> None:
    job = _job({"laneway:channel": "{{ channel }}",
                "laneway:text": "Permit {{ permit.id }} for {{ permit.applicant }} is granted"})

    result = _run(slack, job)

    assert slack.paths == ["/api/chat.postMessage"]
    assert slack.auth == [f"Bearer {TOKEN}"]
    assert slack.content_types == ["application/json; charset=utf-8"]
    assert slack.requests == [{"channel": "C1", "text": "Permit P-7 for Ada is granted"}]
    assert result == {"slack": {"ok": True, "channel": "C1", "ts": "1700000000.000001"}}


def test_blocks_are_filled_from_variables_and_sent_as_json(slack: FakeSlack) -> None:
    job = _job({"laneway:channel": "C1", "laneway:text": "Permit {{ permit.id }}",
                "laneway:blocks": '[{"type": "section", "text": {"type": "mrkdwn", '
                                  '"text": "*Permit* {{ permit.id }}"}}, '
                                  '{"type": "context", "elements": "{{ notes }}"}]',
                "laneway:resultVariable": "posted"},
               {"permit": {"id": "P-7"}, "notes": [{"type": "plain_text", "text": "by Ada"}]})

    result = _run(slack, job)

    (body,) = slack.requests
    assert body["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Permit* P-7"}},
        {"type": "context", "elements": [{"type": "plain_text", "text": "by Ada"}]}]
    assert body["text"] == "Permit P-7"
    assert result["posted"]["ts"] == "1700000000.000001"


def test_a_reply_goes_into_the_thread_of_the_first_message(slack: FakeSlack) -> None:
    # given a first message whose result is kept as `firstPost`
    first = _run(slack, _job({"laneway:channel": "C1", "laneway:text": "New application",
                              "laneway:resultVariable": "firstPost"}))
    # when a later task replies on its ts, from the variables the first one left
    reply = _run(slack, _job({"laneway:channel": "{{ firstPost.channel }}",
                              "laneway:text": "Reviewed",
                              "laneway:threadTs": "{{ firstPost.ts }}"}, dict(first)))

    assert slack.requests[1] == {"channel": "C1", "text": "Reviewed",
                                 "thread_ts": "1700000000.000001"}
    assert reply["slack"]["ts"] == "1700000000.000002"


def test_an_error_listed_in_error_codes_is_a_bpmn_error(slack: FakeSlack) -> None:
    job = _job({"laneway:channel": "C_GONE", "laneway:text": "hi",
                "laneway:errorCodes": "not_in_channel, channel_not_found"})

    with pytest.raises(BpmnError) as caught:
        _run(slack, job)

    assert caught.value.code == "channel_not_found"
    assert caught.value.message == "Slack refused chat.postMessage: channel_not_found"
    assert caught.value.variables == {"slack": {"ok": False, "error": "channel_not_found"}}


def test_an_error_not_listed_is_a_failure_without_retry(slack: FakeSlack) -> None:
    failed = _failure(slack, _job({"laneway:channel": "#nowhere", "laneway:text": "hi",
                                   "laneway:errorCodes": "not_in_channel"}))
    assert failed.message == "Slack refused chat.postMessage: channel_not_found"
    assert failed.retryable is False


def test_invalid_auth_fails_without_retry_and_never_shows_the_token(slack: FakeSlack) -> None:
    bad = "xoxb-0000-0000-revokedtoken"
    failed = _failure(slack, _job({"laneway:channel": "C1", "laneway:text": "hi",
                                   "laneway:errorCodes": "channel_not_found"}),
                      Secrets({"LANEWAY_SECRET_SLACK_BOT_TOKEN": bad}, "/nonexistent"))

    assert failed.retryable is False
    assert "invalid_auth" in failed.message
    assert bad not in failed.message
    assert "revokedtoken" not in failed.message
    assert slack.auth == [f"Bearer {bad}"]


def test_the_token_secret_is_named_by_attribute(slack: FakeSlack) -> None:
    secrets = Secrets({"LANEWAY_SECRET_SLACK_PERMITS": OTHER_TOKEN}, "/nonexistent")
    _run(slack, _job({"laneway:channel": "C1", "laneway:text": "hi",
                      "laneway:tokenSecret": "slack_permits"}), secrets)
    assert slack.auth == [f"Bearer {OTHER_TOKEN}"]


def test_a_missing_token_fails_without_retry_before_anything_is_sent(slack: FakeSlack) -> None:
    failed = _failure(slack, _job({"laneway:channel": "C1", "laneway:text": "hi"}),
                      Secrets({}, "/nonexistent"))
    assert failed.retryable is False
    assert "slack_bot_token" in failed.message
    assert slack.paths == []


def test_a_token_with_a_line_break_is_refused_without_showing_it(slack: FakeSlack) -> None:
    failed = _failure(slack, _job({"laneway:channel": "C1", "laneway:text": "hi"}),
                      Secrets({"LANEWAY_SECRET_SLACK_BOT_TOKEN": TOKEN + "\r\nX-Evil: 1"},
                              "/nonexistent"))
    assert failed.retryable is False
    assert slack.paths == []


def test_429_is_retryable_and_names_the_wait(slack: FakeSlack) -> None:
    failed = _failure(slack, _job({"laneway:channel": "C_RATE", "laneway:text": "hi"}))
    assert failed.retryable is True
    assert failed.message == ("Slack rate-limited chat.postMessage (429): it asks to wait 3 s "
                              "before trying again")
    assert failed.retry_after_s == 3.0  # the runtime waits at least that long


def test_5xx_and_slack_internal_errors_are_retryable(slack: FakeSlack) -> None:
    down = _failure(slack, _job({"laneway:channel": "C_DOWN", "laneway:text": "hi"}))
    assert down.retryable is True
    assert down.message.startswith("chat.postMessage answered 500 Internal Server Error")
    internal = _failure(slack, _job({"laneway:channel": "C_INTERNAL", "laneway:text": "hi"}))
    assert internal.retryable is True
    assert internal.message == "Slack refused chat.postMessage: internal_error"


def test_a_timeout_is_retryable() -> None:
    release = threading.Event()

    class Stalls(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            release.wait(5)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    async def go(url: str) -> None:
        async with httpx.AsyncClient() as http:
            ctx = ConnectorContext(secrets=_secrets(), http=http,
                                   log=logging.LoggerAdapter(logging.getLogger("test")),
                                   idempotency_key="k", timeout=0.2, settings={"api_url": url})
            await SlackConnector().run(_job({"laneway:channel": "C1", "laneway:text": "hi"}), ctx)

    with serve(Stalls) as url:
        try:
            with pytest.raises(JobFailed, match="timed out") as caught:
                asyncio.run(go(url))
        finally:
            release.set()
    assert caught.value.retryable is True


def test_invalid_blocks_say_why_and_are_not_retried(slack: FakeSlack) -> None:
    failed = _failure(slack, _job({"laneway:channel": "C1",
                                   "laneway:blocks": '[{"text": "no type"}]'}))
    assert failed.retryable is False
    assert failed.message == ("Slack refused chat.postMessage: invalid_blocks ([ERROR] missing "
                              "required field: type [json-pointer:/blocks/0])")


@pytest.mark.parametrize(("attrs", "variables", "expected"), [
    ({"laneway:channel": "C1", "laneway:text": "{{ long }}"},
     {"long": "x" * (MAX_TEXT_CHARS + 1)}, "at most 40,000 characters"),
    ({"laneway:channel": "C1", "laneway:blocks": "{{ many }}"},
     {"many": [{"type": "divider"}] * (MAX_BLOCKS + 1)}, "at most 50 blocks"),
    ({"laneway:channel": "C1", "laneway:text": "hi", "laneway:blocks": '[{"type": "section", '
      '"text": {"type": "mrkdwn", "text": "{{ huge }}"}}]'},
     {"huge": "y" * 1_000_001}, "at most 1,000,000 bytes"),
    ({"laneway:channel": "", "laneway:text": "hi"}, {}, "Expected laneway:channel"),
    ({"laneway:channel": "C1"}, {}, "Expected laneway:text or laneway:blocks"),
    ({"laneway:channel": "C1", "laneway:text": "hi", "laneway:threadTs": "{{ ts }}"},
     {"ts": "yesterday"}, "Expected laneway:threadTs"),
    ({"laneway:channel": "C1", "laneway:text": "{{ missing }}"}, {}, "missing"),
    ({"laneway:channel": "C1", "laneway:blocks": "{not json"}, {}, "does not parse"),
    ({"laneway:channel": "C1", "laneway:text": "hi", "laneway:errorCodes": "Not A Code"}, {},
     "laneway:errorCodes"),
], ids=["text", "blocks", "body", "channel", "empty", "threadTs", "variable", "json",
        "errorCodes"])
def test_what_cannot_be_sent_is_refused_before_sending(
        slack: FakeSlack, attrs: Mapping[str, str], variables: Mapping[str, Any],
        expected: str) -> None:
    failed = _failure(slack, _job(attrs, variables))
    assert failed.retryable is False
    assert expected in failed.message
    assert slack.paths == []
