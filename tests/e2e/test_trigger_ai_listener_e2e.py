"""The ai-listener trigger end to end: examples/triggers/ai-listener.bpmn deployed
through the API, the triggers service pointed at a local server speaking the Messages API
(LANEWAY_TRIGGER_AI_LISTENER_BASE_URL and _API_KEY), a tool endpoint reporting a storm: poll
after poll the model says yes for the same storm, and exactly one instance starts, by
`trigger:ai-listener:<schedule>`, with the model's reason and the tool's output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.stack.testing import wait_until
from tests.anthropic_server import MessagesApi, messages_api, tool_use
from tests.e2e.harness import Laneway
from tests.e2e.trigger_kit import (
    WITH_TRIGGERS,
    first_event,
    instances_of,
    schedule_of,
    wait_instances,
)
from tests.json_endpoint import JsonEndpoint, json_endpoint

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "triggers" / "ai-listener.bpmn"
PROCESS = "harbour_storm"
KEY = "sk-ant-e2e-5b1d"


@pytest.fixture
def api() -> Iterator[MessagesApi]:
    with messages_api(KEY) as server:
        yield server


@pytest.fixture
def tool() -> Iterator[JsonEndpoint]:
    with json_endpoint("/weather/harbour") as server:
        yield server


def test_polls_of_one_storm_start_one_instance(laneway: Any, api: MessagesApi,
                                               tool: JsonEndpoint) -> None:
    lw: Laneway = laneway(WITH_TRIGGERS, env_overrides={
        "LANEWAY_TRIGGER_AI_LISTENER_BASE_URL": api.url,
        "LANEWAY_TRIGGER_AI_LISTENER_API_KEY": KEY,
    })
    # a calm report first: the model says no
    tool.body = {"station": "harbour", "windKnots": 12, "warning": None}
    api.answer(tool_use({"start": False, "correlationId": None, "reason": "a breeze"}))
    xml = EXAMPLE.read_text()
    # the example, polled each second (and asked each time) at the test's own tool endpoint
    xml = xml.replace('laneway:url="http://127.0.0.1:8099/weather/harbour"',
                      f'laneway:url="{tool.url}"')
    xml = xml.replace('laneway:interval="PT5M"',
                      'laneway:interval="PT1S" laneway:skipUnchanged="false"')
    assert tool.url in xml
    assert "PT1S" in xml
    lw.deploy(xml.encode(), name="ai-listener.bpmn")
    schedule = schedule_of(lw, PROCESS)
    assert schedule["type"] == "ai-listener", schedule
    wait_until(lambda: api.count() >= 2, 60, message="the model asked twice")
    assert instances_of(lw, PROCESS) == []

    # when the storm comes, the model says yes on every poll, naming the same storm
    tool.body = {"station": "harbour", "windKnots": 48, "warning": "storm Ingrid"}
    api.answer(tool_use({"start": True, "correlationId": "Storm Ingrid",
                         "reason": "48 knots and a storm warning",
                         "variables": {"windKnots": 48}}))
    asked = api.count()
    wait_until(lambda: api.count() >= asked + 4, 60, message="four polls of the storm")

    # then exactly one instance, with what the model and the tool said
    [instance] = wait_instances(lw, PROCESS, 1)
    with lw.api() as client:
        detail = client.get(f"/api/schedules/{schedule['id']}").json()
    assert detail["firesTotal"] == 1, detail
    assert detail["cursor"]["last"]["decision"] == "start"
    assert len(instances_of(lw, PROCESS)) == 1
    variables = instance["variables"]
    assert variables["toolOutput"] == tool.body
    assert variables["reason"] == "48 knots and a storm warning"
    assert variables["correlationId"] == "Storm Ingrid"
    assert variables["extracted"] == {"windKnots": 48}
    assert variables["usage"]["model"] == "claude-sonnet-4-5"
    event = first_event(lw, instance["instanceId"])
    assert event["principal"]["id"] == f"trigger:ai-listener:{schedule['id']}"
    assert event["value"]["trigger"]["dedupKey"] == "corr:storm ingrid"
    # and the model was asked as the API expects, with the deployment's key
    sent = api.requests[-1]
    assert sent.headers["anthropic-version"]
    assert KEY in (sent.headers.get("x-api-key"),
                   sent.headers.get("authorization", "").removeprefix("Bearer "))
    assert sent.body["tool_choice"] == {"type": "tool", "name": "decide"}
