"""The topic trigger end to end: examples/triggers/topic.bpmn deployed through the API, a
partner producing permits to its topic (one of the test's own), and exactly one instance per
permit, started by `trigger:topic:<schedule>` with the record's variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from scripts.stack.testing import unique_name, wait_until
from tests.e2e.harness import Laneway
from tests.e2e.trigger_kit import (
    WITH_TRIGGERS,
    first_event,
    instances_of,
    schedule_of,
    wait_instances,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "triggers" / "topic.bpmn"
PROCESS = "partner_permit"


def _produce(lw: Laneway, topic: str, *records: dict[str, Any]) -> None:
    producer = Producer({"bootstrap.servers": lw.bootstrap, "linger.ms": 0})
    for record in records:
        producer.produce(topic, json.dumps(record).encode(), key=record["permitId"])
    assert producer.flush(10) == 0


def _cursor(lw: Laneway, schedule_id: str) -> dict[str, Any]:
    with lw.api() as api:
        cursor: dict[str, Any] = api.get(f"/api/schedules/{schedule_id}").json()["cursor"] or {}
    return cursor


def test_a_permit_on_the_partners_topic_starts_one_instance(laneway: Any) -> None:
    lw: Laneway = laneway(WITH_TRIGGERS)
    topic = unique_name("partner.permits")
    admin = AdminClient({"bootstrap.servers": lw.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[
        topic].result(timeout=30)
    try:
        # a permit filed before the process was deployed is not this process's business
        _produce(lw, topic, {"permitId": "P-old", "address": "Mill Lane 1"})
        xml = EXAMPLE.read_text().replace('laneway:topic="partner.permits"',
                                          f'laneway:topic="{topic}"')
        assert topic in xml
        lw.deploy(xml.encode(), name="topic.bpmn")
        schedule = schedule_of(lw, PROCESS)
        assert schedule["type"] == "topic", schedule
        # the first poll records where the topic ends
        wait_until(lambda: _cursor(lw, schedule["id"]).get("offsets") == {"0": 1}, 60,
                   message="the first poll's cursor at the topic's end")

        # when the partner files a permit, and files it again by mistake
        permit = {"permitId": "P-2026-0042", "address": "Quay Street 4", "kind": "extension"}
        _produce(lw, topic, permit, permit)

        # then one instance starts, with the record's variables, by the trigger's principal
        [instance] = wait_instances(lw, PROCESS, 1)
        wait_until(lambda: _cursor(lw, schedule["id"]).get("offsets") == {"0": 3}, 60,
                   message="both records read")
        # (the fires are saved with the cursor: the second record's start was not sent)
        with lw.api() as api:
            assert api.get(f"/api/schedules/{schedule['id']}").json()["firesTotal"] == 1
        assert len(instances_of(lw, PROCESS)) == 1
        variables = instance["variables"]
        assert variables["record"] == permit
        assert (variables["topic"], variables["partition"], variables["offset"]) == (
            topic, 0, 1)
        assert variables["key"] == "P-2026-0042"
        event = first_event(lw, instance["instanceId"])
        assert event["principal"]["id"] == f"trigger:topic:{schedule['id']}"
        trigger = event["value"]["trigger"]
        assert trigger["dedupKey"] == "field:P-2026-0042"
        assert trigger["item"] == {"topic": topic, "partition": 0, "offset": 1,
                                   "key": "P-2026-0042"}
    finally:
        admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=30)
