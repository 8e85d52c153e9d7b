"""The `ai-listener` trigger against two real local servers: a tool endpoint answering JSON, and
a server speaking the Anthropic Messages API (tests/anthropic_server.py) that the official SDK
calls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.triggers import PollResult, TriggerFailed
from laneway.triggers.builtin.ai_listener import MAX_TOOL_TEXT, AiListenerTrigger
from laneway.triggers.testing import make_context, make_schedule, poll_once
from tests.anthropic_server import MessagesApi, error, messages_api, raw, text, tool_use
from tests.json_endpoint import JsonEndpoint, json_endpoint

KEY = "sk-ant-test-7f3a9c"
PROMPT = "Does this weather report describe a storm that closes the harbour?"


@pytest.fixture
def api() -> Iterator[MessagesApi]:
    with messages_api(KEY) as server:
        yield server


@pytest.fixture
def tool() -> Iterator[JsonEndpoint]:
    with json_endpoint("/weather") as server:
        server.body = {"station": "harbour", "wind_kn": 48, "warning": "storm"}
        yield server


def _poll(tool: JsonEndpoint, api: MessagesApi, tmp_path: Path, *,
          settings: Mapping[str, str] | None = None, cursor: Any = None,
          credentials: Mapping[str, str] | None = None, key: str = KEY,
          manual: bool = False) -> PollResult:
    schedule = make_schedule("ai-listener", {"url": tool.url, "prompt": PROMPT,
                                             **(settings or {})}, schedule_id=SCHEDULE)

    async def go() -> PollResult:
        async with httpx.AsyncClient() as http:
            ctx = make_context(http, tmp_path, settings={"base_url": api.url, "api_key": key})
            return await poll_once(AiListenerTrigger(), schedule, ctx, cursor=cursor,
                                   credentials=credentials, manual=manual)
    return asyncio.run(go())


SCHEDULE = "3d1f6c2e-5a7b-4c8d-9e0f-1a2b3c4d5e6f"


def test_a_yes_starts_one_item_with_the_tool_output_the_reason_and_the_usage(
        tool: JsonEndpoint, api: MessagesApi, tmp_path: Path) -> None:
    # given a model that says yes with a correlation id and a fact
    api.answer(tool_use({"start": True, "correlationId": "storm-2026-12-06",
                         "reason": "48 knots and a storm warning", "variables": {"wind": 48}}))

    result = _poll(tool, api, tmp_path, settings={"model": "claude-haiku-4-5",
                                                  "system": "Harbour rules apply."},
                   credentials={"toolAuthorization": "Bearer tool-token-1"})

    # then one item starts, with what the process needs
    (item,) = result.items
    assert item.dedup_key == "corr:storm-2026-12-06"
    assert item.variables["toolOutput"] == tool.body
    assert item.variables["toolOutputTruncated"] is False
    assert item.variables["reason"] == "48 knots and a storm warning"
    assert item.variables["correlationId"] == "storm-2026-12-06"
    assert item.variables["extracted"] == {"wind": 48}
    usage = item.variables["usage"]
    assert usage["model"] == "claude-haiku-4-5"
    assert usage["inputTokens"] > 0
    assert usage["outputTokens"] == 17
    assert item.summary["correlationId"] == "storm-2026-12-06"
    assert result.cursor["last"]["decision"] == "start"
    assert result.cursor["yes"] == 1
    # and the tool got the schedule's credential, the model the prompt, the output and the tool
    assert tool.seen[0]["authorization"] == "Bearer tool-token-1"
    (sent,) = api.requests
    assert sent.headers["anthropic-version"]
    assert KEY in (sent.headers.get("x-api-key"), sent.headers.get("authorization",
                                                                   "").removeprefix("Bearer "))
    body = sent.body
    assert body["model"] == "claude-haiku-4-5"
    assert body["tool_choice"] == {"type": "tool", "name": "decide"}
    assert [t["name"] for t in body["tools"]] == ["decide"]
    assert body["tools"][0]["input_schema"]["properties"]["start"] == {
        "type": "boolean", "description": "true only if an instance should start now"}
    prompt = body["messages"][0]["content"]
    assert PROMPT in prompt
    assert '"warning":"storm"' in prompt
    assert "Harbour rules apply." in body["system"]


def test_a_no_starts_nothing_and_the_cursor_says_why(
        tool: JsonEndpoint, api: MessagesApi, tmp_path: Path) -> None:
    api.answer(tool_use({"start": False, "correlationId": None, "reason": "a breeze"}))

    result = _poll(tool, api, tmp_path)

    assert result.items == []
    assert result.cursor["last"]["decision"] == "no"
    assert result.cursor["last"]["reason"] == "a breeze"
    assert result.cursor["yes"] == 0
    assert result.cursor["polls"] == 1


def test_the_same_correlation_id_twelve_times_gives_one_dedup_key(
        tool: JsonEndpoint, api: MessagesApi, tmp_path: Path) -> None:
    # given twelve polls of one storm: the readings change, the model names the same event
    # (spelled with different case and spacing, as models do)
    keys = set()
    cursor = None
    for poll in range(12):
        tool.body = {"station": "harbour", "wind_kn": 40 + poll, "warning": "storm"}
        spelling = "Storm  Harbour-12" if poll % 2 else "storm harbour-12"
        api.answer(tool_use({"start": True, "correlationId": spelling,
                             "reason": f"reading {poll}"}))
        result = _poll(tool, api, tmp_path, cursor=cursor)
        cursor = result.cursor
        keys |= {item.dedup_key for item in result.items}

    # then every poll asked the model, and every yes has one key: one instance
    assert api.count() == 12
    assert keys == {"corr:storm harbour-12"}


def test_the_same_tool_output_without_a_correlation_id_gives_one_dedup_key(
        tool: JsonEndpoint, api: MessagesApi, tmp_path: Path) -> None:
    api.answer(tool_use({"start": True, "correlationId": None, "reason": "storm"}))
    keys = set()
    for _ in range(12):  # every poll asks again (skipUnchanged off), as after a lost cursor
        result = _poll(tool, api, tmp_path, settings={"skipUnchanged": "false"})
        keys |= {item.dedup_key for item in result.items}
    assert api.count() == 12
    assert len(keys) == 1
    assert next(iter(keys)).startswith("hash:")

    # and another output is another item
    tool.body = {"station": "harbour", "wind_kn": 60, "warning": "hurricane"}
    (other,) = _poll(tool, api, tmp_path).items
    assert other.dedup_key not in keys


def test_an_unchanged_tool_output_is_not_asked_again_unless_an_operator_fires(
        tool: JsonEndpoint, api: MessagesApi, tmp_path: Path) -> None:
    api.answer(tool_use({"start": False, "correlationId": None, "reason": "calm"}))
    first = _poll(tool, api, tmp_path)

    again = _poll(tool, api, tmp_path, cursor=first.cursor)
    assert api.count() == 1
    assert again.items == []
    assert again.cursor["polls"] == 2

    _poll(tool, api, tmp_path, cursor=first.cursor, manual=True)
    assert api.count() == 2
    tool.body = {"station": "harbour", "wind_kn": 12}
    _poll(tool, api, tmp_path, cursor=first.cursor)
    assert api.count() == 3


@pytest.mark.parametrize("answer", [
    tool_use({"start": "true", "correlationId": None, "reason": "a string, not a boolean"}),
    tool_use({"start": 1, "correlationId": None, "reason": "a number"}),
    tool_use({"start": True, "correlationId": 7, "reason": "a numeric correlation id"}),
    tool_use({"start": True, "correlationId": None}),
    tool_use({"start": True, "correlationId": None, "reason": "x", "variables": [1]}),
    tool_use(["start", True]),
    tool_use({"start": True, "correlationId": None, "reason": "another tool"}, name="other"),
    text("Yes, start it."),
    raw(200, {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
              "content": "start", "stop_reason": "end_turn", "usage": {}}),
], ids=["start-string", "start-number", "corr-number", "no-reason", "variables-list",
        "input-list", "other-tool", "prose-only", "content-not-a-list"])
def test_anything_but_a_well_formed_yes_starts_nothing(
        tool: JsonEndpoint, api: MessagesApi, tmp_path: Path, answer: Any) -> None:
    api.answer(answer)

    result = _poll(tool, api, tmp_path)

    assert result.items == []
    assert result.cursor["last"]["decision"] in ("malformed", "no-tool-call")


@pytest.mark.parametrize(("status", "kind", "retryable"), [
    (529, "overloaded_error", True),
    (429, "rate_limit_error", True),
    (500, "api_error", True),
    (400, "invalid_request_error", False),
])
def test_an_error_of_the_api_fails_the_poll_retryable_or_not(
        tool: JsonEndpoint, api: MessagesApi, tmp_path: Path, status: int, kind: str,
        retryable: bool) -> None:
    api.answer(error(status, kind, "Overloaded" if status == 529 else "no"))

    with pytest.raises(TriggerFailed) as failed:
        _poll(tool, api, tmp_path)

    assert failed.value.retryable is retryable
    assert str(status) in failed.value.message
    assert kind in failed.value.message
    assert api.count() == 1  # no retries of the SDK's own: the scheduler backs off


def test_a_refused_key_is_not_retryable_and_never_shown(
        tool: JsonEndpoint, api: MessagesApi, tmp_path: Path) -> None:
    with pytest.raises(TriggerFailed) as failed:
        _poll(tool, api, tmp_path, key="sk-ant-wrong-key-123")

    assert failed.value.retryable is False
    assert "401" in failed.value.message
    assert "sk-ant-wrong-key-123" not in failed.value.message


def test_no_key_fails_with_a_clear_error_before_any_request(
        tool: JsonEndpoint, api: MessagesApi, tmp_path: Path) -> None:
    with pytest.raises(TriggerFailed) as failed:
        _poll(tool, api, tmp_path, key="")

    assert failed.value.retryable is False
    assert "LANEWAY_TRIGGER_AI_LISTENER_API_KEY" in failed.value.message
    assert api.count() == 0
    assert tool.seen == []


def test_the_key_may_be_the_secret_anthropic_api_key(
        tool: JsonEndpoint, api: MessagesApi, tmp_path: Path) -> None:
    api.answer(tool_use({"start": True, "correlationId": "a", "reason": "yes"}))
    schedule = make_schedule("ai-listener", {"url": tool.url, "prompt": PROMPT})

    async def go() -> PollResult:
        async with httpx.AsyncClient() as http:
            ctx = make_context(http, tmp_path, settings={"base_url": api.url},
                               secrets={"anthropic_api_key": KEY})
            return await poll_once(AiListenerTrigger(), schedule, ctx)

    assert len(asyncio.run(go()).items) == 1


def test_a_large_tool_output_is_cut_for_the_model_with_a_note(
        tool: JsonEndpoint, api: MessagesApi, tmp_path: Path) -> None:
    tool.body = {"readings": ["x" * 100] * 1000}  # ~100 KiB
    api.answer(tool_use({"start": True, "correlationId": None, "reason": "many readings"}))

    (item,) = _poll(tool, api, tmp_path).items

    prompt = api.requests[0].body["messages"][0]["content"]
    assert len(prompt.encode()) < MAX_TOOL_TEXT + 2000
    assert "only the first 32768 are shown" in prompt
    assert item.variables["toolOutputTruncated"] is True
    assert isinstance(item.variables["toolOutput"], str)
    assert len(item.variables["toolOutput"].encode()) <= MAX_TOOL_TEXT
    assert item.dedup_key.startswith("hash:")


@pytest.mark.parametrize(("status", "body", "retryable"), [
    (503, {"error": "down"}, True),
    (401, {"error": "who"}, False),
    (200, b"<html>not json</html>", False),
    (200, b'{"reading": NaN}', False),
])
def test_a_tool_that_fails_or_answers_no_json_fails_the_poll(
        tool: JsonEndpoint, api: MessagesApi, tmp_path: Path, status: int, body: Any,
        retryable: bool) -> None:
    tool.status, tool.body = status, body

    with pytest.raises(TriggerFailed) as failed:
        _poll(tool, api, tmp_path)

    assert failed.value.retryable is retryable
    assert api.count() == 0


def test_check_refuses_a_declaration_without_url_or_prompt() -> None:
    trigger = AiListenerTrigger()
    assert list(trigger.check({"url": "http://127.0.0.1:9/x", "prompt": "storm?"})) == []
    problems = list(trigger.check({"method": "DELETE", "maxTokens": "0",
                                   "skipUnchanged": "maybe", "body": "{"}))
    assert len(problems) == 6
    assert any("laneway:url" in p for p in problems)
    assert any("laneway:prompt" in p for p in problems)
    assert all(p.startswith("Expected") for p in problems)
    (problem,) = trigger.check({"url": "ftp://x", "prompt": "p"})
    assert problem.startswith("Expected laneway:url to be an http or https URL")
