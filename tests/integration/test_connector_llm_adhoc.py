"""The `llm` connector as an ad-hoc subprocess's decision handler (`laneway:decision="llm"` on
an `adHocSubProcess`), against a real HTTP server on 127.0.0.1 that speaks the Anthropic
Messages API (tests/anthropic_server.py): the model is offered one forced tool whose schema
allows only the subprocess's activity ids (at most one when Sequential), `done` and a reason;
the prompt lists the activities, what runs and the choices so far; an answer that does not
validate is sent back once, and a second one fails the job with no retries. The last tests run
a whole diagram: the engine's decision jobs, the connectors runtime with its idempotency guard
in the shared Redis (each choice is a new JOB_CREATED of the same job key), the connector, the
SDK and the server, and the audit's AD_HOC_DECIDED events carry the connector's agent
principal."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from laneway.bpmn import parse
from laneway.codec import JobRecord, decode_record
from laneway.connectors import (
    AdHocActivity,
    ConnectorContext,
    Decision,
    Job,
    JobFailed,
    Secrets,
)
from laneway.connectors.builtin.llm import LlmConnector
from laneway.connectors.builtin.llm_adhoc import ADHOC_TOOL
from laneway.engine import DefinitionRepository
from laneway.engine.runner import LocalRunner
from laneway.records import Command, Record
from scripts.stack import Connections
from scripts.stack.testing import unique_name
from services.connectors.execute import Runtime, execute
from services.connectors.idempotency import IdempotencyStore
from tests.anthropic_server import MessagesApi, messages_api, text, tool_use

INSTANCE = "5b0e2c1a-8d4f-4e3b-9a7c-0f1e2d3c4b5a"
KEY = "sk-ant-test-adhoc-4c1d"

ACTIVITIES = (
    AdHocActivity("gather", "Gather facts", "serviceTask", {"laneway:type": "lookup"},
                  "Read the case file and the client's history", runs=1),
    AdHocActivity("call", "Call the client", "userTask"),
    AdHocActivity("write", "Write it up", "serviceTask"),
)
PROMPT = {"laneway:prompt": "Handle case {{ case.id }}: {{ case.text }}",
          "laneway:system": "You run a claims desk.",
          "laneway:resultVariable": "plan"}


@pytest.fixture
def api() -> Iterator[MessagesApi]:
    with messages_api(KEY) as server:
        yield server


def _job(attrs: Mapping[str, str], ordering: str = "Sequential",
         running: tuple[str, ...] = ()) -> Job:
    return Job(instance_id=INSTANCE, key=12, element_id="work", element_name="Claim work",
               type="llm", attributes=dict(attrs), lane=None, persona=None,
               variables={"case": {"id": "C-3", "text": "A burst pipe flooded the kitchen"}},
               headers={}, retries=3, decision=True, adhoc=True, activities=ACTIVITIES,
               running=running, ordering=ordering, decisions=2, max_decisions=100,
               completion_condition="=report != null")


def _run(api: MessagesApi, job: Job) -> Decision:
    async def go() -> Any:
        async with httpx.AsyncClient() as http:
            ctx = ConnectorContext(secrets=Secrets({}, "/nonexistent"), http=http,
                                   log=logging.LoggerAdapter(logging.getLogger("test")),
                                   idempotency_key=f"{INSTANCE}:12", timeout=10.0,
                                   settings={"base_url": api.url, "api_key": KEY})
            return await LlmConnector().run(job, ctx)
    result = asyncio.run(go())
    assert isinstance(result, Decision)
    return result


def _failure(api: MessagesApi, job: Job) -> JobFailed:
    with pytest.raises(JobFailed) as caught:
        _run(api, job)
    return caught.value


def test_the_model_chooses_an_activity_through_a_tool_that_allows_only_their_ids(
        api: MessagesApi) -> None:
    api.answer(tool_use({"activities": ["call"], "done": False,
                         "reason": "The client must say what was damaged."}))

    decision = _run(api, _job(PROMPT))

    assert (list(decision.activities), decision.done, list(decision.flows)) == (
        ["call"], False, [])
    plan = decision.variables["plan"]
    assert (plan["activities"], plan["done"], plan["asks"]) == (["call"], False, 1)
    assert plan["reason"] == "The client must say what was damaged."
    assert plan["usage"]["outputTokens"] == 17
    (request,) = api.requests
    assert request.body["tool_choice"] == {"type": "tool", "name": ADHOC_TOOL}
    schema = request.body["tools"][0]["input_schema"]
    assert schema["properties"]["activities"]["items"]["enum"] == ["gather", "call", "write"]
    assert schema["properties"]["activities"]["maxItems"] == 1
    assert schema["properties"]["done"]["type"] == "boolean"
    assert schema["required"] == ["activities", "done", "reason"]
    assert request.body["system"] == "You run a claims desk."
    prompt = request.body["messages"][0]["content"]
    assert prompt.startswith("Handle case C-3: A burst pipe flooded the kitchen\n\n")
    assert "ad-hoc subprocess 'Claim work'" in prompt
    assert "It is sequential" in prompt
    assert ("- gather: 'Gather facts' (serviceTask), started 1 time so far. Read the case "
            "file and the client's history [laneway:type='lookup']") in prompt
    assert "- call: 'Call the client' (userTask), started 0 times so far" in prompt
    assert "Nothing runs now." in prompt
    assert "Choices made so far: 2 of at most 100." in prompt
    assert "completes by itself when =report != null" in prompt


def test_a_parallel_subprocess_lets_the_model_start_several_or_wait(api: MessagesApi) -> None:
    api.queue(tool_use({"activities": ["write", "gather"], "done": False, "reason": "both"}),
              tool_use({"activities": [], "done": False, "reason": "wait for the call"}))

    several = _run(api, _job(PROMPT, ordering="Parallel"))
    waiting = _run(api, _job(PROMPT, ordering="Parallel", running=("call",)))

    assert list(several.activities) == ["write", "gather"]
    assert (list(waiting.activities), waiting.done) == ([], False)
    schema = api.requests[0].body["tools"][0]["input_schema"]
    assert schema["properties"]["activities"]["maxItems"] == 3
    assert "Running now: call." in api.requests[1].body["messages"][0]["content"]


def test_an_invalid_answer_is_sent_back_once_with_what_was_wrong(api: MessagesApi) -> None:
    api.queue(tool_use({"activities": ["call", "write"], "done": False, "reason": "both"}),
              tool_use({"activities": [], "done": True, "reason": "nothing left to do"}))

    decision = _run(api, _job(PROMPT))

    assert (list(decision.activities), decision.done) == ([], True)
    assert api.count() == 2
    again = api.requests[1].body["messages"][0]["content"]
    assert "Your previous answer was refused: at answer.activities" in again
    assert "is too long" in again
    plan = decision.variables["plan"]
    assert plan["asks"] == 2
    assert plan["usage"]["outputTokens"] == 34  # both calls counted


@pytest.mark.parametrize(("answer", "said"), [
    (tool_use({"activities": ["mars"], "done": False, "reason": "space"}),
     "'mars' is not one of"),
    (tool_use({"activities": ["call", "write"], "done": False, "reason": "both"}),
     "is too long"),
    (tool_use({"activities": [], "done": False, "reason": "hm"}), "would wait for ever"),
    (tool_use({"activities": ["call"], "reason": "no done"}), "'done' is a required"),
    (text("I would call the client."), "called no tool"),
])
def test_a_second_invalid_answer_fails_the_job_without_retries(
        api: MessagesApi, answer: Any, said: str) -> None:
    api.answer(answer)

    failed = _failure(api, _job(PROMPT))

    assert failed.retryable is False
    assert said in failed.message
    assert "ad-hoc subprocess 'work' (gather, call, write)" in failed.message
    assert "the 2 calls used" in failed.message
    assert api.count() == 2


def test_an_output_schema_taking_the_choices_keys_is_refused_before_asking(
        api: MessagesApi) -> None:
    schema = json.dumps({"type": "object", "properties": {"done": {"type": "string"}}})

    failed = _failure(api, _job({**PROMPT, "laneway:outputSchema": schema}))

    assert "no property named done" in failed.message
    assert api.count() == 0


def test_an_output_schema_adds_what_the_model_classifies(api: MessagesApi) -> None:
    schema = json.dumps({"type": "object", "properties": {"severity": {"type": "integer"}},
                         "required": ["severity"]})
    api.answer(tool_use({"activities": ["gather"], "done": False, "reason": "first the file",
                         "severity": 3}))

    decision = _run(api, _job({**PROMPT, "laneway:outputSchema": schema,
                               "laneway:outputToVariables": "true"}))

    tool_schema = api.requests[0].body["tools"][0]["input_schema"]
    assert tool_schema["required"] == ["activities", "done", "reason", "severity"]
    assert decision.variables["severity"] == 3
    assert "activities" not in decision.variables
    assert decision.variables["plan"]["severity"] == 3


# --- a whole diagram through the connectors runtime ----------------------------------------

DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" id="d" targetNamespace="http://laneway.dev/test">
  <process id="llm-adhoc-claim" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <adHocSubProcess id="work" name="Claim work" ordering="Sequential"
        laneway:decision="llm" laneway:resultVariable="plan"
        laneway:prompt="Handle claim {{ claim.id }}: {{ claim.text }}">
      <serviceTask id="gather" name="Gather facts" laneway:type="lookup">
        <documentation>Read the case file</documentation>
      </serviceTask>
      <serviceTask id="write" name="Write it up" laneway:type="lookup"/>
      <serviceTask id="pay" name="Pay out" laneway:type="lookup"/>
    </adHocSubProcess>
    <sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>
"""


def _through_the_runtime(api: MessagesApi, redis_url: str, created: Record) -> Record:
    """The JOB_CREATED event as the connectors service runs it, with its idempotency guard in
    Redis: the command it produces."""
    emitted: list[bytes] = []

    async def emit(key: str, data: bytes) -> None:
        emitted.append(data)

    async def go() -> None:
        redis = Redis.from_url(redis_url)
        try:
            async with httpx.AsyncClient() as http:
                rt = Runtime(connector=LlmConnector(), secrets=Secrets({}, "/nonexistent"),
                             http=http, store=IdempotencyStore(redis, done_ttl_s=60),
                             emit=emit, slots=asyncio.Semaphore(4),
                             settings={"base_url": api.url, "api_key": KEY})
                await execute(JobRecord.from_event(created), rt)
        finally:
            await redis.aclose()

    asyncio.run(go())
    assert emitted
    return decode_record(emitted[-1])


def _drive(api: MessagesApi, redis_url: str, runner: LocalRunner, iid: str) -> list[Record]:
    """Answer the instance's jobs until none is left: `llm` ones through the runtime (as the
    connector's agent), the inner `lookup` tasks with a result. The commands the runtime
    produced, in order."""
    commands: list[Record] = []
    answered: set[str] = set()
    for _ in range(20):  # bounded: the diagram needs 3 choices and 2 tasks
        runner.drain()
        created = [r for r in runner.records if r.intent == "JOB_CREATED"
                   and r.record_id not in answered]
        if not created:
            break
        for rec in created:
            answered.add(rec.record_id)
            if rec.value["type"] == "llm":
                cmd = _through_the_runtime(api, redis_url, rec)
                commands.append(cmd)
                runner.submit(Command(cmd.intent), iid, cmd.value, principal=cmd.principal)
            else:
                runner.submit(Command.COMPLETE_JOB, iid, {
                    "jobKey": rec.value["key"], "variables": {rec.element_id: "done"}})
    return commands


def test_the_model_runs_a_claim_choice_by_choice_and_the_audit_names_its_agent(
        api: MessagesApi, stack: Connections) -> None:
    api.queue(
        tool_use({"activities": ["gather"], "done": False, "reason": "Facts first."}),
        tool_use({"activities": ["write"], "done": False, "reason": "Now the report."}),
        tool_use({"activities": [], "done": True, "reason": "No payout for a typo."}))
    repository = DefinitionRepository()
    repository.deploy(parse(DIAGRAM, "claim.bpmn"))
    runner = LocalRunner(repository)
    # a unique instance id: the runtime's idempotency keys live in the shared Redis
    iid = runner.start("llm-adhoc-claim", {"claim": {"id": "K-1", "text": "Typo in a form"}},
                       instance_id=unique_name("claim"))

    commands = _drive(api, stack.redis_url, runner, iid)

    # each choice is a new JOB_CREATED of the same job key: the idempotency guard runs each
    assert [c.intent for c in commands] == ["SUBMIT_DECISION"] * 3
    assert [(c.value["activities"], c.value["done"]) for c in commands] == [
        (["gather"], False), (["write"], False), ([], True)]
    outcome = runner.outcome(iid)
    assert outcome.status == "COMPLETED"
    assert outcome.variables["plan"]["reason"] == "No payout for a typo."
    assert (outcome.variables["gather"], outcome.variables["write"]) == ("done", "done")
    assert "pay" not in outcome.variables
    decided = [r for r in runner.records if r.intent == "AD_HOC_DECIDED"]
    assert [(r.value["activities"], r.value["done"], r.value["decidedBy"])
            for r in decided] == [
        (["gather"], False, "handler"), (["write"], False, "handler"), ([], True, "handler")]
    assert {(r.principal.kind, r.principal.id) for r in decided if r.principal} == {
        ("agent", "connector:llm")}
    assert all(r.principal is not None for r in decided)
    second = api.requests[1].body["messages"][0]["content"]
    assert "- gather: 'Gather facts' (serviceTask), started 1 time so far" in second
    assert "Choices made so far: 1 of at most 100." in second


def test_a_model_that_keeps_answering_wrong_is_an_incident_of_the_subprocess(
        api: MessagesApi, stack: Connections) -> None:
    api.answer(tool_use({"activities": ["gather", "write"], "done": False, "reason": "all"}))
    repository = DefinitionRepository()
    repository.deploy(parse(DIAGRAM, "claim.bpmn"))
    runner = LocalRunner(repository)
    iid = runner.start("llm-adhoc-claim", {"claim": {"id": "K-2", "text": "?"}},
                       instance_id=unique_name("claim"))

    (cmd,) = _drive(api, stack.redis_url, runner, iid)

    assert (cmd.intent, cmd.value["retries"]) == ("FAIL_JOB", 0)
    assert api.count() == 2
    outcome = runner.outcome(iid)
    assert outcome.status == "INCIDENT"
    (incident,) = outcome.incidents
    assert incident.startswith("work: Expected the model to choose among the activities")
    assert "is too long" in incident
    assert [r for r in runner.records if r.intent == "AD_HOC_DECIDED"] == []
