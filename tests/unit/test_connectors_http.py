"""The `http` connector against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from laneway.connectors import BpmnError, Job, JobFailed, Secrets
from laneway.connectors.builtin.http import HttpConnector
from laneway.connectors.testing import make_job, run_job
from tests.connector_servers import RecordingServer, recording_server

INSTANCE = "7d8e1c56-0b6f-4b55-9d0a-1f0e2d3c4b5a"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with recording_server() as srv:
        yield srv


def _job(attrs: Mapping[str, str], variables: Mapping[str, Any] | None = None) -> Job:
    return make_job("http", attrs,
                    variables or {"order": {"amount": 12.5, "customer": "Ada"}},
                    instance_id=INSTANCE, key=17, element_id="create_order",
                    element_name="Create")


def _run(job: Job, secrets: Secrets | None = None, timeout: float = 5.0) -> Mapping[str, Any]:
    return run_job(HttpConnector(), job=job, secrets=secrets, timeout=timeout)


def test_post_sends_method_headers_json_body_and_idempotency_key_and_maps_the_answer(
        server: RecordingServer) -> None:
    # given a task that posts the order with a secret API key and maps the answer
    job = _job({
        "laneway:method": "post",
        "laneway:url": server.url + "/orders?customer={{ order.customer }}",
        "laneway:headers": '{"X-Api-Key": "{{ secrets.api_key }}", '
                           '"X-Amount": "{{ order.amount }}"}',
        "laneway:header.X-Trace": "t-{{ order.customer }}",
        "laneway:body": '{"amount": "{{ order.amount }}", "who": "{{ order.customer }}"}',
        "laneway:response": '{"orderId": "body.id", "status": "status", '
                            '"sku": "body.lines.0.sku", "requestId": "headers.x-request-id", '
                            '"absent": "body.nope"}',
        "laneway:resultVariable": "createOrder",
    })

    result = _run(job, Secrets({"LANEWAY_SECRET_API_KEY": "sk-live-123"}, "/nonexistent"))

    # then the server received exactly this
    (req,) = server.requests
    assert (req.method, req.path) == ("POST", "/orders?customer=Ada")
    assert req.headers["x-api-key"] == "sk-live-123"
    assert req.headers["x-amount"] == "12.5"
    assert req.headers["x-trace"] == "t-Ada"
    assert req.headers["idempotency-key"] == f"{INSTANCE}:17"
    assert req.headers["content-type"] == "application/json"
    assert json.loads(req.body) == {"amount": 12.5, "who": "Ada"}
    # and the answer is mapped
    assert result["orderId"] == "o-1"
    assert result["status"] == 201
    assert result["sku"] == "A-1"
    assert result["requestId"] == "req-7"
    assert result["absent"] is None
    assert result["createOrder"]["body"] == {"id": "o-1", "total": 12.5,
                                             "lines": [{"sku": "A-1"}]}


def test_a_text_body_is_sent_as_text_and_a_text_answer_kept_as_text(
        server: RecordingServer) -> None:
    result = _run(_job({"laneway:method": "PUT", "laneway:url": server.url + "/text",
                        "laneway:body": "Dear {{ order.customer }}",
                        "laneway:resultVariable": "r"}))

    (req,) = server.requests
    assert (req.method, req.body) == ("PUT", b"Dear Ada")
    assert req.headers["content-type"] == "text/plain; charset=utf-8"
    assert result["r"]["body"] == "plain words"


def test_get_is_the_default_and_sends_no_body(server: RecordingServer) -> None:
    assert _run(_job({"laneway:url": server.url + "/echo"})) == {}
    (req,) = server.requests
    assert (req.method, req.body) == ("GET", b"")


def test_a_4xx_named_by_an_attribute_is_a_bpmn_error_with_the_mapped_answer(
        server: RecordingServer) -> None:
    job = _job({"laneway:url": server.url + "/bad", "laneway:errorOn4xx": "BAD_REQUEST",
                "laneway:response": '{"reason": "body.error"}'})

    with pytest.raises(BpmnError) as caught:
        _run(job)

    assert caught.value.code == "BAD_REQUEST"
    assert caught.value.message == "GET answered 400 Bad Request"
    assert caught.value.variables == {"reason": "amount must be positive"}


def test_an_exact_status_wins_over_its_class(server: RecordingServer) -> None:
    job = _job({"laneway:url": server.url + "/missing", "laneway:errorOn4xx": "BAD_REQUEST",
                "laneway:errorOn404": "NOT_FOUND"})
    with pytest.raises(BpmnError, match="404") as caught:
        _run(job)
    assert caught.value.code == "NOT_FOUND"


def test_an_unnamed_4xx_is_a_failure_not_worth_retrying(server: RecordingServer) -> None:
    with pytest.raises(JobFailed, match="GET answered 400 Bad Request") as caught:
        _run(_job({"laneway:url": server.url + "/bad"}))
    assert caught.value.retryable is False
    assert "amount must be positive" in caught.value.message


def test_a_5xx_is_a_retryable_failure(server: RecordingServer) -> None:
    with pytest.raises(JobFailed, match="answered 503") as caught:
        _run(_job({"laneway:url": server.url + "/down"}))
    assert caught.value.retryable is True


def test_a_429_is_retryable_and_carries_the_servers_retry_after(server: RecordingServer) -> None:
    with pytest.raises(JobFailed, match="answered 429") as caught:
        _run(_job({"laneway:url": server.url + "/busy"}))
    assert caught.value.retryable is True
    assert caught.value.retry_after_s == 2.0
    with pytest.raises(JobFailed) as down:
        _run(_job({"laneway:url": server.url + "/down"}))  # a 503 without one: no hint
    assert down.value.retry_after_s is None


def test_a_slow_server_is_a_retryable_timeout(server: RecordingServer) -> None:
    with pytest.raises(JobFailed, match="GET timed out") as caught:
        _run(_job({"laneway:url": server.url + "/slow"}), timeout=0.3)
    assert caught.value.retryable is True


def test_a_refused_connection_is_retryable() -> None:
    with pytest.raises(JobFailed, match="ConnectError") as caught:
        _run(_job({"laneway:url": "http://127.0.0.1:9/x"}))
    assert caught.value.retryable is True


@pytest.mark.parametrize(("attrs", "message"), [
    ({}, "Expected laneway:url"),
    ({"laneway:url": "http://x/{{ nope }}"}, "Expected variable 'nope'"),
    ({"laneway:url": "http://x", "laneway:headers": "[1]"}, "JSON object"),
    ({"laneway:url": "http://x", "laneway:headers": "{"}, "does not parse"),
    ({"laneway:url": "http://x/{{ secrets.nope }}"}, "Expected secret 'nope'"),
])
def test_malformed_attributes_fail_without_retry(attrs: dict[str, str], message: str) -> None:
    with pytest.raises(JobFailed, match=message) as caught:
        _run(_job(attrs))
    assert caught.value.retryable is False
