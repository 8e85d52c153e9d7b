"""`ticket`: open a ticket in a ticketing API for a service task.

    <bpmn:serviceTask id="open_ticket" laneway:type="ticket"
        laneway:title="Pothole at {{ report.street }}" laneway:priority="high"
        laneway:description="{{ report.text }}" laneway:resultVariable="ticket"/>

One `POST <api url>/tickets` per job with `{"title", "description", "priority"}`, the bearer
token from a secret, and `Idempotency-Key: <instance>:<job key>` so a retry or a redelivery
after a lost answer gets the ticket the first attempt made, not a second one.

- settings: `LANEWAY_CONNECTOR_TICKET_API_URL` (required: the deployment decides where the
  token goes, never the diagram);
- secret: `tickets_token` (`LANEWAY_SECRET_TICKETS_TOKEN` or the mounted file), or the one
  `laneway:tokenSecret` names;
- 200/201: `{<resultVariable>: {"id", "url"}}`; 422: the BPMN error `TICKET_REJECTED`;
  401/403: a failure without retry (the token must change); 429: retryable, after the
  `Retry-After` the API asked for; 408, 5xx, a timeout or a lost connection: retryable; any
  other answer: a failure without retry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from laneway.connectors import (
    BpmnError,
    Connector,
    ConnectorContext,
    Job,
    JobFailed,
    TemplateError,
    render,
    retry_after_s,
)
from laneway_connector_example.metrics import PRIORITIES, TicketMetrics

MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000
MAX_ANSWER_BYTES = 64 * 1024
DEFAULT_TOKEN_SECRET = "tickets_token"


class TicketConnector(Connector):
    """Opens one ticket per job. One instance per process, called concurrently: per-job state
    lives in locals."""

    type = "ticket"

    def __init__(self, metrics: TicketMetrics | None = None) -> None:
        self._metrics = metrics

    @property
    def metrics(self) -> TicketMetrics:
        """The process's metrics unless a test gave its own (made on first use, not at import,
        so a process that never runs a ticket job registers nothing)."""
        if self._metrics is None:
            self._metrics = TicketMetrics.default()
        return self._metrics

    async def run(self, job: Job, ctx: ConnectorContext) -> Mapping[str, Any]:
        """Open the ticket; its id and URL are the result."""
        body = _request_body(job)
        result_var = job.attributes.get("laneway:resultVariable", "ticket")
        api_url = ctx.settings.get("api_url", "").rstrip("/")
        if not api_url.startswith(("http://", "https://")):
            raise JobFailed("Expected LANEWAY_CONNECTOR_TICKET_API_URL to be the ticketing "
                            f"API's http(s) URL, but got {api_url!r}", retryable=False)
        token = ctx.secrets.get(job.attributes.get("laneway:tokenSecret", DEFAULT_TOKEN_SECRET))
        try:
            async with ctx.http.stream(
                    "POST", f"{api_url}/tickets", json=body, timeout=ctx.timeout,
                    headers={"Authorization": f"Bearer {token}",
                             "Idempotency-Key": ctx.idempotency_key}) as response:
                raw = await _read_at_most(response, MAX_ANSWER_BYTES)
        except httpx.TimeoutException:
            raise JobFailed("POST /tickets timed out") from None
        except httpx.HTTPError as exc:
            raise JobFailed(ctx.redact(f"POST /tickets failed: {type(exc).__name__}: {exc}")
                            ) from None
        return self._outcome(response, raw, body, result_var, ctx)

    def _outcome(self, response: httpx.Response, raw: bytes | None, body: Mapping[str, str],
                 result_var: str, ctx: ConnectorContext) -> Mapping[str, Any]:
        status = response.status_code
        if raw is None:
            raise JobFailed(f"Expected an answer of at most {MAX_ANSWER_BYTES} bytes, but the "
                            f"ticketing API answered {status} with more (it may have created "
                            "the ticket)", retryable=False)
        text = ctx.redact(raw.decode("utf-8", "replace"))[:300]
        answer = _json(raw)
        if status in (200, 201) and isinstance(answer.get("id"), str):
            self.metrics.created.labels(body["priority"]).inc()
            return {result_var: {"id": answer["id"], "url": answer.get("url")}}
        if status == 422:
            self.metrics.rejected.inc()
            error = str(answer.get("error", text))[:300]
            raise BpmnError("TICKET_REJECTED", f"the ticketing API refused the ticket: {error}",
                            {result_var: {"error": error}})
        if status in (401, 403):
            raise JobFailed(f"the ticketing API refused the token ({status}); the secret must "
                            "change", retryable=False)
        if status == 429:
            wait = retry_after_s(response.headers)
            raise JobFailed("the ticketing API is rate limiting (429)"
                            + (f"; it asks to wait {wait:g} s" if wait is not None else ""),
                            retry_after_s=wait)
        retryable = status == 408 or status >= 500
        raise JobFailed(f"POST /tickets answered {status}: {text}", retryable=retryable)


def _request_body(job: Job) -> dict[str, str]:
    """The ticket as the API takes it; an element that is wrong fails without retry, before
    anything is sent."""
    attrs = job.attributes
    if not attrs.get("laneway:title"):
        raise JobFailed("Expected laneway:title on the ticket task", retryable=False)
    try:
        title = render(attrs["laneway:title"], job.variables)
        description = render(attrs.get("laneway:description", ""), job.variables)
        priority = render(attrs.get("laneway:priority", "normal"), job.variables)
    except TemplateError as exc:
        raise JobFailed(str(exc), retryable=False) from None
    if not title.strip() or len(title) > MAX_TITLE_CHARS:
        raise JobFailed(f"Expected a title of 1 to {MAX_TITLE_CHARS} characters, but it has "
                        f"{len(title)}", retryable=False)
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise JobFailed(f"Expected a description of at most {MAX_DESCRIPTION_CHARS} characters, "
                        f"but it has {len(description)}", retryable=False)
    if priority not in PRIORITIES:
        raise JobFailed(f"Expected laneway:priority to be one of {', '.join(PRIORITIES)}, but "
                        f"got {priority[:50]!r}", retryable=False)
    return {"title": title, "description": description, "priority": priority}


async def _read_at_most(response: httpx.Response, limit: int) -> bytes | None:
    """The body, or None once it is past `limit` bytes (a far side never fills our memory)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
