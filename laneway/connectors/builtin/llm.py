"""The `llm` connector: one request to the Anthropic Messages API per job, through the official
`anthropic` SDK (`laneway.llm`, shared with the `ai-listener` trigger).

The prompt (`laneway:prompt`) and system prompt (`laneway:system`) are templates filled from the
variables; `laneway:model`, `laneway:maxTokens` and `laneway:temperature` tune the call. Without
`laneway:outputSchema` the model answers in text and the result variable (default `llm`) gets
`{text, stopReason, usage}`. With it (a JSON Schema of an object) the answer is requested
through one forced tool whose `input_schema` is that schema, validated with `jsonschema`, and
its fields become the result variable (and, with `laneway:outputToVariables="true"`, top-level
variables too); an answer that does not validate is the BPMN error `LLM_INVALID_OUTPUT`.

Every result (and the BPMN error's variables) carries `usage: {inputTokens, outputTokens, model,
stopReason}`, so the job's completion in the audit log says what the call cost.

The key and the base URL are the deployment's, never the diagram's:
`LANEWAY_CONNECTOR_LLM_API_KEY` (else the secret `anthropic_api_key`),
`LANEWAY_CONNECTOR_LLM_BASE_URL`, and `LANEWAY_CONNECTOR_LLM_MODEL` the default model.
A 429, 529 (overloaded), 5xx, timeout or lost connection is a retryable failure; a refused key
(401, 403) or a refused request (400 and the like, with the API's message) is not.

As a gateway's decision handler (`laneway:decision="llm"` on an exclusive or inclusive
gateway) the job is a decision (`job.decision`): the prompt is followed by the gateway's flows
(id, name, target, condition) and the model must answer through the forced tool `choose_flow`
whose input schema allows only those ids (`flow`, one of them, at an exclusive gateway; `flows`,
a non-empty array of them, at an inclusive one) and a short `reason`; a `laneway:outputSchema`
adds its properties to that tool (what the model classifies beside the route). The answer is a
`Decision`: the flows to take and the result variable `{flow(s), reason, <classified fields>,
usage}`. An answer that names no known flow or does not validate is a failure with no retries:
a gateway catches no BPMN error, so it is an incident, and its message says what the call cost.

As an ad-hoc subprocess's decision handler (`laneway:decision="llm"` on an `adHocSubProcess`,
`job.adhoc`) the prompt is followed by the activities that can be started (id, name, kind, how
often each ran, documentation, attributes), what runs and the choices so far (llm_adhoc.py),
and the model answers through the forced tool `choose_activities`: `activities` (only those
ids; at most one when Sequential), `done` and a `reason`. The answer is a `Decision` with the
activities and `done`, and the result variable `{activities, done, reason, <classified
fields>, usage, asks}`. An answer that does not validate (or would leave the subprocess
waiting for ever) is sent back once with what was wrong; a second one fails the job with no
retries, an incident that says why and what the calls cost.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, overload

import jsonschema
from jsonschema.exceptions import SchemaError

from laneway.attributes import POLICY, Attribute
from laneway.connectors._api import (
    BpmnError,
    Connector,
    ConnectorContext,
    Decision,
    Job,
    JobFailed,
)
from laneway.connectors._templates import TemplateError, render
from laneway.connectors.builtin.llm_adhoc import (
    ADHOC_KEYS,
    ADHOC_TOOL,
    MAX_ASKS,
    adhoc_listing,
    adhoc_schema,
    choice_problem,
)
from laneway.jsonb import unstorable
from laneway.llm import (
    DEFAULT_MODEL,
    KEY_SECRET,
    ClientCache,
    LlmConfig,
    LlmFailed,
    TextAnswer,
    ToolAnswer,
    ToolSpec,
    Usage,
    api_key,
    ask_for_tool,
    ask_text,
)
from laneway.triggers._settings import whole_number

DEFAULT_RESULT_VARIABLE = "llm"
DEFAULT_MAX_TOKENS = 1024
MAX_MAX_TOKENS = 64_000
MAX_PROMPT_CHARS = 100_000
"""The most characters of the prompt after its template is filled; a longer one is refused
before anything is sent (what variables hold can be large)."""
MAX_SYSTEM_CHARS = 100_000
MAX_SCHEMA_CHARS = 64 * 1024
INVALID_OUTPUT = "LLM_INVALID_OUTPUT"
"""The BPMN error code of a structured answer that does not match `laneway:outputSchema`."""
ANSWER_TOOL = "answer"
DECIDE_TOOL = "choose_flow"
"""The tool a decision job's model answers through."""
MAX_FLOWS = 100
"""The most outgoing flows a gateway the model decides may have (each is listed in the
prompt)."""
MAX_REASON_CHARS = 1000
"""The most characters of the model's `reason` kept in the result variable."""
_FLOW_TEXT = 300
_DECISION_KEYS = ("flow", "flows", "reason", "usage")
_SHOWN = 500
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}")
_DECIMAL = re.compile(r"[0-9]{1,3}(\.[0-9]{1,6})?")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_BOOLEANS = ("true", "false")


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[:_SHOWN - 1] + "…"


def _refuse(message: str) -> JobFailed:
    return JobFailed(message, retryable=False)


def _model(attrs: Mapping[str, str], settings: Mapping[str, str]) -> str:
    model = (attrs.get("laneway:model", "").strip() or settings.get("model", "").strip()
             or DEFAULT_MODEL)
    if not _MODEL.fullmatch(model):
        raise _refuse(f"Expected laneway:model to be a model name such as {DEFAULT_MODEL!r}, "
                      f"but it is {_shown(model)[:60]!r}")
    return model


def _max_tokens(attrs: Mapping[str, str]) -> int:
    given = {"maxTokens": attrs["laneway:maxTokens"]} if "laneway:maxTokens" in attrs else {}
    try:
        return whole_number(given, "maxTokens", DEFAULT_MAX_TOKENS, 1, MAX_MAX_TOKENS)
    except ValueError as exc:
        raise _refuse(str(exc)) from None


def _temperature(attrs: Mapping[str, str]) -> float | None:
    raw = attrs.get("laneway:temperature")
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    value = float(text) if _DECIMAL.fullmatch(text) else math.nan
    if not 0.0 <= value <= 1.0:
        raise _refuse(f"Expected laneway:temperature to be a number from 0 to 1, but got "
                      f"{raw[:20]!r}")
    return value


def _flag(attrs: Mapping[str, str], name: str) -> bool:
    raw = attrs.get(f"laneway:{name}", "false").strip().lower() or "false"
    if raw not in _BOOLEANS:
        raise _refuse(f"Expected laneway:{name} to be true or false, but got {raw[:20]!r}")
    return raw == "true"


def _result_variable(attrs: Mapping[str, str]) -> str:
    name = attrs.get("laneway:resultVariable", "").strip() or DEFAULT_RESULT_VARIABLE
    if not _VARIABLE.fullmatch(name):
        raise _refuse(f"Expected laneway:resultVariable to be a variable name, but it is "
                      f"{name[:60]!r}")
    return name


def output_schema(attrs: Mapping[str, str]) -> tuple[dict[str, Any], Any] | None:
    """`laneway:outputSchema` parsed and checked: (the schema, its validator), or None."""
    raw = attrs.get("laneway:outputSchema", "").strip()
    if not raw:
        return None
    if len(raw) > MAX_SCHEMA_CHARS:
        raise _refuse(f"Expected laneway:outputSchema to be at most {MAX_SCHEMA_CHARS:,} "
                      f"characters, but it is {len(raw):,}")
    try:
        schema = json.loads(raw)
    except (ValueError, RecursionError):
        raise _refuse("Expected laneway:outputSchema to be a JSON Schema written as JSON, but "
                      "it does not parse") from None
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise _refuse('Expected laneway:outputSchema to be the JSON Schema of an object '
                      '({"type": "object", "properties": {...}}): the model answers through a '
                      'tool, whose input is an object')
    properties = schema.get("properties")
    if isinstance(properties, dict) and "usage" in properties:
        raise _refuse("Expected laneway:outputSchema to declare no property named usage: the "
                      "result variable's usage holds the call's token counts")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise _refuse(f"Expected laneway:outputSchema to be a valid JSON Schema, but "
                      f"{_shown(exc.message)}") from None
    return schema, cls(schema)


def _violation(validator: Any, answer: Any) -> str | None:
    """Why `answer` does not match the schema (the most relevant error, with its place), or
    None when it does."""
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(answer))
    except Exception as exc:  # an unresolvable $ref and the like: the schema's fault
        raise _refuse(f"Expected laneway:outputSchema to be usable, but validating with it "
                      f"failed: {type(exc).__name__}") from None
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"at answer{where}: {_shown(error.message)}"


def _usage(usage: Usage, stop_reason: str | None) -> dict[str, Any]:
    return {**usage.as_dict(), "stopReason": stop_reason}


@dataclass(frozen=True, slots=True)
class _Asking:
    """How the element asks the model, read (and checked) from its attributes."""

    model: str
    max_tokens: int
    temperature: float | None
    result_variable: str
    to_variables: bool

    @classmethod
    def of(cls, attrs: Mapping[str, str], settings: Mapping[str, str]) -> _Asking:
        return cls(_model(attrs, settings), _max_tokens(attrs), _temperature(attrs),
                   _result_variable(attrs), _flag(attrs, "outputToVariables"))


def _tool_problem(answer: ToolAnswer, validator: Any) -> str | None:
    """What is wrong with a forced tool's answer, or None: no call, a schema violation, or a
    value the store cannot hold."""
    if answer.input is None:
        return (f"the model called no tool (stop reason {answer.stop_reason}), so there is "
                f"no structured answer")
    return _violation(validator, answer.input) or unstorable(answer.input)


class LlmConnector(Connector):
    """Asks a model through the Messages API; see the module docstring and
    docs/connectors.md."""

    type = "llm"

    attributes = (
        Attribute("prompt", "Prompt", "Template: what the model is asked", kind="template",
                  multiline=True, required=True),
        Attribute("system", "System prompt", "Template", kind="template", multiline=True),
        Attribute("model", "Model", "Default the setting LANEWAY_CONNECTOR_LLM_MODEL, else "
                  f"{DEFAULT_MODEL}"),
        Attribute("maxTokens", "Max tokens", "Whole number from 1 to 64000; default 1024",
                  kind="number", low=1, high=64_000),
        Attribute("temperature", "Temperature", "A number from 0 to 1; default the model's",
                  kind="number", low=0, high=1, fraction=True),
        Attribute("outputSchema", "Output schema", "A JSON Schema of an object: the answer is "
                  "asked for in that shape and validated", kind="json"),
        Attribute("outputToVariables", "Fields to variables", "A structured answer's fields "
                  "also become variables", kind="boolean", default="false", group="result"),
        Attribute("resultVariable", "Result variable", "Default llm", group="result"),
        *POLICY,
    )

    def __init__(self) -> None:
        # one SDK client per key and base URL for the process, shared by concurrent jobs
        self._clients = ClientCache()

    async def close(self) -> None:
        """Close the model clients."""
        await self._clients.close()

    async def run(self, job: Job, ctx: ConnectorContext) -> Mapping[str, Any] | Decision:
        """Ask the model what the attributes say and return its answer and the usage (for a
        gateway's decision job: the flows it chose, see `decide`)."""
        if job.decision:
            return await self.decide(job, ctx)
        asking = _Asking.of(job.attributes, ctx.settings)
        schema = output_schema(job.attributes)
        prompt, system = self._texts(job.attributes, job.variables)
        result_variable = asking.result_variable
        if schema is None:
            text = await self._ask(ctx, asking, prompt, system, None)
            usage = _usage(text.usage, text.stop_reason)
            ctx.log.info("the model answered %d characters (%s tokens in, %s out)",
                         len(text.text), usage["inputTokens"], usage["outputTokens"])
            return {result_variable: {"text": text.text,
                                      "stopReason": text.stop_reason, "usage": usage}}
        tool = ToolSpec(ANSWER_TOOL, "Give your answer in exactly this shape.", schema[0])
        answer = await self._ask(ctx, asking, prompt, system, tool)
        usage = _usage(answer.usage, answer.stop_reason)
        ctx.log.info("the model answered through the tool (%s tokens in, %s out)",
                     usage["inputTokens"], usage["outputTokens"])
        problem = _tool_problem(answer, schema[1])
        if problem is not None:
            message = ctx.redact(f"Expected the model's answer to match laneway:outputSchema, "
                                 f"but {problem}")
            raise BpmnError(INVALID_OUTPUT, message,
                            {result_variable: {"error": message, "usage": usage}})
        fields = dict(answer.input or {})
        result: dict[str, Any] = dict(fields) if asking.to_variables else {}
        result[result_variable] = {**fields, "usage": usage}
        return result

    async def decide(self, job: Job, ctx: ConnectorContext) -> Decision:
        """A gateway's decision: the model picks its flows through the forced tool
        `choose_flow`, which allows only the gateway's flow ids (an ad-hoc subprocess's:
        `choose_activities`)."""
        if job.adhoc:
            return await self.choose_activities(job, ctx)
        asking = _Asking.of(job.attributes, ctx.settings)
        tool_schema, key_name = _decision_schema(job, output_schema(job.attributes))
        validator = jsonschema.Draft202012Validator(tool_schema)
        asked, system = self._texts(job.attributes, job.variables)
        prompt = asked + "\n\n" + _flow_listing(job, key_name)
        tool = ToolSpec(DECIDE_TOOL, "Choose the flow the process takes next, and say why in "
                        "one sentence.", tool_schema)
        answer = await self._ask(ctx, asking, prompt, system, tool)
        usage = _usage(answer.usage, answer.stop_reason)
        cost = (f"(the call used {usage['inputTokens']} input and {usage['outputTokens']} "
                f"output tokens of {usage['model']})")
        problem = _tool_problem(answer, validator)
        if problem is not None:
            ids = ", ".join(f.id for f in job.flows)
            # no retries: a gateway catches no BPMN error, and asking again costs again; the
            # incident says what went wrong and what it cost, resolving it asks once more
            raise _refuse(ctx.redact(
                f"Expected the model to choose among the flows of gateway '{job.element_id}' "
                f"({_shown(ids)}), but {problem} {cost}"))
        fields = dict(answer.input or {})
        chosen = fields[key_name]
        flows = list(dict.fromkeys(chosen)) if isinstance(chosen, list) else [chosen]
        reason = fields.get("reason")
        if isinstance(reason, str):
            fields["reason"] = reason[:MAX_REASON_CHARS]
        ctx.log.info("the model chose %s %s", ", ".join(flows), cost)
        classified = {k: v for k, v in fields.items() if k not in _DECISION_KEYS}
        variables: dict[str, Any] = dict(classified) if asking.to_variables else {}
        variables[asking.result_variable] = {**fields, "usage": usage}
        return Decision(flows, variables)

    async def choose_activities(self, job: Job, ctx: ConnectorContext) -> Decision:
        """An ad-hoc subprocess's choice: the model names the activities to start now and
        whether it is done through the forced tool `choose_activities`; an invalid answer is
        sent back once (`MAX_ASKS`), then the job fails with the reason."""
        asking = _Asking.of(job.attributes, ctx.settings)
        extra = output_schema(job.attributes)
        tool_schema = adhoc_schema(job, extra[0] if extra else None)
        validator = jsonschema.Draft202012Validator(tool_schema)
        asked, system = self._texts(job.attributes, job.variables)
        prompt = asked + "\n\n" + adhoc_listing(job)
        tool = ToolSpec(ADHOC_TOOL, "Choose the activities to start now (or none), whether "
                        "you are done, and say why in one sentence.", tool_schema)
        spent: list[dict[str, Any]] = []
        problem = ""
        for ask in range(1, MAX_ASKS + 1):
            text = prompt if ask == 1 else (
                f"{prompt}\n\nYour previous answer was refused: {problem}. Answer again "
                f"with the {ADHOC_TOOL} tool.")
            answer = await self._ask(ctx, asking, text, system, tool)
            spent.append(_usage(answer.usage, answer.stop_reason))
            found = _tool_problem(answer, validator)
            if found is None:
                found = choice_problem(job, dict(answer.input or {}))
            if found is None:
                break
            problem = found
            ctx.log.warning("the model's choice %d of %d was refused: %s", ask, MAX_ASKS,
                            ctx.redact(found))
        usage = {**spent[-1], "inputTokens": sum(u["inputTokens"] for u in spent),
                 "outputTokens": sum(u["outputTokens"] for u in spent)}
        cost = (f"(the {len(spent)} call{'s' if len(spent) > 1 else ''} used "
                f"{usage['inputTokens']} input and {usage['outputTokens']} output tokens of "
                f"{usage['model']})")
        if found is not None:
            ids = ", ".join(a.id for a in job.activities)
            # asked twice already: an incident says what went wrong and what it cost;
            # resolving it creates the decision job again and asks once more
            raise _refuse(ctx.redact(
                f"Expected the model to choose among the activities of ad-hoc subprocess "
                f"'{job.element_id}' ({_shown(ids)}), but {found} {cost}"))
        fields = dict(answer.input or {})
        reason = fields.get("reason")
        if isinstance(reason, str):
            fields["reason"] = reason[:MAX_REASON_CHARS]
        activities = [str(a) for a in fields["activities"]]
        done = fields["done"] is True
        ctx.log.info("the model chose %s%s %s", ", ".join(activities) or "nothing",
                     " and is done" if done else "", cost)
        classified = {k: v for k, v in fields.items() if k not in ADHOC_KEYS}
        variables: dict[str, Any] = dict(classified) if asking.to_variables else {}
        variables[asking.result_variable] = {**fields, "usage": usage, "asks": len(spent)}
        return Decision(activities=activities, done=done, variables=variables)

    @overload
    async def _ask(self, ctx: ConnectorContext, asking: _Asking, prompt: str,
                   system: str | None, tool: None) -> TextAnswer: ...

    @overload
    async def _ask(self, ctx: ConnectorContext, asking: _Asking, prompt: str,
                   system: str | None, tool: ToolSpec) -> ToolAnswer: ...

    async def _ask(self, ctx: ConnectorContext, asking: _Asking, prompt: str,
                   system: str | None, tool: ToolSpec | None) -> TextAnswer | ToolAnswer:
        """One call to the model: a text answer, or an answer forced through `tool`. The
        API's failure becomes the job's, redacted, retryable as the API says."""
        key = self._api_key(ctx)
        base_url = ctx.settings.get("base_url", "").strip() or None
        try:
            config = LlmConfig(key, base_url, timeout=ctx.timeout)
            async with self._clients.lease(config) as client:
                if tool is None:
                    return await ask_text(client, model=asking.model, prompt=prompt,
                                          system=system, max_tokens=asking.max_tokens,
                                          temperature=asking.temperature)
                return await ask_for_tool(client, model=asking.model, prompt=prompt,
                                          tool=tool, system=system,
                                          max_tokens=asking.max_tokens,
                                          temperature=asking.temperature)
        except LlmFailed as exc:
            raise JobFailed(ctx.redact(exc.message), retryable=exc.retryable) from None

    @staticmethod
    def _texts(attrs: Mapping[str, str], variables: Mapping[str, Any]) -> tuple[str,
                                                                                 str | None]:
        template = attrs.get("laneway:prompt", "")
        if not template.strip():
            raise _refuse("Expected laneway:prompt, what the model is asked (a template "
                          "filled from the variables), but the element has none")
        try:
            prompt = render(template, variables)
            system = render(attrs.get("laneway:system", ""), variables).strip() or None
        except TemplateError as exc:
            raise _refuse(str(exc)) from None
        if not prompt.strip():
            raise _refuse("Expected laneway:prompt to say something once filled, but it is "
                          "empty")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise _refuse(f"Expected the prompt to be at most {MAX_PROMPT_CHARS:,} characters "
                          f"once filled from the variables, but it is {len(prompt):,}; "
                          f"nothing was sent")
        if system is not None and len(system) > MAX_SYSTEM_CHARS:
            raise _refuse(f"Expected laneway:system to be at most {MAX_SYSTEM_CHARS:,} "
                          f"characters once filled, but it is {len(system):,}; nothing was "
                          f"sent")
        return prompt, system

    @staticmethod
    def _api_key(ctx: ConnectorContext) -> str:
        key = api_key(ctx.settings, ctx.secrets)
        if key is None:
            raise _refuse("Expected the model's API key in LANEWAY_CONNECTOR_LLM_API_KEY or "
                          f"the secret {KEY_SECRET}, but neither is set")
        return key


def _decision_schema(job: Job, extra: tuple[dict[str, Any], Any] | None
                     ) -> tuple[dict[str, Any], str]:
    """The `choose_flow` tool's input schema (the flow ids as an enum, a reason, and the
    properties of `laneway:outputSchema` if given) and the key the choice is under."""
    ids = [f.id for f in job.flows]
    if not ids:
        raise _refuse(f"Expected gateway '{job.element_id}' to have flows to choose from, but "
                      f"the decision job lists none")
    if len(ids) > MAX_FLOWS:
        raise _refuse(f"Expected at most {MAX_FLOWS} flows for the model to choose from, but "
                      f"gateway '{job.element_id}' has {len(ids)}")
    if job.takes_many:
        key = "flows"
        choice: dict[str, Any] = {
            "type": "array", "items": {"type": "string", "enum": ids}, "minItems": 1,
            "uniqueItems": True,
            "description": "The ids of every flow to take (at least one)."}
    else:
        key = "flow"
        choice = {"type": "string", "enum": ids, "description": "The id of the flow to take."}
    reason = {"type": "string", "description": "Why, in one short sentence."}
    if extra is None:
        return ({"type": "object", "properties": {key: choice, "reason": reason},
                 "required": [key, "reason"]}, key)
    schema = dict(extra[0])
    properties = schema.get("properties")
    properties = dict(properties) if isinstance(properties, dict) else {}
    taken = [k for k in _DECISION_KEYS if k in properties]
    if taken:
        raise _refuse(f"Expected laneway:outputSchema on a gateway to declare no property "
                      f"named {', '.join(taken)}: the decision's tool uses them")
    required = schema.get("required")
    required = [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
    schema["properties"] = {key: choice, "reason": reason, **properties}
    schema["required"] = list(dict.fromkeys([key, "reason", *required]))
    return schema, key


def _flow_listing(job: Job, key: str) -> str:
    """The gateway's flows as the prompt lists them: id, name, target, condition."""
    where = job.element_name or job.element_id
    how = ("one or more of these flows" if job.takes_many else "exactly one of these flows")
    lines = [f"The process has reached the decision {_shown(where)[:_FLOW_TEXT]!r}. Choose "
             f"{how} by its id:"]
    for f in job.flows:
        text = f"- {f.id}"
        if f.name:
            text += f": {_shown(f.name)[:_FLOW_TEXT]!r}"
        if f.target_name or f.target:
            text += f", leads to {_shown(f.target_name or f.target)[:_FLOW_TEXT]!r}"
        if f.condition:
            text += f", when {_shown(f.condition)[:_FLOW_TEXT]}"
        if f.default:
            text += " (the default when no other fits)"
        lines.append(text)
    lines.append(f"Answer with the {DECIDE_TOOL} tool: {key} and a short reason.")
    return "\n".join(lines)
