"""Size limits and message time to live at the API (issue 10, items 2, 9 and 11) against the
real Kafka and PostgreSQL: variables over the limit and bodies a record can never carry are 413
with a problem body, not a 202 that jams the engine or a 503 that no retry cures; a message
gets the default time to live; a time to live past the longest allowed is 422."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from laneway.codec import decode_record
from laneway.limits import DEFAULT_MAX_VARIABLES_BYTES
from scripts.stack import Connections
from scripts.stack.testing import unique_name
from services.definitions.republish import republish_missing
from tests.auth import auth_header
from tests.integration.api_harness import Api, running_api
from tests.integration.test_api import diagram, new_pid, produce, read_topic, with_key
from tests.lifecycle import AUTHOR, authorize

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# publishing a message needs the role operator (or a persona the message names)
OPERATOR = auth_header("olga", roles=["operator"])

KIB_600 = {"blob": "x" * (600 * 1024)}


@pytest.fixture(scope="module")
def api(stack: Connections) -> Iterator[Api]:
    with running_api(stack, "test.limits", Api, headers=AUTHOR) as api:
        yield api


def _too_large(response: Any) -> str:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 413
    assert "laneway." not in body["detail"]  # no topic named
    return str(body["detail"])


def test_two_600_kib_messages_are_refused_with_413_and_never_reach_the_engine(api: Api) -> None:
    key = unique_name("big")
    for _ in range(2):
        detail = _too_large(api.client.post("/api/messages", headers=OPERATOR, json={
            "name": "docs", "correlationKey": key, "variables": KIB_600}))
        assert f"at most {DEFAULT_MAX_VARIABLES_BYTES} bytes" in detail

    small = api.client.post("/api/messages", headers=OPERATOR,
                                json={"name": "docs", "correlationKey": key})
    assert small.status_code == 202, small.text
    records = read_topic(api.conns.kafka_bootstrap_servers, api.topics.messages, with_key(key))
    assert len([r for r in records if r[0] == key]) == 1


def test_a_start_over_the_variables_limit_is_413(api: Api) -> None:
    pid = new_pid()
    assert api.client.post("/api/definitions", content=diagram(pid),
                           headers={"content-type": "application/xml"}).status_code == 201
    authorize(api.client, pid, 1)

    _too_large(api.client.post("/api/instances", json={"processId": pid,
                                                       "variables": KIB_600}))
    fits = api.client.post("/api/instances", json={"processId": pid,
                                                   "variables": {"blob": "x" * 1024}})
    assert fits.status_code == 201, fits.text


def test_a_body_over_a_record_is_413_not_a_503_to_retry(api: Api) -> None:
    # 1.2 MB: under the edge's body limit, over what one Kafka record carries
    body = {"name": "docs", "correlationKey": "k", "variables": {"blob": "x" * 1_200_000}}

    _too_large(api.client.post("/api/messages", headers=OPERATOR, json=body))


def test_a_bpmn_file_over_a_record_is_413_at_deploy(api: Api) -> None:
    pid = new_pid()
    padding = "<!--" + "x" * 1_100_000 + "-->"
    xml = diagram(pid).replace(b"</bpmn:definitions>", padding.encode() + b"</bpmn:definitions>")

    detail = _too_large(api.client.post("/api/definitions", content=xml,
                                        headers={"content-type": "application/xml"}))
    assert "BPMN file" in detail


def test_a_task_completion_over_the_variables_limit_is_413(api: Api) -> None:
    _too_large(api.client.post("/api/tasks/no-such-task:1/complete",
                               json={"variables": KIB_600}))


def test_a_message_without_a_time_to_live_gets_the_default_hour(api: Api) -> None:
    key = unique_name("ttl")

    response = api.client.post("/api/messages", headers=OPERATOR,
                                json={"name": "docs", "correlationKey": key})

    assert response.status_code == 202, response.text
    records = read_topic(api.conns.kafka_bootstrap_servers, api.topics.messages, with_key(key))
    [value] = [v for k, v, _, _ in records if k == key]
    assert value is not None
    assert decode_record(value).value["ttl"] == 3_600_000


@pytest.mark.parametrize("ttl", [1e308, 7 * 24 * 3600 + 1])
def test_a_time_to_live_past_the_longest_is_422(api: Api, ttl: float) -> None:
    response = api.client.post("/api/messages", headers=OPERATOR, json={
        "name": "docs", "correlationKey": "k", "ttlSeconds": ttl})

    assert response.status_code == 422, response.text
    assert response.json()["status"] == 422


def test_the_republish_at_start_skips_a_stored_version_over_the_record_limit(api: Api) -> None:
    # two authorized versions missing from the topic, one of them stored before deploys were
    # refused over the limit
    big, fine = new_pid(), new_pid()
    for pid in (big, fine):
        assert api.client.post("/api/definitions", content=diagram(pid),
                               headers={"content-type": "application/xml"}).status_code == 201
        authorize(api.client, pid, 1)
    bootstrap = api.conns.kafka_bootstrap_servers
    produce(bootstrap, api.topics.definitions, [(f"{big}@1", None), (f"{fine}@1", None)])
    api.execute("UPDATE definitions SET xml = %s WHERE process_id = %s",
                diagram(big) + b" " * 1_100_000, big)

    republished = republish_missing(api.deps.definitions, api.deps.publisher, bootstrap)

    assert f"{fine}@1" in republished
    assert f"{big}@1" not in republished
