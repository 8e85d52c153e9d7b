"""laneway.worker against a local server answering as the job API does: what the client sends
for each outcome of its handler, and its bounded wait when the API is away."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

from laneway.worker import MAX_ERROR_MESSAGE, ActivatedJob, BpmnError, JobFailed, Worker
from tests.local_http import serve

JOB = {"key": "i-1:7", "type": "ext", "processInstanceId": "i-1", "elementId": "work",
       "elementName": None, "retries": 3, "deadline": 0, "variables": {"n": 1},
       "customHeaders": {}, "attributes": {}}


class Api(BaseHTTPRequestHandler):
    """Hands out JOB once per activation, records every answer."""

    answers: ClassVar[list[tuple[str, dict[str, Any], str]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        Api.answers.append((self.path, body, self.headers.get("Authorization", "")))
        out = {"jobs": [JOB]} if self.path == "/api/jobs/activate" else {"answered": "x"}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def answer_to(outcome: Any) -> tuple[str, dict[str, Any]]:
    Api.answers.clear()

    def handler(job: ActivatedJob) -> Any:
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    with serve(Api) as url, Worker(url, lambda: "tok", "ext", handler,
                                   retry_backoff_ms=250) as worker:
        assert worker.run_once() == 1
    (activate, activation, auth), (path, body, _) = Api.answers
    assert (activate, activation["type"], auth) == ("/api/jobs/activate", "ext", "Bearer tok")
    return path, body


def test_variables_complete_the_job() -> None:
    assert answer_to({"ok": True}) == ("/api/jobs/i-1:7/complete", {"variables": {"ok": True}})


def test_a_bpmn_error_is_thrown_with_its_code() -> None:
    assert answer_to(BpmnError("NO", "not today", {"why": "x"})) == (
        "/api/jobs/i-1:7/error", {"errorCode": "NO", "errorMessage": "not today",
                                  "variables": {"why": "x"}})


def test_a_failure_spends_one_retry_or_all_of_them() -> None:
    assert answer_to(JobFailed("down", retry_after_s=2)) == (
        "/api/jobs/i-1:7/fail", {"retries": 2, "errorMessage": "down", "retryBackOffMs": 2000})
    assert answer_to(JobFailed("bad input", retryable=False))[1]["retries"] == 0
    assert answer_to(ValueError("bug")) == (
        "/api/jobs/i-1:7/fail", {"retries": 2, "errorMessage": "ValueError: bug",
                                 "retryBackOffMs": 250})


def test_a_long_error_message_is_cut_to_what_the_api_takes() -> None:
    # the API refuses an errorMessage over 8,000 characters (422): sent whole, the answer
    # never lands, the lease runs out, and the job comes back to fail the same way forever
    for outcome in (JobFailed("x" * 20_000), ValueError("y" * 20_000),
                    BpmnError("NO", "z" * 20_000)):
        _, body = answer_to(outcome)
        assert 0 < len(body["errorMessage"]) <= MAX_ERROR_MESSAGE == 8_000


def test_the_worker_waits_longer_each_time_the_api_is_away_and_at_most_10_s() -> None:
    with serve(Api) as url:
        pass  # the port is free again: nothing answers there
    waits: list[float] = []
    worker = Worker(url, "tok", "ext", lambda job: {}, request_timeout_ms=100)
    worker.stop.wait = lambda delay: waits.append(delay) or False  # type: ignore[method-assign]
    began = time.monotonic()
    for _ in range(7):
        assert worker.run_once() == 0
    worker.close()
    assert waits == [0.5, 1.0, 2.0, 5.0, 10.0, 10.0, 10.0]
    assert time.monotonic() - began < 5


def test_a_script_job_carries_its_script_and_language() -> None:
    job = ActivatedJob.from_json({**JOB, "type": "script", "script": "b = n * 2",
                                  "scriptFormat": "groovy"})
    assert (job.script, job.script_format) == ("b = n * 2", "groovy")
    plain = ActivatedJob.from_json(JOB)
    assert (plain.script, plain.script_format) == (None, None)
