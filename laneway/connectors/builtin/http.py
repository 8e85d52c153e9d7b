"""The `http` connector: one HTTP request per job, through httpx.

Attributes (see docs/connectors.md): `laneway:method` (default GET), `laneway:url`,
`laneway:headers` (a JSON object) and `laneway:header.<Name>`, `laneway:body`, and for the
answer `laneway:resultVariable` and/or `laneway:response` (variable -> path in
`{"status", "headers", "body"}`). Templates may use `{{ secrets.<name> }}` for API keys and
webhook tokens. A non-2xx answer is a BPMN error when `laneway:errorOn<status>`,
`laneway:errorOn4xx` or `laneway:errorOn5xx` names a code, else a failure: retryable for 5xx,
408 and 429, not for the rest.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from laneway.attributes import POLICY, Attribute
from laneway.connectors._api import BpmnError, Connector, ConnectorContext, Job, JobFailed
from laneway.connectors._retry_after import retry_after_s
from laneway.connectors._secrets import Secrets
from laneway.connectors._templates import TemplateError, lookup, render, render_json, render_value

_RETRYABLE_4XX = frozenset({408, 425, 429})
_MAX_BODY_IN_MESSAGE = 500


class _SecretView(Mapping[str, str]):
    """`{{ secrets.name }}` in a template: looked up only when used."""

    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets

    def __getitem__(self, name: str) -> str:
        return self._secrets.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)  # a missing one raises its own message in __getitem__

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _headers(attrs: Mapping[str, str], scope: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    raw = attrs.get("laneway:headers", "").strip()
    if raw:
        try:
            parsed = render_json(raw, scope)
        except ValueError as exc:
            if isinstance(exc, TemplateError):
                raise
            raise JobFailed(f"Expected laneway:headers to be a JSON object, but it does not "
                            f"parse: {exc}", retryable=False) from None
        if not isinstance(parsed, dict):
            raise JobFailed("Expected laneway:headers to be a JSON object", retryable=False)
        headers.update({str(k): v if isinstance(v, str) else json.dumps(v)
                        for k, v in parsed.items()})
    for name, value in attrs.items():
        if name.startswith("laneway:header."):
            headers[name[len("laneway:header."):]] = render(value, scope)
    return headers


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The response as the mapping paths read it: status, headers (lower-case names), body
    (parsed JSON when it is JSON, else text)."""
    body: Any = response.text
    if body:
        with contextlib.suppress(ValueError):  # not JSON: the text
            body = response.json()
    return {"status": response.status_code,
            "headers": {k.lower(): v for k, v in response.headers.items()}, "body": body}


def _result(attrs: Mapping[str, str], answer: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    name = attrs.get("laneway:resultVariable", "").strip()
    if name:
        result[name] = dict(answer)
    raw = attrs.get("laneway:response", "").strip()
    if raw:
        try:
            mapping = json.loads(raw)
        except ValueError:
            mapping = None
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise JobFailed("Expected laneway:response to be a JSON object of variable name to "
                            'path, such as {"orderId": "body.id"}', retryable=False)
        for variable, path in mapping.items():
            try:
                result[variable] = lookup(answer, path)
            except TemplateError:
                result[variable] = None  # an optional field the far side left out
    return result


def _error_code(attrs: Mapping[str, str], status: int) -> str | None:
    for name in (f"laneway:errorOn{status}", f"laneway:errorOn{status // 100}xx"):
        code = attrs.get(name, "").strip()
        if code:
            return code
    return None


class HttpConnector(Connector):
    """Calls an HTTP endpoint; see the module docstring and docs/connectors.md."""

    type = "http"

    attributes = (
        Attribute("method", "Method", "The HTTP method; default GET", kind="choice",
                  choices=("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"),
                  default="GET"),
        Attribute("url", "URL", "Template; may use {{ secrets.<name> }}", kind="template",
                  required=True),
        Attribute("headers", "Headers", 'JSON object template: {"Accept": "application/json"}',
                  kind="json"),
        Attribute("body", "Body", "Template; sent as application/json when it is JSON, else as "
                  "text/plain", kind="template", multiline=True),
        Attribute("resultVariable", "Result variable", "Gets {status, headers, body}",
                  group="result"),
        Attribute("response", "Response mapping", 'JSON of variable to a path in the answer: '
                  '{"orderId": "body.id"}', kind="json", group="result"),
        Attribute("errorOn4xx", "BPMN error on 4xx", "A 4xx answer throws this error code",
                  group="errors"),
        Attribute("errorOn5xx", "BPMN error on 5xx", "A 5xx answer throws this error code",
                  group="errors"),
        *POLICY,
    )

    async def run(self, job: Job, ctx: ConnectorContext) -> Mapping[str, Any]:
        """Send the request the attributes describe and map the answer."""
        attrs = job.attributes
        scope = {**job.variables, "secrets": _SecretView(ctx.secrets)}
        try:
            method = attrs.get("laneway:method", "GET").strip().upper() or "GET"
            url = render(attrs.get("laneway:url", ""), scope).strip()
            if not url:
                raise JobFailed("Expected laneway:url on the element, but it has none",
                                retryable=False)
            headers = _headers(attrs, scope)
            content: bytes | None = None
            if "laneway:body" in attrs:
                value, is_json = render_value(attrs["laneway:body"], scope)
                content_type = "application/json" if is_json else "text/plain; charset=utf-8"
                content = (json.dumps(value) if is_json else str(value)).encode()
                headers.setdefault("Content-Type", content_type)
        except TemplateError as exc:
            raise JobFailed(str(exc), retryable=False) from None
        headers.setdefault("Idempotency-Key", ctx.idempotency_key)
        try:
            response = await ctx.http.request(method, url, headers=headers, content=content,
                                              timeout=ctx.timeout)
        except httpx.InvalidURL as exc:
            raise JobFailed(f"Expected a valid URL: {exc}", retryable=False) from None
        except httpx.TimeoutException as exc:
            raise JobFailed(f"{method} timed out: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise JobFailed(f"{method} failed: {type(exc).__name__}: {exc}") from None
        answer = _answer(response)
        status = response.status_code
        if 200 <= status < 300:
            return _result(attrs, answer)
        detail = f"{method} answered {status} {response.reason_phrase}"
        code = _error_code(attrs, status)
        if code:
            raise BpmnError(code, detail, _result(attrs, answer))
        text = response.text[:_MAX_BODY_IN_MESSAGE]
        raise JobFailed(f"{detail}: {text}" if text else detail,
                        retryable=status >= 500 or status in _RETRYABLE_4XX,
                        retry_after_s=retry_after_s(response.headers)
                        if status in (429, 503) else None)
