"""The `llm` connector as a gateway's decision handler (`laneway:decision="llm"`), against a real
HTTP server on 127.0.0.1 that speaks the Anthropic Messages API (tests/anthropic_server.py):
the model is offered one forced tool whose schema allows only the gateway's flow ids, its
tool_use choosing a flow becomes SUBMIT_DECISION with that flow (and the usage in the
variables), and an answer naming an unknown flow becomes a failure with no retries (an
incident; a gateway catches no BPMN error). The last test runs a whole diagram: the engine's
decision job, the connectors runtime, the connector, the SDK and the server, with nothing
replaced but the model's API."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from laneway.bpmn import parse
from laneway.codec import JobRecord, decode_record
from laneway.connectors import (
    ConnectorContext,
    Decision,
    DecisionFlow,
    Job,
    JobFailed,
    Secrets,
)
from laneway.connectors.builtin.llm import DECIDE_TOOL, LlmConnector
from laneway.engine import DefinitionRepository
from laneway.engine.runner import Answers, LocalRunner
from laneway.records import Command, Record
from services.connectors.execute import Runtime, execute
from services.connectors.idempotency import IdempotencyStore
from tests.anthropic_server import MessagesApi, messages_api, text, tool_use

INSTANCE = "7c1d0e6a-2b3d-4c5e-8f90-a1b2c3d4e5f7"
KEY = "sk-ant-test-decision-9f2a"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples/connectors/llm-decision/triage.bpmn"

FLOWS = (
    DecisionFlow("to_permit", "Building permit", "check_permit", "Check the permit"),
    DecisionFlow("to_noise", "Noise complaint", "call_neighbour", "Call the neighbour",
                 condition="=request.kind = \"noise\""),
    DecisionFlow("to_other", "Something else", "supervisor", "Supervisor sorts it",
                 default=True),
)
PROMPT = {"laneway:prompt": "Route request {{ request.id }}: {{ request.text }}",
          "laneway:system": "You are the intake desk of a city.",
          "laneway:resultVariable": "triage"}
CLASSIFY = json.dumps({
    "type": "object",
    "properties": {"urgent": {"type": "boolean"}, "summary": {"type": "string"}},
    "required": ["urgent"],
})


@pytest.fixture
def api() -> Iterator[MessagesApi]:
    with messages_api(KEY) as server:
        yield server


def _job(attrs: Mapping[str, str], gateway: str = "exclusiveGateway") -> Job:
    return Job(instance_id=INSTANCE, key=41, element_id="route", element_name="Which desk?",
               type="llm", attributes=dict(attrs), lane=None, persona=None,
               variables={"request": {"id": "R-7", "text": "My neighbour's dog barks all night"}},
               headers={}, retries=3, decision=True, flows=FLOWS, gateway_type=gateway)


def _context(api: MessagesApi, http: httpx.AsyncClient) -> ConnectorContext:
    return ConnectorContext(secrets=Secrets({}, "/nonexistent"), http=http,
                            log=logging.LoggerAdapter(logging.getLogger("test")),
                            idempotency_key=f"{INSTANCE}:41", timeout=10.0,
                            settings={"base_url": api.url, "api_key": KEY})


def _run(api: MessagesApi, job: Job) -> Decision:
    async def go() -> Any:
        async with httpx.AsyncClient() as http:
            return await LlmConnector().run(job, _context(api, http))
    result = asyncio.run(go())
    assert isinstance(result, Decision)
    return result


def _failure(api: MessagesApi, job: Job) -> JobFailed:
    with pytest.raises(JobFailed) as caught:
        _run(api, job)
    return caught.value


def test_the_model_chooses_a_flow_through_a_tool_that_allows_only_the_gateways_flows(
        api: MessagesApi) -> None:
    api.answer(tool_use({"flow": "to_noise", "reason": "A barking dog at night is noise."}))

    decision = _run(api, _job(PROMPT))

    assert list(decision.flows) == ["to_noise"]
    triage = decision.variables["triage"]
    assert triage["flow"] == "to_noise"
    assert triage["reason"] == "A barking dog at night is noise."
    assert triage["usage"]["outputTokens"] == 17
    assert triage["usage"]["inputTokens"] > 0
    assert triage["usage"]["stopReason"] == "tool_use"
    (request,) = api.requests
    assert request.body["tool_choice"] == {"type": "tool", "name": DECIDE_TOOL}
    (tool,) = request.body["tools"]
    schema = tool["input_schema"]
    assert schema["properties"]["flow"]["enum"] == ["to_permit", "to_noise", "to_other"]
    assert schema["required"] == ["flow", "reason"]
    assert request.body["system"] == "You are the intake desk of a city."
    prompt = request.body["messages"][0]["content"]
    assert prompt.startswith("Route request R-7: My neighbour's dog barks all night\n\n")
    assert "'Which desk?'" in prompt
    assert "- to_permit: 'Building permit', leads to 'Check the permit'" in prompt
    assert 'when =request.kind = "noise"' in prompt
    assert "- to_other: 'Something else', leads to 'Supervisor sorts it' (the default" in prompt


def test_an_inclusive_gateway_lets_the_model_take_several_flows(api: MessagesApi) -> None:
    api.answer(tool_use({"flows": ["to_permit", "to_noise"], "reason": "Both."}))

    decision = _run(api, _job(PROMPT, gateway="inclusiveGateway"))

    assert list(decision.flows) == ["to_permit", "to_noise"]
    schema = api.requests[0].body["tools"][0]["input_schema"]
    assert schema["properties"]["flows"]["items"]["enum"] == ["to_permit", "to_noise",
                                                              "to_other"]
    assert schema["properties"]["flows"]["minItems"] == 1


def test_an_output_schema_adds_what_the_model_classifies(api: MessagesApi) -> None:
    api.answer(tool_use({"flow": "to_noise", "reason": "noise", "urgent": True,
                         "summary": "barking dog"}))

    decision = _run(api, _job({**PROMPT, "laneway:outputSchema": CLASSIFY,
                               "laneway:outputToVariables": "true"}))

    schema = api.requests[0].body["tools"][0]["input_schema"]
    assert set(schema["properties"]) == {"flow", "reason", "urgent", "summary"}
    assert schema["required"] == ["flow", "reason", "urgent"]
    assert decision.variables["urgent"] is True
    assert decision.variables["summary"] == "barking dog"
    assert "flow" not in decision.variables
    assert decision.variables["triage"]["urgent"] is True


@pytest.mark.parametrize(("answer", "said"), [
    ({"flow": "to_mars", "reason": "space"}, "'to_mars' is not one of"),
    ({"reason": "no idea"}, "'flow' is a required property"),
    ({"flow": ["to_noise"], "reason": "a list"}, "at answer.flow"),
])
def test_an_answer_naming_no_known_flow_fails_without_retries(
        api: MessagesApi, answer: Any, said: str) -> None:
    api.answer(tool_use(answer))

    failed = _failure(api, _job(PROMPT))

    assert failed.retryable is False
    assert said in failed.message
    assert "gateway 'route' (to_permit, to_noise, to_other)" in failed.message
    assert "output tokens" in failed.message


def test_an_answer_without_the_tool_call_fails(api: MessagesApi) -> None:
    api.answer(text("I would send it to the noise team."))

    failed = _failure(api, _job(PROMPT))

    assert failed.retryable is False
    assert "called no tool" in failed.message


def test_an_output_schema_taking_the_decisions_keys_is_refused_before_asking(
        api: MessagesApi) -> None:
    schema = json.dumps({"type": "object", "properties": {"reason": {"type": "string"}}})

    failed = _failure(api, _job({**PROMPT, "laneway:outputSchema": schema}))

    assert "no property named reason" in failed.message
    assert api.count() == 0


class _Store:
    async def claim(self, key: str, record_id: str, lease_s: float) -> bytes | None:
        return None

    async def renew(self, key: str, record_id: str, lease_s: float) -> None:
        return None

    async def finish(self, key: str, record_id: str, intent: str, command: bytes) -> None:
        return None

    async def release(self, key: str, record_id: str) -> None:
        return None


def _through_the_runtime(api: MessagesApi, created: Record) -> Record:
    """The JOB_CREATED event as the connectors service runs it: the command it produces."""
    emitted: list[bytes] = []

    async def emit(key: str, data: bytes) -> None:
        emitted.append(data)

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            rt = Runtime(connector=LlmConnector(), secrets=Secrets({}, "/nonexistent"),
                         http=http, store=cast(IdempotencyStore, _Store()), emit=emit,
                         slots=asyncio.Semaphore(4),
                         settings={"base_url": api.url, "api_key": KEY})
            await execute(JobRecord.from_event(created), rt)

    asyncio.run(go())
    assert emitted
    return decode_record(emitted[-1])


def _engine() -> LocalRunner:
    repository = DefinitionRepository()
    repository.deploy(parse(EXAMPLE.read_bytes(), str(EXAMPLE)))
    return LocalRunner(repository)


def test_the_triage_diagram_routes_by_the_models_tool_use_through_the_runtime(
        api: MessagesApi) -> None:
    api.answer(tool_use({"flow": "to_noise", "reason": "A barking dog is a noise complaint.",
                         "urgent": False, "summary": "Dog barking at night"}))
    commands: list[Record] = []

    def model(created: Record) -> Mapping[str, Any]:
        cmd = _through_the_runtime(api, created)
        commands.append(cmd)
        return dict(cmd.value)

    runner = _engine()
    iid = runner.start("llm-decision-triage", {"request": {
        "id": "R-7", "text": "My neighbour's dog barks all night"}})
    outcome = runner.run(iid, Answers(jobs={"llm": model}))

    (cmd,) = commands
    assert cmd.intent == "SUBMIT_DECISION"
    assert cmd.value["flows"] == ["to_noise"]
    assert outcome.status == "WAITING"
    assert outcome.waiting_on == ["user task 'call_neighbour'"]
    assert outcome.variables["triage"]["reason"] == "A barking dog is a noise complaint."
    assert outcome.variables["triage"]["usage"]["outputTokens"] == 17
    assert (outcome.variables["urgent"], outcome.variables["summary"]) == (
        False, "Dog barking at night")
    prompt = api.requests[0].body["messages"][0]["content"]
    assert "Building permit" in prompt
    assert "Noise complaint" in prompt


def test_an_unknown_flow_from_the_model_is_an_incident_of_the_triage(
        api: MessagesApi) -> None:
    api.answer(tool_use({"flow": "to_mars", "reason": "space", "urgent": False,
                         "summary": "?"}))
    runner = _engine()
    iid = runner.start("llm-decision-triage", {"request": {"id": "R-8", "text": "?"}})
    runner.drain()
    created = next(r for r in reversed(runner.records) if r.intent == "JOB_CREATED")

    cmd = _through_the_runtime(api, created)
    runner.submit(Command(cmd.intent), iid, cmd.value)
    runner.drain()

    assert (cmd.intent, cmd.value["retries"]) == ("FAIL_JOB", 0)
    outcome = runner.outcome(iid)
    assert outcome.status == "INCIDENT"
    (incident,) = outcome.incidents
    assert incident.startswith("route: Expected the model to choose among the flows")
    assert "'to_mars' is not one of" in incident
