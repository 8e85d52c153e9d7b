"""The `llm` connector against a real HTTP server on 127.0.0.1 that speaks the Anthropic Messages
API (tests/anthropic_server.py): the key checked, messages in the API's shape with usage, tool
use, errors with their statuses (529 overloaded, 429, 401, 400). Only the API is replaced; the
connector, the official SDK, jsonschema and the secrets are the real ones."""

from __future__ import annotations

import asyncio
import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.connectors import BpmnError, ConnectorContext, Job, JobFailed, Secrets
from laneway.connectors.builtin.llm import INVALID_OUTPUT, MAX_PROMPT_CHARS, LlmConnector
from laneway.llm import DEFAULT_MODEL
from tests.anthropic_server import MessagesApi, error, messages_api, text, tool_use

INSTANCE = "5e1c0f6a-2b3d-4c5e-8f90-a1b2c3d4e5f6"
KEY = "sk-ant-test-llm-4c7e1b"

TRIAGE = json.dumps({
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["noise", "parking", "permit"]},
        "urgent": {"type": "boolean"},
        "summary": {"type": "string", "maxLength": 200},
    },
    "required": ["category", "urgent"],
    "additionalProperties": False,
})


@pytest.fixture
def api() -> Iterator[MessagesApi]:
    with messages_api(KEY) as server:
        yield server


def _job(attrs: Mapping[str, str], variables: Mapping[str, Any] | None = None) -> Job:
    return Job(instance_id=INSTANCE, key=31, element_id="ask_model", element_name="Ask",
               type="llm", attributes=dict(attrs), lane=None, persona=None,
               variables=dict(variables if variables is not None else {
                   "request": {"id": "R-9", "text": "Loud music on Quay Street every night"}}),
               headers={}, retries=3)


def _run(api: MessagesApi, job: Job, *, settings: Mapping[str, str] | None = None,
         secrets: Secrets | None = None) -> Mapping[str, Any]:
    async def go() -> Mapping[str, Any]:
        async with httpx.AsyncClient() as http:
            ctx = ConnectorContext(
                secrets=secrets or Secrets({}, "/nonexistent"), http=http,
                log=logging.LoggerAdapter(logging.getLogger("test")),
                idempotency_key=job.idempotency_key, timeout=10.0,
                settings={"base_url": api.url, "api_key": KEY} if settings is None
                else settings)
            return await LlmConnector().run(job, ctx)
    return asyncio.run(go())


def _failure(api: MessagesApi, job: Job, **kwargs: Any) -> JobFailed:
    with pytest.raises(JobFailed) as caught:
        _run(api, job, **kwargs)
    return caught.value


def _sent_key(api: MessagesApi) -> str:
    """The key the first request carried (the pinned SDK sends it as a bearer token)."""
    headers = api.requests[0].headers
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


PROMPT = {"laneway:prompt": "Classify request {{ request.id }}: {{ request.text }}"}


def test_a_text_answer_comes_back_with_its_usage(api: MessagesApi) -> None:
    api.answer(text("This is a noise complaint."))

    result = _run(api, _job({**PROMPT, "laneway:system": "You sort a city's requests.",
                             "laneway:model": "claude-haiku-4-5", "laneway:maxTokens": "300",
                             "laneway:temperature": "0.2"}))

    assert result == {"llm": {
        "text": "This is a noise complaint.", "stopReason": "end_turn",
        "usage": {"inputTokens": result["llm"]["usage"]["inputTokens"], "outputTokens": 17,
                  "model": "claude-haiku-4-5", "stopReason": "end_turn"}}}
    assert result["llm"]["usage"]["inputTokens"] > 0
    (request,) = api.requests
    assert request.path == "/v1/messages"
    assert request.body["model"] == "claude-haiku-4-5"
    assert request.body["max_tokens"] == 300
    assert request.body["temperature"] == 0.2
    assert request.body["system"] == "You sort a city's requests."
    assert "tools" not in request.body


def test_the_prompt_is_filled_from_the_variables(api: MessagesApi) -> None:
    api.answer(text("ok"))

    _run(api, _job({**PROMPT, "laneway:system": "Reply for {{ request.id }}"}))

    (request,) = api.requests
    assert request.body["messages"] == [
        {"role": "user", "content": "Classify request R-9: Loud music on Quay Street every "
                                    "night"}]
    assert request.body["system"] == "Reply for R-9"


def test_the_model_defaults_to_the_deployment_setting_then_the_constant(
        api: MessagesApi) -> None:
    api.answer(text("ok"))

    _run(api, _job(PROMPT), settings={"base_url": api.url, "api_key": KEY,
                                      "model": "claude-opus-4-1"})
    result = _run(api, _job({**PROMPT, "laneway:resultVariable": "triage"}))

    assert [r.body["model"] for r in api.requests] == ["claude-opus-4-1", DEFAULT_MODEL]
    assert api.requests[1].body["max_tokens"] == 1024
    assert "temperature" not in api.requests[1].body
    assert result["triage"]["usage"]["model"] == DEFAULT_MODEL


def test_a_valid_structured_answer_goes_to_the_variables(api: MessagesApi) -> None:
    api.answer(tool_use({"category": "noise", "urgent": False, "summary": "night music"}))

    result = _run(api, _job({**PROMPT, "laneway:outputSchema": TRIAGE,
                             "laneway:resultVariable": "triage",
                             "laneway:outputToVariables": "true"}))

    (request,) = api.requests
    assert request.body["tool_choice"] == {"type": "tool", "name": "answer"}
    assert request.body["tools"][0]["input_schema"] == json.loads(TRIAGE)
    usage = result["triage"]["usage"]
    assert usage["stopReason"] == "tool_use"
    assert usage["outputTokens"] == 17
    assert result == {"category": "noise", "urgent": False, "summary": "night music",
                      "triage": {"category": "noise", "urgent": False,
                                 "summary": "night music", "usage": usage}}


def test_without_output_to_variables_only_the_result_variable_is_set(api: MessagesApi) -> None:
    api.answer(tool_use({"category": "permit", "urgent": True}))

    result = _run(api, _job({**PROMPT, "laneway:outputSchema": TRIAGE}))

    assert set(result) == {"llm"}
    assert result["llm"]["category"] == "permit"


@pytest.mark.parametrize(("answer", "said"), [
    ({"category": "weather", "urgent": False}, "'weather' is not one of"),
    ({"category": "noise"}, "'urgent' is a required property"),
    ({"category": "noise", "urgent": "yes"}, "at answer.urgent"),
])
def test_an_answer_that_does_not_validate_is_a_bpmn_error(api: MessagesApi, answer: Any,
                                                          said: str) -> None:
    api.answer(tool_use(answer))

    with pytest.raises(BpmnError) as caught:
        _run(api, _job({**PROMPT, "laneway:outputSchema": TRIAGE,
                        "laneway:outputToVariables": "true"}))

    assert caught.value.code == INVALID_OUTPUT
    assert said in caught.value.message
    assert caught.value.variables["llm"]["usage"]["outputTokens"] == 17


def test_an_answer_without_the_tool_call_is_a_bpmn_error(api: MessagesApi) -> None:
    api.answer(tool_use({"category": "noise", "urgent": True}, name="something_else"))

    with pytest.raises(BpmnError) as caught:
        _run(api, _job({**PROMPT, "laneway:outputSchema": TRIAGE}))

    assert caught.value.code == INVALID_OUTPUT
    assert "called no tool" in caught.value.message


@pytest.mark.parametrize(("status", "kind"), [
    (529, "overloaded_error"), (429, "rate_limit_error"), (500, "api_error")])
def test_overloaded_rate_limited_and_server_errors_are_retryable(
        api: MessagesApi, status: int, kind: str) -> None:
    api.queue(error(status, kind, "Overloaded" if status == 529 else "try later"))

    failed = _failure(api, _job(PROMPT))

    assert failed.retryable is True
    assert str(status) in failed.message
    assert api.count() == 1  # the SDK does not retry on its own: the job's policy does
    # and the retry the runtime makes succeeds
    api.answer(text("fine now"))
    assert _run(api, _job(PROMPT))["llm"]["text"] == "fine now"


def test_a_refused_key_is_not_retryable_and_never_shown(api: MessagesApi) -> None:
    wrong = "sk-ant-wrong-key-98765"

    failed = _failure(api, _job(PROMPT), settings={"base_url": api.url, "api_key": wrong})

    assert failed.retryable is False
    assert "401" in failed.message
    assert wrong not in failed.message
    assert _sent_key(api) == wrong


def test_the_key_comes_from_the_secret_when_the_setting_is_absent(api: MessagesApi) -> None:
    api.answer(text("ok"))
    secrets = Secrets({"LANEWAY_SECRET_ANTHROPIC_API_KEY": KEY}, "/nonexistent")

    result = _run(api, _job(PROMPT), settings={"base_url": api.url}, secrets=secrets)

    assert result["llm"]["text"] == "ok"
    assert _sent_key(api) == KEY


def test_no_key_anywhere_fails_without_retry_before_sending(api: MessagesApi) -> None:
    failed = _failure(api, _job(PROMPT), settings={"base_url": api.url})

    assert failed.retryable is False
    assert "LANEWAY_CONNECTOR_LLM_API_KEY" in failed.message
    assert api.count() == 0


def test_a_bad_request_is_not_retryable_and_quotes_the_api(api: MessagesApi) -> None:
    api.queue(error(400, "invalid_request_error",
                    "max_tokens: 64000 > 8192, which is the maximum allowed for this model"))

    failed = _failure(api, _job({**PROMPT, "laneway:maxTokens": "64000"}))

    assert failed.retryable is False
    assert "400" in failed.message
    assert "which is the maximum allowed for this model" in failed.message


def test_a_too_large_prompt_is_refused_before_sending(api: MessagesApi) -> None:
    job = _job({"laneway:prompt": "Summarise: {{ document }}"},
               {"document": "x" * MAX_PROMPT_CHARS})

    failed = _failure(api, job)

    assert failed.retryable is False
    assert f"{MAX_PROMPT_CHARS:,}" in failed.message
    assert api.count() == 0


@pytest.mark.parametrize(("attrs", "said"), [
    ({}, "Expected laneway:prompt"),
    ({"laneway:prompt": "About {{ missing.path }}"}, "missing"),
    ({**PROMPT, "laneway:maxTokens": "0"}, "laneway:maxTokens"),
    ({**PROMPT, "laneway:maxTokens": "1e3"}, "laneway:maxTokens"),
    ({**PROMPT, "laneway:temperature": "1.5"}, "laneway:temperature"),
    ({**PROMPT, "laneway:temperature": "nan"}, "laneway:temperature"),
    ({**PROMPT, "laneway:model": "claude sonnet"}, "laneway:model"),
    ({**PROMPT, "laneway:outputSchema": "{not json"}, "does not parse"),
    ({**PROMPT, "laneway:outputSchema": '{"type": "string"}'}, "of an object"),
    ({**PROMPT, "laneway:outputSchema": '{"type": "object", "properties": {"a": '
                                        '{"type": 5}}}'}, "valid JSON Schema"),
    ({**PROMPT, "laneway:outputSchema": '{"type": "object", "properties": {"usage": {}}}'},
     "usage"),
    ({**PROMPT, "laneway:outputToVariables": "yes"}, "laneway:outputToVariables"),
])
def test_a_wrong_element_fails_without_retry_and_sends_nothing(
        api: MessagesApi, attrs: Mapping[str, str], said: str) -> None:
    failed = _failure(api, _job(attrs))

    assert failed.retryable is False
    assert said in failed.message
    assert api.count() == 0


def test_the_example_diagrams_task_runs_against_the_api(api: MessagesApi) -> None:
    # given the service task of examples/connectors/llm/llm.bpmn, attributes as written there
    ns = "{http://laneway.dev/schema/1.0/bpmn}"
    tree = ET.parse(Path(__file__).resolve().parents[2] / "examples/connectors/llm/llm.bpmn")
    (task,) = [e for e in tree.iter() if e.get(f"{ns}type") == "llm"]
    attrs = {k.replace(ns, "laneway:"): v for k, v in task.attrib.items() if k.startswith(ns)}
    api.answer(tool_use({"category": "noise", "urgent": False, "summary": "night music"}))

    result = _run(api, _job(attrs))

    assert result["category"] == "noise"
    assert result["triage"]["usage"]["model"] == "claude-haiku-4-5"
    assert api.requests[0].body["temperature"] == 0
