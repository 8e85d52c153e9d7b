"""A small worker on the job API (docs/workers.md): take jobs of one type over HTTP, answer them.

    def handle(job: ActivatedJob) -> dict[str, Any]:
        if job.variables["amount"] > 1000:
            raise BpmnError("TOO_MUCH", "over the limit")      # THROW_ERROR
        return {"approved": True}                                # COMPLETE_JOB

    Worker("https://laneway.example", token, "ext-approve", handle).run()

The handler returns the variables to complete with, raises `BpmnError` (a business error the
diagram catches by code) or `JobFailed` (retried with the job's retries left, after
`retry_after_s` or the worker's backoff; `retryable=False` fails with none left: an incident).
Any other exception is a retryable failure. `concurrency` handlers of one activation run at
once in threads (answers are one request each, so this is what makes a worker fast when the
handler or the network is slow). Each activation is a long poll; when the API is
down the worker waits with a bounded, growing backoff. `token` may be a callable returning a
fresh token (a client-credentials token is short-lived).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from laneway.connectors import BpmnError, JobFailed

__all__ = ["MAX_ERROR_MESSAGE", "ActivatedJob", "BpmnError", "JobFailed", "Worker"]

_log = logging.getLogger("laneway.worker")
_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
MAX_ERROR_MESSAGE = 8_000
"""The most characters of an error message the job API takes; a longer one is cut here, as a
refused answer would leave the job to come back and fail the same way at every lease."""


@dataclass(frozen=True, slots=True)
class ActivatedJob:
    """One leased job, as the API hands it out."""

    key: str
    type: str
    process_instance_id: str
    element_id: str
    retries: int
    deadline: int
    """Epoch milliseconds when the lease ends."""
    variables: Mapping[str, Any] = field(default_factory=dict)
    custom_headers: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)
    script: str | None = None
    """A script task's script (its job type is `script` unless the diagram names one)."""
    script_format: str | None = None
    """The script's language (`groovy`, `python`, ...)."""

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ActivatedJob:
        """From an item of `{jobs: [...]}`."""
        return ActivatedJob(key=data["key"], type=data["type"],
                            process_instance_id=data["processInstanceId"],
                            element_id=data["elementId"], retries=int(data["retries"]),
                            deadline=int(data["deadline"]),
                            variables=dict(data.get("variables") or {}),
                            custom_headers=dict(data.get("customHeaders") or {}),
                            attributes=dict(data.get("attributes") or {}),
                            script=data.get("script"), script_format=data.get("scriptFormat"))


Handler = Callable[[ActivatedJob], Mapping[str, Any] | None]


class Worker:
    """Takes jobs of `job_type` from the job API at `url` and runs `handler` on each."""

    def __init__(self, url: str, token: str | Callable[[], str], job_type: str,
                 handler: Handler, *, max_jobs: int = 8, timeout_ms: int = 300_000,
                 request_timeout_ms: int = 20_000, name: str = "",
                 retry_backoff_ms: int = 1_000, concurrency: int = 1,
                 client: httpx.Client | None = None) -> None:
        self.type = job_type
        self._handler = handler
        self._token = token
        self._max_jobs = max_jobs
        self._timeout_ms = timeout_ms
        self._request_timeout_ms = request_timeout_ms
        self._name = name or f"laneway.worker:{job_type}"
        self._retry_backoff_ms = retry_backoff_ms
        self._http = client or httpx.Client(base_url=url.rstrip("/"),
                                            timeout=request_timeout_ms / 1000 + 10)
        self._failures = 0
        # handlers (and their answers) of one activation run this many at once
        self._pool = ThreadPoolExecutor(concurrency) if concurrency > 1 else None
        self.stop = threading.Event()
        """Set it to end `run()` after the jobs in hand."""

    def _headers(self) -> dict[str, str]:
        token = self._token() if callable(self._token) else self._token
        return {"Authorization": f"Bearer {token}"}

    def _post(self, path: str, body: Mapping[str, Any]) -> httpx.Response:
        return self._http.post(path, json=body, headers=self._headers())

    def activate(self) -> list[ActivatedJob]:
        """One long poll: the jobs leased to this worker (none after the request timeout).
        Raises httpx.HTTPError when the API cannot be reached or refuses."""
        answer = self._post("/api/jobs/activate", {
            "type": self.type, "maxJobs": self._max_jobs, "timeoutMs": self._timeout_ms,
            "requestTimeoutMs": self._request_timeout_ms, "worker": self._name})
        answer.raise_for_status()
        return [ActivatedJob.from_json(j) for j in answer.json()["jobs"]]

    def handle(self, job: ActivatedJob) -> str:
        """Run the handler on one job and send its answer; the answer's name."""
        body: dict[str, Any]
        try:
            result = self._handler(job)
        except BpmnError as exc:
            path, body = "error", {"errorCode": exc.code,
                                   "errorMessage": exc.message[:MAX_ERROR_MESSAGE],
                                   "variables": dict(exc.variables)}
        except JobFailed as exc:
            retries = job.retries - 1 if exc.retryable else 0
            wait_ms = (int(exc.retry_after_s * 1000) if exc.retry_after_s is not None
                       else self._retry_backoff_ms)
            path, body = "fail", {"retries": max(retries, 0),
                                  "errorMessage": exc.message[:MAX_ERROR_MESSAGE],
                                  "retryBackOffMs": max(0, min(wait_ms, 3_600_000))}
        except Exception as exc:  # a bug in the handler: retryable, as a connector's
            _log.warning("job %s: the handler raised", job.key, exc_info=exc)
            path, body = "fail", {"retries": max(job.retries - 1, 0),
                                  "errorMessage": f"{type(exc).__name__}: {exc}"[
                                      :MAX_ERROR_MESSAGE],
                                  "retryBackOffMs": self._retry_backoff_ms}
        else:
            path, body = "complete", {"variables": dict(result or {})}
        answer = self._post(f"/api/jobs/{job.key}/{path}", body)
        if answer.status_code in (404, 409):
            _log.warning("job %s: %s refused (%s): %s", job.key, path, answer.status_code,
                         answer.text[:300])
        else:
            answer.raise_for_status()
        return path

    def run_once(self) -> int:
        """Activate once and handle what came; how many jobs. Waits out a backoff (bounded,
        growing with each failure in a row) when the API is down or refuses."""
        try:
            jobs = self.activate()
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            delay = _BACKOFF_S[min(self._failures, len(_BACKOFF_S) - 1)]
            self._failures += 1
            _log.warning("activating %s jobs failed (%s); again in %.1fs", self.type, exc, delay)
            self.stop.wait(delay)
            return 0
        self._failures = 0
        if self._pool is None:
            for job in jobs:
                self._handle_logged(job)
        else:
            list(self._pool.map(self._handle_logged, jobs))
        return len(jobs)

    def _handle_logged(self, job: ActivatedJob) -> None:
        try:
            self.handle(job)
        except httpx.HTTPError as exc:  # its lease runs out and it is offered again
            _log.warning("answering job %s failed: %s", job.key, exc)

    def run(self) -> None:
        """Take jobs until `stop` is set."""
        while not self.stop.is_set():
            self.run_once()

    def close(self) -> None:
        """Close the HTTP client (and the handlers' threads)."""
        if self._pool is not None:
            self._pool.shutdown()
        self._http.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

