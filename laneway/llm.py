"""A model asked for a structured answer, through the official `anthropic` SDK.

Shared by what asks a model inside Laneway (the `ai-listener` trigger; the LLM connector reuses
it): a client made from a base URL, a key and a timeout (`make_client`), a bounded cache of
such clients a long-lived process keeps (`ClientCache`: making one costs tens of milliseconds
of CPU, more than the call), and one call that
offers the model a single tool and forces it to answer through that tool (`ask_for_tool`), so
the answer is a JSON object of a known shape instead of prose to be parsed. Failures become one
`LlmFailed` saying whether trying again later can help (a 429, a 529 overloaded, a timeout) or
not (a refused key, a bad request).

The answer is the far side's and untrusted: `ToolAnswer.input` is whatever object the model put
in its tool call (None when it called no tool or not with an object), and the caller checks
its shape. The key never appears in a message this module makes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import anthropic
from anthropic.types import ToolChoiceToolParam, ToolParam

from laneway.connectors._api import JobFailed
from laneway.connectors._secrets import Secrets

__all__ = [
    "DEFAULT_MAX_CLIENTS",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT_S",
    "KEY_SECRET",
    "ClientCache",
    "LlmConfig",
    "LlmFailed",
    "TextAnswer",
    "ToolAnswer",
    "ToolSpec",
    "Usage",
    "api_key",
    "ask_for_tool",
    "ask_text",
    "make_client",
]

DEFAULT_MODEL = "claude-sonnet-4-5"
"""The model asked when neither the diagram nor the deployment names one."""
DEFAULT_TIMEOUT_S = 60.0
MAX_TEXT = 2000
"""The most characters of the model's prose kept beside a tool answer (for logs and people)."""
MAX_ANSWER_TEXT = 400_000
"""The most characters of a text answer (`ask_text`) kept; `max_tokens` bounds it first."""
_API_MESSAGE = 300
"""The most characters of the API's own error message quoted in a refusal."""
DEFAULT_MAX_CLIENTS = 8
"""The most clients a `ClientCache` keeps open (distinct keys, base URLs, retries)."""
_log = logging.getLogger(__name__)
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


def _check(config: LlmConfig) -> None:
    if not config.api_key:
        raise LlmFailed("Expected an API key for the model, but it is empty", retryable=False)
    if not (math.isfinite(config.timeout) and config.timeout > 0):
        raise ValueError(f"Expected a positive timeout, but got {config.timeout!r}")


def make_client(config: LlmConfig) -> anthropic.AsyncAnthropic:
    """An async client of `config`. Close it (`await client.close()`, or `async with`).
    A process that asks more than once keeps its clients in a `ClientCache` instead."""
    _check(config)
    return anthropic.AsyncAnthropic(api_key=config.api_key, base_url=config.base_url or None,
                                    timeout=config.timeout, max_retries=config.max_retries)


@dataclass(eq=False, slots=True)
class _Entry:
    client: anthropic.AsyncAnthropic
    users: int = 0
    evicted: bool = False


@dataclass(eq=False)
class ClientCache:
    """One client per API key, base URL and SDK retries for a long-lived process: jobs that
    ask with the same key share its connection pool, instead of paying for a new client
    (its HTTP client and TLS context: tens of milliseconds of CPU) each time.

    `lease(config)` yields the cached client with `config.timeout` as its timeout (the SDK's
    `with_options`: a copy sharing the connection pool, so each lease keeps its own timeout
    without a client per timeout). A key rotation brings a different key, hence a new client.
    At most `max_clients` are kept: the least recently leased is evicted and closed as soon as
    no lease uses it any more; `close()` closes them all (a connector's or trigger's `close`).
    For one event loop at a time (asyncio, no locks needed: nothing awaits between looking a
    client up and keeping it); a lease from another loop (a test's second `asyncio.run`)
    drops the clients of the old one, whose connections died with it.

    The cache is keyed by a salted digest of the key, never the key, and its repr shows only
    how many clients it holds."""

    max_clients: int = DEFAULT_MAX_CLIENTS
    _clients: OrderedDict[tuple[bytes, str | None, int], _Entry] = field(
        default_factory=OrderedDict, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _closing: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _salt: bytes = field(default_factory=lambda: os.urandom(16), repr=False)

    def __post_init__(self) -> None:
        if self.max_clients < 1:
            raise ValueError(f"Expected max_clients to be at least 1, but got "
                             f"{self.max_clients!r}")

    def __repr__(self) -> str:
        return f"ClientCache({len(self._clients)} of at most {self.max_clients} clients)"

    @property
    def size(self) -> int:
        """How many clients it holds."""
        return len(self._clients)

    def _slot(self, config: LlmConfig) -> tuple[bytes, str | None, int]:
        digest = hashlib.blake2b(config.api_key.encode(), key=self._salt,
                                 digest_size=16).digest()
        return digest, config.base_url or None, config.max_retries

    @asynccontextmanager
    async def lease(self, config: LlmConfig) -> AsyncIterator[anthropic.AsyncAnthropic]:
        """The client for `config`, made on first use; do not close what it yields."""
        _check(config)
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._clients:
                _log.debug("a new event loop: dropping %d model clients of the old one",
                           len(self._clients))
            self._clients.clear()
            self._closing.clear()
            self._loop = loop
        slot = self._slot(config)
        entry = self._clients.get(slot)
        if entry is None:
            entry = _Entry(make_client(config))
            self._clients[slot] = entry
        else:
            self._clients.move_to_end(slot)
        entry.users += 1
        while len(self._clients) > self.max_clients:
            _, oldest = self._clients.popitem(last=False)
            oldest.evicted = True
            if oldest.users == 0:
                self._close_later(oldest)
        try:
            yield entry.client.with_options(timeout=config.timeout)
        finally:
            entry.users -= 1
            if entry.evicted and entry.users == 0:
                self._close_later(entry)

    def _close_later(self, entry: _Entry) -> None:
        # in the background: a lease ending by cancellation must not wait on it
        task = asyncio.get_running_loop().create_task(entry.client.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close every client; one still leased is closed when its lease ends."""
        entries = list(self._clients.values())
        self._clients.clear()
        if self._loop is not asyncio.get_running_loop():
            self._closing.clear()  # the loop they were made in is gone, their connections too
            return
        for entry in entries:
            entry.evicted = True
            if entry.users == 0:
                self._close_later(entry)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


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
                       timeout: float | None = None,
                       temperature: float | None = None) -> ToolAnswer:
    """Send `prompt` (and `system`) to `model` offering only `tool`, with tool_choice forcing
    the model to call it, and return the call's input. Raises `LlmFailed`."""
    tool_param = cast(ToolParam, {"name": tool.name, "description": tool.description,
                                  "input_schema": dict(tool.input_schema)})
    choice: ToolChoiceToolParam = {"type": "tool", "name": tool.name}
    message = await _create(client, model=model, prompt=prompt, system=system,
                            max_tokens=max_tokens, timeout=timeout, temperature=temperature,
                            tools=[tool_param], tool_choice=choice)
    return _answer(message, tool.name, model)


@dataclass(frozen=True, slots=True)
class TextAnswer:
    """The model's answer to `ask_text`."""

    text: str
    """The text blocks of the answer, joined by line breaks (at most `MAX_ANSWER_TEXT`
    characters)."""
    usage: Usage
    stop_reason: str | None
    """`end_turn`, `max_tokens` (the answer was cut), `refusal`, ...; None if the API gave
    none."""


async def ask_text(client: anthropic.AsyncAnthropic, *, model: str, prompt: str,
                   system: str | None = None, max_tokens: int = 1024,
                   timeout: float | None = None,
                   temperature: float | None = None) -> TextAnswer:
    """Send `prompt` (and `system`) to `model`, offering no tool, and return its text.
    Raises `LlmFailed`."""
    message = await _create(client, model=model, prompt=prompt, system=system,
                            max_tokens=max_tokens, timeout=timeout, temperature=temperature)
    answer = _answer(message, "", model, max_text=MAX_ANSWER_TEXT)
    return TextAnswer(answer.text, answer.usage, answer.stop_reason)


async def _create(client: anthropic.AsyncAnthropic, *, model: str, prompt: str,
                  system: str | None, max_tokens: int, timeout: float | None,
                  temperature: float | None, **more: Any) -> Any:
    extra: dict[str, Any] = dict(more)
    if system:
        extra["system"] = system
    if timeout is not None:
        extra["timeout"] = timeout
    if temperature is not None:
        # the pinned SDK has no `temperature` parameter any more: sent as a body field, and a
        # model that does not take it refuses the request (a 400 quoting the API)
        extra["extra_body"] = {"temperature": temperature}
    try:
        return await client.messages.create(
            model=model, max_tokens=max_tokens,
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


def _status_failure(exc: anthropic.APIStatusError) -> LlmFailed:
    status = exc.status_code
    kind = exc.type if isinstance(exc.type, str) else None
    what = f"The model's API answered {status}" + (f" ({kind[:60]})" if kind else "")
    if status in (401, 403):
        return LlmFailed(f"{what}: the API key is refused; set a valid one", retryable=False,
                         status=status)
    retryable = status in _RETRYABLE or status >= 500
    said = None if retryable else _api_message(exc.body)
    return LlmFailed(f"{what}: {said}" if said else what, retryable=retryable, status=status)


def _api_message(body: object) -> str | None:
    """The API's own explanation of a refused request (`error.message`), on one line and
    short: it says what to change (`max_tokens: ...`). Never the key: the API does not echo
    it, and callers redact what they pass on."""
    error = body.get("error") if isinstance(body, dict) else None
    said = error.get("message") if isinstance(error, dict) else None
    if not isinstance(said, str) or not said.strip():
        return None
    said = " ".join(said.split())
    return said if len(said) <= _API_MESSAGE else said[:_API_MESSAGE - 1] + "…"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _answer(message: Any, tool_name: str, asked_model: str,
            max_text: int = MAX_TEXT) -> ToolAnswer:
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
        elif (kind == "tool_use" and found is None and tool_name
              and getattr(block, "name", None) == tool_name
              and isinstance(getattr(block, "input", None), dict)):
            found = dict(block.input)
    stop = getattr(message, "stop_reason", None)
    return ToolAnswer(found, usage, stop if isinstance(stop, str) else None,
                      "\n".join(texts)[:max_text])


KEY_SECRET = "anthropic_api_key"
"""The secret a deployment keeps the model's API key in, when no setting gives it."""


def api_key(settings: Mapping[str, str], secrets: Secrets) -> str | None:
    """The model's API key: the type's deployment setting `api_key`
    (`LANEWAY_CONNECTOR_LLM_API_KEY`, `LANEWAY_TRIGGER_AI_LISTENER_API_KEY`), else the secret
    `anthropic_api_key`; None when neither is there. Either way the secret store remembers it,
    so every log and message redacts it."""
    key = settings.get("api_key", "").strip()
    if key:
        secrets.remember(key)
        return key
    try:
        return secrets.get(KEY_SECRET)
    except JobFailed:
        return None
