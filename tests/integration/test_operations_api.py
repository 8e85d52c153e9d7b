"""An operator's operations through the API against the real Kafka and PostgreSQL: set
variables, modify, migrate one instance, and a migration batch with its progress.

The engine service is not involved: the tests assert on the commands the API writes to
Kafka, and write the engine's answers (an INSTANCE_MIGRATED event, a rejection) into the
audit log themselves, as the audit sink would, to follow a batch's progress.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from laneway.codec import decode_record
from laneway.records import Command, Record
from scripts.stack import Connections
from scripts.stack.testing import unique_name
from services.audit.chain import ZERO_HASH
from tests.auth import auth_header
from tests.integration.api_harness import Api, running_api
from tests.integration.test_api import diagram, read_topic
from tests.lifecycle import AUTHOR, authorize

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

OPERATOR = auth_header("olga", roles=["operator"])
CLERK = auth_header("carl", roles=["clerk"])


@pytest.fixture(scope="module")
def api(stack: Connections) -> Iterator[Api]:
    with running_api(stack, "test.ops", Api, headers=AUTHOR) as api:
        yield api


def _deployed(api: Api, versions: int = 2) -> str:
    pid = f"p_{uuid.uuid4().hex[:10]}"
    for n in range(1, versions + 1):
        response = api.client.post("/api/definitions", content=diagram(pid, name=f"v{n}"),
                                   headers={"content-type": "application/xml"})
        assert response.status_code in (200, 201), response.text
        authorize(api.client, pid, n)
    return pid


def _instance(api: Api, pid: str, version: int = 1, status: str = "ACTIVE") -> str:
    iid = str(uuid.uuid4())
    api.execute("INSERT INTO instances (instance_id, process_id, version, status,"
                " active_elements, variables, incidents, updated_at, last_partition,"
                " last_offset) VALUES (%s, %s, %s, %s, '[]', '{}', '[]', now(), 0, 0)",
                iid, pid, version, status)
    return iid


def _commands(api: Api, iids: set[str], intent: Command) -> dict[str, Record]:
    """The command of `intent` the API sent to each instance (waits for all)."""
    def found(records: list[tuple[str, bytes | None, int, int]]) -> dict[str, Record]:
        out: dict[str, Record] = {}
        for key, value, _, _ in records:
            if key in iids and value is not None:
                rec = decode_record(value)
                if rec.intent == intent.value:
                    out[key] = rec
        return out

    records = read_topic(api.conns.kafka_bootstrap_servers, api.topics.commands,
                         lambda rs: set(found(rs)) == iids)
    return found(records)


def _answer(api: Api, iid: str, record_id: str, kind: str, intent: str,
            value: dict[str, Any]) -> None:
    seq = api.sql("SELECT coalesce(max(seq), 0) + 1 FROM audit_log WHERE instance_id = %s",
                  iid)[0][0]
    api.execute(
        "INSERT INTO audit_log (instance_id, seq, record_id, kind, intent, element_id,"
        " element_type, token_id, scope_id, principal, value, event_time, written_at,"
        " source_topic, source_partition, source_offset, prev_hash, hash) VALUES (%s, %s, %s,"
        " %s, %s, 'p', 'process', 1, 0, %s, %s, now(), now(), 't', 0, 0, %s, %s)",
        iid, seq, record_id, kind, intent, json.dumps({"kind": "human", "id": "olga"}),
        json.dumps(value), ZERO_HASH, ZERO_HASH)


def test_set_variables_and_modify_send_their_commands_as_the_operator(api: Api) -> None:
    pid = _deployed(api, 1)
    iid = _instance(api, pid)
    sent = api.client.post(f"/api/instances/{iid}/variables",
                           json={"variables": {"x": 1}, "scopeKey": 3, "local": True},
                           headers=OPERATOR)
    assert sent.status_code == 202, sent.text
    [cmd] = _commands(api, {iid}, Command.SET_VARIABLES).values()
    assert (cmd.intent, dict(cmd.value)) == (Command.SET_VARIABLES.value,
                                             {"variables": {"x": 1}, "scopeKey": 3,
                                              "local": True})
    assert cmd.principal.id == "olga"
    assert cmd.record_id == sent.json()["commandId"]
    modified = api.client.post(f"/api/instances/{iid}/modification", json={"instructions": [
        {"type": "MOVE", "fromElementId": "review", "elementId": "done"},
        {"type": "TERMINATE", "elementInstanceKey": 4}]}, headers=OPERATOR)
    assert modified.status_code == 202, modified.text
    cmd = _commands(api, {iid}, Command.MODIFY_INSTANCE)[iid]
    assert cmd.intent == Command.MODIFY_INSTANCE.value
    assert cmd.value["instructions"] == [
        {"type": "MOVE", "fromElementId": "review", "elementId": "done"},
        {"type": "TERMINATE", "elementInstanceKey": 4}]


def test_operations_are_refused_with_4xx_before_any_command(api: Api) -> None:
    pid = _deployed(api, 1)
    iid = _instance(api, pid)
    body = {"variables": {"x": 1}}
    # a clerk is not an operator; an instance nobody has seen is not there
    assert api.client.post(f"/api/instances/{iid}/variables", json=body,
                           headers=CLERK).status_code == 403
    assert api.client.post(f"/api/instances/{uuid.uuid4()}/variables", json=body,
                           headers=OPERATOR).status_code == 404
    assert api.client.post(f"/api/instances/{iid}/variables", json={"variables": {}},
                           headers=OPERATOR).status_code == 422
    assert api.client.post(f"/api/instances/{iid}/modification", json={"instructions": [
        {"type": "JUMP"}]}, headers=OPERATOR).status_code == 422
    # a target version that does not exist, or is not AUTHORIZED
    assert api.client.post(f"/api/instances/{iid}/migration", json={"targetVersion": 9},
                           headers=OPERATOR).status_code == 404
    draft = api.client.post("/api/definitions", content=diagram(pid, name="v2"),
                            headers={"content-type": "application/xml"})
    assert draft.status_code in (200, 201)
    refused = api.client.post(f"/api/instances/{iid}/migration", json={"targetVersion": 2},
                              headers=OPERATOR)
    assert refused.status_code == 409
    assert "AUTHORIZED" in refused.json()["detail"]


def test_a_migration_batch_sends_one_command_each_and_shows_its_progress(api: Api) -> None:
    pid = _deployed(api, 2)
    first, second = _instance(api, pid), _instance(api, pid, status="INCIDENT")
    _instance(api, pid, status="COMPLETED")  # ended: not in the batch
    _instance(api, pid, version=2)  # another version: not in the batch
    created = api.client.post("/api/migrations", json={
        "processId": pid, "targetVersion": 2, "sourceVersion": 1,
        "mappings": {"review": "review"}}, headers=OPERATOR)
    assert created.status_code == 201, created.text
    batch = created.json()
    assert (batch["total"], batch["done"], batch["refused"], batch["pending"]) == (2, 0, 0, 2)
    assert {i["instanceId"] for i in batch["items"]} == {first, second}
    commands = _commands(api, {first, second}, Command.MIGRATE_INSTANCE)
    for iid in (first, second):
        assert commands[iid].intent == Command.MIGRATE_INSTANCE.value
        assert commands[iid].value["targetVersion"] == 2
        assert commands[iid].principal.id == "olga"
    # the engine migrates the first and refuses the second (as the audit log has them)
    _answer(api, first, f"{commands[first].record_id}.0", "EVENT", "INSTANCE_MIGRATED",
            {"sourceVersion": 1, "targetVersion": 2})
    _answer(api, second, f"{commands[second].record_id}.r0@commands-0-1", "REJECTION",
            "MIGRATE_INSTANCE", {"rejectionType": "INVALID_STATE",
                                 "reason": "Expected every active element to map"})
    progress = api.client.get(f"/api/migrations/{batch['batchId']}", headers=OPERATOR)
    assert progress.status_code == 200, progress.text
    seen = progress.json()
    assert (seen["done"], seen["refused"], seen["pending"]) == (1, 1, 0)
    by_id = {i["instanceId"]: i for i in seen["items"]}
    assert by_id[first]["state"] == "DONE"
    assert by_id[second]["state"] == "REFUSED"
    assert by_id[second]["reason"].startswith("Expected every active element")
    # a batch over named instances refuses the ones that are not the process's at once
    stranger = str(uuid.uuid4())
    named = api.client.post("/api/migrations", json={
        "processId": pid, "targetVersion": 2, "instanceIds": [first, stranger]},
        headers=OPERATOR).json()
    assert (named["total"], named["refused"], named["pending"]) == (2, 1, 1)
    assert api.client.get(f"/api/migrations/{unique_name('nobatch')}",
                          headers=OPERATOR).status_code == 404
    assert api.client.get(f"/api/migrations/{batch['batchId']}",
                          headers=CLERK).status_code == 403


def test_the_engine_answer_to_an_operation_is_read_by_its_command_id(api: Api) -> None:
    """GET /api/instances/{id}/commands/{commandId}: PENDING until the audit log has the
    command's first record, then DONE (its first event) or REFUSED with the reason."""
    pid = _deployed(api, 1)
    iid = _instance(api, pid)
    sent = api.client.post(f"/api/instances/{iid}/variables", json={"variables": {"x": 1}},
                           headers=OPERATOR)
    cancelled = api.client.post(f"/api/instances/{iid}/cancel", headers=OPERATOR)
    assert (sent.status_code, cancelled.status_code) == (202, 202), cancelled.text
    done_id, refused_id = sent.json()["commandId"], cancelled.json()["commandId"]
    assert _commands(api, {iid}, Command.CANCEL_INSTANCE)[iid].record_id == refused_id

    def outcome(cid: str, headers: dict[str, str] = OPERATOR) -> Any:
        return api.client.get(f"/api/instances/{iid}/commands/{cid}", headers=headers)

    pending = outcome(done_id)
    assert pending.status_code == 200, pending.text
    assert pending.json() == {"instanceId": iid, "commandId": done_id, "state": "PENDING",
                              "intent": None, "seq": None, "rejectionType": None,
                              "reason": None}
    # another command's records (one whose id merely begins the same) are not its answer
    _answer(api, iid, f"{done_id}x.0", "EVENT", "VARIABLES_UPDATED", {})
    assert outcome(done_id).json()["state"] == "PENDING"
    _answer(api, iid, f"{done_id}.0", "EVENT", "VARIABLES_UPDATED", {"variables": {"x": 1}})
    _answer(api, iid, f"{done_id}.1", "EVENT", "ELEMENT_ACTIVATED", {})
    done = outcome(done_id).json()
    assert (done["state"], done["intent"], done["reason"]) == ("DONE", "VARIABLES_UPDATED", None)
    _answer(api, iid, f"{refused_id}.r0@commands-0-7", "REJECTION", "CANCEL_INSTANCE",
            {"rejectionType": "INVALID_STATE", "reason": "Expected an active instance"})
    refused = outcome(refused_id).json()
    assert (refused["state"], refused["intent"], refused["rejectionType"],
            refused["reason"]) == ("REFUSED", "CANCEL_INSTANCE", "INVALID_STATE",
                                   "Expected an active instance")
    # an auditor reads it too; a clerk does not; an id that is no command id is a 422, an
    # instance the log never saw a 404
    assert outcome(refused_id, auth_header("ida", roles=["auditor"])).status_code == 200
    assert outcome(refused_id, CLERK).status_code == 403
    assert outcome("a.b").status_code == 422
    unseen = api.client.get(f"/api/instances/{uuid.uuid4()}/commands/{done_id}",
                            headers=OPERATOR)
    assert unseen.status_code == 404
    assert unseen.headers["content-type"].startswith("application/problem+json")
