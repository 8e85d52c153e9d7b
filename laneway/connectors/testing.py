"""Helpers for testing a connector without the service, Kafka or Redis: a `Job` and a
`ConnectorContext` as the connectors runtime makes them, `run_job` to run one attempt with a
real `httpx` client, and `serve` for a local HTTP server that stands in for the far side.

    from laneway.connectors.testing import run_job, serve

    with serve(FakeTicketsHandler) as url:
        result = run_job(TicketConnector(), {"laneway:title": "Leak in {{ street }}"},
                         {"street": "Elm St"}, secrets={"tickets_token": "t-1"},
                         settings={"api_url": url})
    assert result == {"ticket": {"id": "T-1"}}

`run_job` returns the connector's result variables or raises what the connector raised
(`BpmnError`, `JobFailed`, anything else), so a test asserts on the outcome the runtime turns
into COMPLETE_JOB, THROW_ERROR or FAIL_JOB (docs/connectors.md "The runtime"). Only what
leaves the machine is replaced: the connector, httpx, the templates and the secrets are the
real ones. See docs/connector-sdk.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from laneway.connectors._api import (
    Connector,
    ConnectorContext,
    Decision,
    Job,
    JobFailed,
    Pending,
)
from laneway.connectors._secrets import Secrets

__all__ = [
    "TEST_INSTANCE",
    "make_context",
    "make_job",
    "make_secrets",
    "run_job",
    "run_job_async",
    "serve",
]

TEST_INSTANCE = "00000000-0000-4000-8000-000000000001"
"""The instance id of a job `make_job` makes unless told otherwise."""
# a connector that honours ctx.timeout reports its own timeout before the runtime's cancel
_CANCEL_GRACE_S = 1.0


def _attribute_name(name: str) -> str:
    return name if ":" in name else f"laneway:{name}"


def make_job(type_: str, attributes: Mapping[str, str] | None = None,
             variables: Mapping[str, Any] | None = None, *, instance_id: str = TEST_INSTANCE,
             key: int = 1, element_id: str = "Task", element_name: str | None = None,
             lane: str | None = None, persona: str | None = None,
             headers: Mapping[str, str] | None = None, retries: int = 3, attempt: int = 1,
             record_id: str = "test-record") -> Job:
    """A job of `type_` as the runtime hands it over. An attribute named without a namespace
    (`url`) is taken as `laneway:url`; `acme:x` stays as it is."""
    return Job(instance_id=instance_id, key=key, element_id=element_id,
               element_name=element_name, type=type_,
               attributes={_attribute_name(k): v for k, v in (attributes or {}).items()},
               lane=lane, persona=persona, variables=dict(variables or {}),
               headers=dict(headers or {}), retries=retries, attempt=attempt,
               record_id=record_id)


def make_secrets(secrets: Mapping[str, str] | None = None, *,
                 directory: str | None = None) -> Secrets:
    """A secret store holding `secrets` by name (as `LANEWAY_SECRET_<NAME>` would) and nothing
    else: the host's environment and `/run/secrets/laneway` are not read unless `directory`
    names a folder of secret files."""
    env = {"LANEWAY_SECRET_" + "".join(c if c.isalnum() else "_" for c in name).upper(): value
           for name, value in (secrets or {}).items()}
    return Secrets(env, directory if directory is not None else "/nonexistent/laneway-secrets")


def make_context(http: httpx.AsyncClient, job: Job | None = None, *,
                 secrets: Secrets | Mapping[str, str] | None = None,
                 settings: Mapping[str, str] | None = None,
                 timeout: float = 10.0) -> ConnectorContext:
    """A context as the runtime lends one for one attempt: `settings` by their lower-case
    name (what `LANEWAY_CONNECTOR_<TYPE>_<NAME>` gives in the service), `secrets` by name or a
    `Secrets` of your own, the job's idempotency key, and a logger that redacts secrets."""
    store = secrets if isinstance(secrets, Secrets) else make_secrets(secrets)
    key = job.idempotency_key if job is not None else f"{TEST_INSTANCE}:1"
    return ConnectorContext(secrets=store, http=http, log=_RedactingLog(store, key),
                            idempotency_key=key, timeout=timeout,
                            settings={k.lower(): v for k, v in (settings or {}).items()})


class _RedactingLog(logging.LoggerAdapter[logging.Logger]):
    """The runtime's job log in small: names the job and redacts secrets."""

    def __init__(self, secrets: Secrets, job: str) -> None:
        super().__init__(logging.getLogger("laneway.connectors.testing"), {})
        self._secrets = secrets
        self._job = job

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Format, then redact (the record keeps no unredacted argument)."""
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self.logger.log(level, "%s", self._secrets.redact(f"job {self._job}: {text}"),
                            **kwargs)


async def run_job_async(connector: Connector, attributes: Mapping[str, str] | None = None,
                        variables: Mapping[str, Any] | None = None, *,
                        secrets: Secrets | Mapping[str, str] | None = None,
                        settings: Mapping[str, str] | None = None, timeout: float = 10.0,
                        job: Job | None = None, http: httpx.AsyncClient | None = None,
                        ) -> Mapping[str, Any] | Decision | Pending:
    """One attempt of one job, as `run_job`, inside a running event loop."""
    job = job or make_job(connector.type, attributes, variables)
    if http is None:
        async with httpx.AsyncClient() as client:
            return await _attempt(connector, job, client, secrets, settings, timeout)
    return await _attempt(connector, job, http, secrets, settings, timeout)


async def _attempt(connector: Connector, job: Job, http: httpx.AsyncClient,
                   secrets: Secrets | Mapping[str, str] | None,
                   settings: Mapping[str, str] | None, timeout: float
                   ) -> Mapping[str, Any] | Decision | Pending:
    ctx = make_context(http, job, secrets=secrets, settings=settings, timeout=timeout)
    try:
        result = await asyncio.wait_for(connector.run(job, ctx), timeout + _CANCEL_GRACE_S)
    except TimeoutError:
        # what the runtime does with an attempt it cancels
        raise JobFailed(f"attempt {job.attempt} took longer than {timeout:g}s "
                        "(laneway:timeout)", retryable=True) from None
    if isinstance(result, Pending):
        return result
    values = result.variables if isinstance(result, Decision) else result
    try:
        json.dumps(dict(values), allow_nan=False)
    except (TypeError, ValueError) as exc:
        # the runtime would fail the job without retry: the engine takes JSON-like values only
        raise AssertionError(f"Expected the connector's result to be JSON-like, but {exc}"
                             ) from None
    return result


def run_job(connector: Connector, attributes: Mapping[str, str] | None = None,
            variables: Mapping[str, Any] | None = None, *,
            secrets: Secrets | Mapping[str, str] | None = None,
            settings: Mapping[str, str] | None = None, timeout: float = 10.0,
            job: Job | None = None) -> Mapping[str, Any] | Decision | Pending:
    """Run one attempt of a job of `connector.type` with a real `httpx.AsyncClient`; return
    its result variables or raise what the connector raised.

    `attributes` are the element's (`url` means `laneway:url`), `variables` the job's input,
    `secrets` by name, `settings` the type's settings by lower-case name (`api_url` for
    `LANEWAY_CONNECTOR_<TYPE>_API_URL`). Pass `job` (from `make_job`) to set the key, retries
    or attempt. Like the runtime, an attempt still running a second after `timeout` is
    cancelled and raises a retryable `JobFailed`; a result that is not JSON-like fails the
    test (`AssertionError`)."""
    return asyncio.run(run_job_async(connector, attributes, variables, secrets=secrets,
                                     settings=settings, timeout=timeout, job=job))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # a connectors service answers 32 jobs at once per process: the default backlog of 5
    # would reset some of their connections (a ReadError for the job, not the code under test)
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up (a timeout test, one that stopped reading a body too large)
        is expected, not news."""


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free port of 127.0.0.1 in a thread for the duration of the block;
    yields the base URL, `http://127.0.0.1:<port>`. The handler answers as the real service
    does (status codes, bodies, rate-limit headers)."""
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
