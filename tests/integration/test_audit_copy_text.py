"""The audit sink writes its rows as COPY text lines (services.audit.sink._Lines): texts with
the characters that format escapes (backslash, tab, newline, carriage return), non-ASCII
ids, and event times of one command shared by several rows come back from the log exactly as
recorded, in a chain that verifies; a text with a NUL is refused as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import psycopg
import pytest
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from laneway.consuming import Consumed, Polled
from laneway.records import Principal, PrincipalKind, Record, RecordKind
from scripts.stack import Connections
from services.audit.chain import verify_chain
from services.audit.db import connect
from services.audit.metrics import SinkMetrics
from services.audit.queries import rows
from services.audit.sink import AuditLogWriter
from tests.integration.test_audit import _migrated_schema

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

_AWKWARD = "a\\b\tc\nd\re \\n \\\\t é ☃ \x01"


@pytest.fixture
def schema(stack: Connections) -> Iterator[str]:
    name = _migrated_schema(stack)
    yield name
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _polled(records: list[Record]) -> list[Polled]:
    # tracing is off in tests: the writer does not read the message
    return [Consumed(rec, cast(Message, None), "events", 0, n) for n, rec in enumerate(records)]


def _write(conn: psycopg.Connection[Any], writer: AuditLogWriter, batch: list[Polled]) -> int:
    with conn.transaction():
        n = writer.write(conn, batch)
    writer.committed(batch, n)
    return n


def test_texts_that_copy_escapes_come_back_exactly_and_the_chain_verifies(
        stack: Connections, schema: str) -> None:
    iid = f"inst\t{uuid.uuid4()}\\é"
    who = Principal(PrincipalKind.HUMAN, "ana\nb", ("r\\1",), {"note": _AWKWARD, "n": 2.0})
    stamp = 1_767_229_200_123
    records = [Record(f"{uuid.uuid4()}\r{n}", RecordKind.EVENT, "ELEMENT_ACTIVATED", iid,
                      stamp if n < 2 else stamp + n, {"text": _AWKWARD, "n": n, "f": 1.5,
                                                      "list": [_AWKWARD, None, True]},
                      element_id=f"el\t{n}", element_type="TASK\\x", token_id=n,
                      scope_id=-n, principal=who) for n in range(3)]
    writer = AuditLogWriter(SinkMetrics(CollectorRegistry()))
    with connect(stack.database_url, schema) as conn:
        assert _write(conn, writer, _polled(records)) == 3
        stored = conn.execute(
            "SELECT seq, record_id, element_id, element_type, token_id, scope_id, principal, "
            "value, event_time, source_offset FROM audit_log WHERE instance_id = %s "
            "ORDER BY seq", (iid,)).fetchall()
        assert [(s, r, e, t, k, sc, v, ev, o) for s, r, e, t, k, sc, _, v, ev, o in stored] == [
            (n + 1, rec.record_id, rec.element_id, rec.element_type, rec.token_id,
             rec.scope_id, dict(rec.value),
             datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=rec.timestamp), n)
            for n, rec in enumerate(records)]
        assert stored[0][6] == {"kind": "human", "id": "ana\nb", "roles": ["r\\1"],
                                "claims": {"note": _AWKWARD, "n": 2.0}}
        assert verify_chain(rows(conn, iid)).ok


def test_a_text_with_a_nul_is_refused_and_nothing_is_written(
        stack: Connections, schema: str) -> None:
    iid = str(uuid.uuid4())
    records = [Record(str(uuid.uuid4()), RecordKind.EVENT, "ELEMENT_ACTIVATED", iid, 1,
                      {}, element_id="bad\x00id")]
    writer = AuditLogWriter(SinkMetrics(CollectorRegistry()))
    with connect(stack.database_url, schema) as conn:
        with pytest.raises(psycopg.DataError):
            _write(conn, writer, _polled(records))
        count = conn.execute("SELECT count(*) FROM audit_log WHERE instance_id = %s",
                             (iid,)).fetchone()
        assert count == (0,)
