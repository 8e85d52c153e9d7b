"""The audit log is append-only for the role the sink writes with, and its signed heads make a
cut tail or a recomputed chain fail `verify` (docs/audit.md "Who may write"), against the real
PostgreSQL and Kafka.

The schema is migrated and the writer granted as the service does at start (the owner,
`DATABASE_URL`); the sink and the routes connect as the writer the settings derive
(`LANEWAY_AUDIT_DATABASE_URL`). Tampering is done as the owner with the maintenance switch:
what an administrator, or someone holding the owner's password, could do.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from psycopg import sql

from laneway.bpmn import LANEWAY_NS, parse
from laneway.codec import encode_record
from laneway.db import prepare_database
from laneway.engine import DefinitionRepository
from laneway.engine.runner import Answers, LocalRunner
from laneway.health import HealthChecks
from laneway.kafka import consumer_config, producer_config
from laneway.records import Record
from laneway.topics import Topics
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from services.audit.anchor import HeadSigner
from services.audit.app import create_app
from services.audit.chain import link
from services.audit.db import connect, migrate_and_grant, open_pool
from services.audit.deps import AuditDeps
from services.audit.metrics import SinkMetrics
from services.audit.queries import rows
from services.audit.settings import load_settings
from services.audit.sink import AuditSink
from tests.auth import auth_header, verifier

pytestmark = pytest.mark.integration

SIGNER = HeadSigner(secrets.token_bytes(32))
AUDITOR = auth_header("audrey", roles=["auditor"])

SMALL = (f'<?xml version="1.0" encoding="UTF-8"?><definitions '
         f'xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:laneway="{LANEWAY_NS}" '
         'id="d" targetNamespace="http://laneway.test">'
         '<process id="small" isExecutable="true">'
         '<startEvent id="s"/><serviceTask id="t" laneway:type="w"/><endEvent id="e"/>'
         '<sequenceFlow id="f1" sourceRef="s" targetRef="t"/>'
         '<sequenceFlow id="f2" sourceRef="t" targetRef="e"/>'
         '</process></definitions>').encode()


@dataclasses.dataclass
class Log:
    """This module's topics, schema, the writer's DSN, the sink and the API."""

    stack: Connections
    topics: Topics
    schema: str
    writer_url: str
    api: TestClient
    producer: Producer

    def owner(self) -> psycopg.Connection[Any]:
        return connect(self.stack.database_url, self.schema, autocommit=True)

    def writer(self) -> psycopg.Connection[Any]:
        return connect(self.writer_url, self.schema, autocommit=True)

    def instance(self) -> tuple[str, int]:
        """A small instance run to its end, written by the sink: its id and row count."""
        repository = DefinitionRepository()
        repository.deploy(parse(SMALL, "small.bpmn"))
        runner = LocalRunner(repository, keep_records=True)
        tag = uuid.uuid4().hex[:8]
        iid = runner.start("small", {}, instance_id=str(uuid.uuid4()))
        runner.run(iid, Answers(auto_jobs=True))
        records = [dataclasses.replace(r, record_id=f"{tag}-{r.record_id}")
                   for r in runner.records if r.instance_id == iid]
        self._produce(records)
        wait_until(lambda: self._count(iid) == len(records), 30, message=f"{iid} written")
        assert self.verify(iid)["ok"] is True
        return iid, len(records)

    def verify(self, iid: str) -> dict[str, Any]:
        response = self.api.get(f"/api/instances/{iid}/verify")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def _produce(self, records: list[Record]) -> None:
        for rec in records:
            self.producer.produce(self.topics.events, key=rec.instance_id.encode(),
                                  value=encode_record(rec))
        assert self.producer.flush(30) == 0

    def _count(self, iid: str) -> int:
        with self.owner() as conn:
            row = conn.execute("SELECT count(*) FROM audit_log WHERE instance_id = %s",
                               (iid,)).fetchone()
        return int(row[0]) if row else 0


@pytest.fixture(scope="module")
def log(stack: Connections) -> Iterator[Log]:
    topics = Topics(unique_name("audit-ao") + ".")
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
    for future in admin.create_topics([NewTopic(topics.events, 1, 1),
                                       NewTopic(topics.dlq, 1, 1)]).values():
        future.result(timeout=30)
    base = unique_name("auditao").replace("-", "_")
    settings = load_settings({**stack.env(), "LANEWAY_DB_SCHEMA": base})
    schema, writer_url = settings.database_schema, settings.writer_database_url
    # as the service starts: the owner migrates and grants the writer
    prepare_database(stack.database_url, schema, migrate_and_grant(writer_url), 30)
    sink = AuditSink(
        Consumer(consumer_config(stack.kafka_bootstrap_servers, f"{topics.prefix}audit")),
        Producer(producer_config(stack.kafka_bootstrap_servers)),
        lambda: connect(writer_url, schema), events_topic=topics.events,
        dlq_topic=topics.dlq, poll_timeout_s=0.05, metrics=SinkMetrics(CollectorRegistry()),
        signer=SIGNER)
    thread = threading.Thread(target=sink.run, name="audit-sink", daemon=True)
    thread.start()
    pool = open_pool(writer_url, schema)
    app = create_app(verifier(), HealthChecks("audit"), CollectorRegistry(),
                     AuditDeps(pool, SIGNER))
    producer = Producer(producer_config(stack.kafka_bootstrap_servers))
    try:
        yield Log(stack, topics, schema, writer_url, TestClient(app, headers=AUDITOR), producer)
    finally:
        sink.stop()
        thread.join(30)
        sink.close()
        pool.close()
        admin.delete_topics([topics.events, topics.dlq])
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


# -- the writer role ------------------------------------------------------------------------

REFUSED_TO_THE_WRITER = [
    "UPDATE audit_log SET value = '{}' WHERE instance_id = %(iid)s",
    "DELETE FROM audit_log WHERE instance_id = %(iid)s AND seq = %(last)s",
    "TRUNCATE audit_log",
    "ALTER TABLE audit_log DISABLE TRIGGER USER",
    "ALTER TABLE audit_log OWNER TO CURRENT_USER",
    "DROP TABLE audit_log",
    "UPDATE audit_heads SET seq = seq - 1 WHERE instance_id = %(iid)s",
    "DELETE FROM audit_heads WHERE instance_id = %(iid)s",
    "TRUNCATE audit_heads",
    "ALTER TABLE audit_heads DISABLE TRIGGER ALL",
]


@pytest.mark.parametrize("statement", REFUSED_TO_THE_WRITER)
@pytest.mark.parametrize("switch", [False, True], ids=["plain", "maintenance-switch-on"])
def test_the_writer_role_may_only_read_and_append(log: Log, statement: str,
                                                  switch: bool) -> None:
    iid, count = log.instance()
    with log.writer() as conn:
        # it reads the log (the routes, the sink's tails) and does not own it
        assert conn.execute("SELECT count(*) FROM audit_log WHERE instance_id = %s",
                            (iid,)).fetchone() == (count,)
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log' "
                             "AND schemaname = %s", (log.schema,)).fetchone()
        assert owner is not None
        assert owner[0] != conn.info.user
        if switch:  # any session may set a custom setting; for the writer it opens nothing
            conn.execute("SET laneway.audit_maintenance = on")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement, {"iid": iid, "last": count})
    assert log.verify(iid)["ok"] is True
    with log.owner() as conn:
        assert conn.execute("SELECT count(*) FROM audit_log WHERE instance_id = %s",
                            (iid,)).fetchone() == (count,)


# -- the signed head --------------------------------------------------------------------------

def _as_owner_in_maintenance(log: Log, statement: str, *params: Any) -> None:
    with log.owner() as conn, conn.transaction():
        conn.execute("SET LOCAL laneway.audit_maintenance = on")
        conn.execute(statement, params)


def test_a_cut_tail_fails_verify_naming_the_cut(log: Log) -> None:
    iid, count = log.instance()
    # when the owner deletes the completion row, the last of the log
    _as_owner_in_maintenance(log, "DELETE FROM audit_log WHERE instance_id = %s AND seq = %s",
                             iid, count)
    body = log.verify(iid)
    assert (body["ok"], body["check"], body["firstBadSeq"]) == (False, "cut", count), body
    assert f"log ends at seq {count - 1}" in body["reason"]
    # and a replay of the whole log says it is not verified; one up to a seq before the cut is
    replayed = log.api.get(f"/api/instances/{iid}/replay").json()
    assert replayed["verified"] is False
    assert log.api.get(f"/api/instances/{iid}/replay",
                       params={"upTo": count - 1}).json()["verified"] is True


def test_a_chain_rewritten_with_recomputed_hashes_fails_verify(log: Log) -> None:
    iid, count = log.instance()
    # when the owner changes row 2 and recomputes every hash after it, as the chain's code does
    with log.owner() as conn:
        stored = list(rows(conn, iid))
    forged = link([dataclasses.replace(stored[1], value={**stored[1].value, "forged": True}),
                   *stored[2:]], prev_hash=stored[0].hash)
    with log.owner() as conn, conn.transaction():
        conn.execute("SET LOCAL laneway.audit_maintenance = on")
        for row in forged:
            conn.execute("UPDATE audit_log SET value = %s::jsonb, prev_hash = %s, hash = %s "
                         "WHERE instance_id = %s AND seq = %s",
                         (psycopg.types.json.Jsonb(row.value), row.prev_hash, row.hash, iid,
                          row.seq))
    body = log.verify(iid)
    assert (body["ok"], body["check"], body["firstBadSeq"]) == (False, "head", count), body

    # and when the head is rewritten to match, without the key it cannot be signed
    forger = HeadSigner(secrets.token_bytes(32))
    _as_owner_in_maintenance(log, "UPDATE audit_heads SET hash = %s, mac = %s "
                             "WHERE instance_id = %s", forged[-1].hash,
                             forger.mac(iid, count, forged[-1].hash), iid)
    body = log.verify(iid)
    assert (body["ok"], body["check"]) == (False, "signature"), body


def test_rows_past_the_head_and_a_removed_head_fail_verify(log: Log) -> None:
    iid, count = log.instance()
    # when the owner appends a well-linked row the sink never wrote
    with log.owner() as conn:
        stored = list(rows(conn, iid))
    [extra] = link([dataclasses.replace(stored[-1], seq=count + 1, record_id=f"{iid}-extra")],
                   prev_hash=stored[-1].hash)
    with log.owner() as conn:
        conn.execute(
            "INSERT INTO audit_log (instance_id, seq, record_id, kind, intent, element_id, "
            "element_type, token_id, scope_id, principal, value, event_time, source_topic, "
            "source_partition, source_offset, prev_hash, hash) SELECT instance_id, %s, %s, "
            "kind, intent, element_id, element_type, token_id, scope_id, principal, value, "
            "event_time, source_topic, source_partition, source_offset, %s, %s "
            "FROM audit_log WHERE instance_id = %s AND seq = %s",
            (extra.seq, extra.record_id, extra.prev_hash, extra.hash, iid, count))
    body = log.verify(iid)
    assert (body["ok"], body["check"], body["firstBadSeq"]) == (False, "unanchored",
                                                                count + 1), body

    # and when the head is removed
    _as_owner_in_maintenance(log, "DELETE FROM audit_heads WHERE instance_id = %s", iid)
    body = log.verify(iid)
    assert (body["ok"], body["check"]) == (False, "checkpoint"), body
