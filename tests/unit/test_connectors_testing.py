"""`laneway.connectors.testing`: the helpers a connector team tests its connector with run one
attempt as the runtime does (a real httpx client, the settings and secrets a worker would give,
its cancel after the timeout), without Kafka or Redis."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from laneway.connectors import Connector, ConnectorContext, Job, JobFailed
from laneway.connectors.testing import TEST_INSTANCE, make_job, run_job, serve


class Echo(Connector):
    """Posts the job to `settings["api_url"]` with the secret, answers what the server said."""

    type = "echo"

    async def run(self, job: Job, ctx: ConnectorContext) -> Mapping[str, Any]:
        token = ctx.secrets.get("echo_token")
        ctx.log.info("posting with %s", token)
        response = await ctx.http.post(
            ctx.settings["api_url"] + "/echo", timeout=ctx.timeout,
            json={"attrs": dict(job.attributes), "vars": dict(job.variables)},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": ctx.idempotency_key})
        return {"echo": response.json()}


class EchoHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["auth"] = self.headers["Authorization"]
        body["key"] = self.headers["Idempotency-Key"]
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_run_job_runs_one_attempt_against_a_local_server_with_settings_and_secrets(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "laneway.connectors.testing")
    with serve(EchoHandler) as url:
        result = run_job(Echo(), {"title": "t", "acme:x": "y"}, {"n": 1},
                         secrets={"echo_token": "s3cr3t-token"}, settings={"API_URL": url})

    assert result == {"echo": {"attrs": {"laneway:title": "t", "acme:x": "y"},
                               "vars": {"n": 1}, "auth": "Bearer s3cr3t-token",
                               "key": f"{TEST_INSTANCE}:1"}}
    # the log names the job and never shows the secret
    assert "posting with ***" in caplog.text
    assert "s3cr3t-token" not in caplog.text


def test_a_missing_secret_or_setting_is_what_the_connector_makes_of_it() -> None:
    with pytest.raises(JobFailed, match="Expected secret 'echo_token'") as caught:
        run_job(Echo(), settings={"api_url": "http://127.0.0.1:9"})
    assert caught.value.retryable is False


def test_an_attempt_past_its_timeout_is_cancelled_as_a_retryable_failure() -> None:
    class Slow(Connector):
        type = "slow"

        async def run(self, job: Job, ctx: ConnectorContext) -> Mapping[str, Any]:
            await asyncio.sleep(30)  # ignores ctx.timeout
            return {}

    with pytest.raises(JobFailed, match=r"took longer than 0\.1s") as caught:
        run_job(Slow(), timeout=0.1)
    assert caught.value.retryable is True


def test_a_result_that_is_not_json_like_fails_the_test() -> None:
    class Odd(Connector):
        type = "odd"

        async def run(self, job: Job, ctx: ConnectorContext) -> Mapping[str, Any]:
            return {"when": object()}

    with pytest.raises(AssertionError, match="JSON-like"):
        run_job(Odd())


def test_make_job_sets_what_the_test_names() -> None:
    job = make_job("echo", {"url": "u"}, {"a": 1}, key=7, retries=1, attempt=2)
    assert (job.type, job.key, job.retries, job.attempt) == ("echo", 7, 1, 2)
    assert job.attributes == {"laneway:url": "u"}
    assert job.idempotency_key == f"{TEST_INSTANCE}:7"
