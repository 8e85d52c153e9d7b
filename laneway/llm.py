"""A model asked for a structured answer, through the official `anthropic` SDK.

Shared by what asks a model inside Laneway (the `ai-listener` trigger; the LLM connector reuses
it): a client made from a base URL, a key and a timeout (`make_client`), and one call that
offers the model a single tool and forces it to answer through that tool (`ask_for_tool`), so
the answer is a JSON object of a known shape instead of prose to be parsed. Failures become one
`LlmFailed` saying whether trying again later can help (a 429, a 529 overloaded, a timeout) or
not (a refused key, a bad request).

The answer is the far side's and untrusted: `ToolAnswer.input` is whatever object the model put
in its tool call (None when it called no tool or not with an object), and the caller checks
its shape. The key never appears in a message this module makes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import anthropic
from anthropic.types import ToolChoiceToolParam, ToolParam

__all__ = ["DEFAULT_TIMEOUT_S", "LlmConfig", "LlmFailed", "ToolAnswer", "ToolSpec", "Usage",
           "ask_for_tool", "make_client"]

DEFAULT_TIMEOUT_S = 60.0
MAX_TEXT = 2000
"""The most characters of the model's prose kept beside a tool answer (for logs and people)."""
# statuses after which the same request may succeed later: the server's own hiccups, too many
# requests, overloaded (529, the API's own code)
_RETRYABLE = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


class LlmFailed(Exception):
    """Asking the model failed. `retryable`: the same request may succeed later (429, 529,
    5xx, a timeout, no connection); not for a refused key (401, 403) or a request the API
    refuses (400, 404, 413, 422). `status` is the HTTP status when there was an answer."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True, slots=True)
class LlmConfig:
    """Where the model is and how long to wait for it (from a deployment's settings)."""

    api_key: str
    base_url: str | None = None
    """The Messages API's base URL (without `/v1`); None: the SDK's default."""
    timeout: float = DEFAULT_TIMEOUT_S
    max_retries: int = 0
    """The SDK's own retries of 408/409/429/5xx; 0 leaves retrying to the caller (a trigger's
    scheduler backs off, a job is retried by its policy)."""


def make_client(config: LlmConfig) -> anthropic.AsyncAnthropic:
    """An async client of `config`. Close it (`await client.close()`, or `async with`)."""
    if not config.api_key:
        raise LlmFailed("Expected an API key for the model, but it is empty", retryable=False)
    if not (math.isfinite(config.timeout) and config.timeout > 0):
        raise ValueError(f"Expected a positive timeout, but got {config.timeout!r}")
    return anthropic.AsyncAnthropic(api_key=config.api_key, base_url=config.base_url or None,
                                    timeout=config.timeout, max_retries=config.max_retries)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """The one tool the model must answer through."""

    name: str
    description: str
    input_schema: Mapping[str, Any]
    """A JSON Schema of `"type": "object"`: the shape the answer is asked to have (the model
    may still answer otherwise; check the answer)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """What a call cost, as the API counted it."""

    model: str
    input_tokens: int
    output_tokens: int

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "inputTokens": self.input_tokens,
                "outputTokens": self.output_tokens}


@dataclass(frozen=True, slots=True)
class ToolAnswer:
    """The model's answer to `ask_for_tool`."""

    input: dict[str, Any] | None
    """The object the model called the tool with; None when it called no tool (or the tool
    with something else than an object)."""
    usage: Usage
    stop_reason: str | None
    text: str
    """The model's prose beside the tool call, if any (at most `MAX_TEXT` characters)."""


async def ask_for_tool(client: anthropic.AsyncAnthropic, *, model: str, prompt: str,
                       tool: ToolSpec, system: str | None = None, max_tokens: int = 1024,
                       timeout: float | None = None) -> ToolAnswer:
    """Send `prompt` (and `system`) to `model` offering only `tool`, with tool_choice forcing
    the model to call it, and return the call's input. Raises `LlmFailed`."""
    tool_param = cast(ToolParam, {"name": tool.name, "description": tool.description,
                                  "input_schema": dict(tool.input_schema)})
    choice: ToolChoiceToolParam = {"type": "tool", "name": tool.name}
    extra: dict[str, Any] = {}
    if system:
        extra["system"] = system
    if timeout is not None:
        extra["timeout"] = timeout
    try:
        message = await client.messages.create(
            model=model, max_tokens=max_tokens, tools=[tool_param], tool_choice=choice,
            messages=[{"role": "user", "content": prompt}], **extra)
    except anthropic.APIStatusError as exc:
        raise _status_failure(exc) from None
    except anthropic.APITimeoutError:
        raise LlmFailed("The model did not answer in time", retryable=True) from None
    except anthropic.APIConnectionError as exc:
        raise LlmFailed(f"The model's API could not be reached: {type(exc.__cause__).__name__}"
                        if exc.__cause__ is not None else "The model's API could not be reached",
                        retryable=True) from None
    except anthropic.APIResponseValidationError:
        raise LlmFailed("The model's API answered something that is not a message",
                        retryable=True) from None
    return _answer(message, tool.name, model)


def _status_failure(exc: anthropic.APIStatusError) -> LlmFailed:
    status = exc.status_code
    kind = exc.type if isinstance(exc.type, str) else None
    what = f"The model's API answered {status}" + (f" ({kind[:60]})" if kind else "")
    if status in (401, 403):
        return LlmFailed(f"{what}: the API key is refused; set a valid one", retryable=False,
                         status=status)
    return LlmFailed(what, retryable=status in _RETRYABLE or status >= 500, status=status)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _answer(message: Any, tool_name: str, asked_model: str) -> ToolAnswer:
    # the SDK builds the message without validating it: every field is read defensively
    usage_raw = getattr(message, "usage", None)
    served = getattr(message, "model", None)
    usage = Usage(served[:200] if isinstance(served, str) and served else asked_model,
                  _int(getattr(usage_raw, "input_tokens", 0)),
                  _int(getattr(usage_raw, "output_tokens", 0)))
    found: dict[str, Any] | None = None
    texts: list[str] = []
    content = getattr(message, "content", None)
    for block in content if isinstance(content, list) else []:
        kind = getattr(block, "type", None)
        if kind == "text":
            text = getattr(block, "text", None)
            if isinstance(text, str):
                texts.append(text)
        elif (kind == "tool_use" and found is None and getattr(block, "name", None) == tool_name
              and isinstance(getattr(block, "input", None), dict)):
            found = dict(block.input)
    stop = getattr(message, "stop_reason", None)
    return ToolAnswer(found, usage, stop if isinstance(stop, str) else None,
                      "\n".join(texts)[:MAX_TEXT])
