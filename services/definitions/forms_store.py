"""The form registry's SQL (`form_schemas`) and the start form of each authorized process.

`FormStore(pool).get(form_id)` is what task completions validate against (the worklist
imports it); `StartForms` answers "which version does a public submission start, and which
form does its start event name", parsing each version's XML once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from laneway.bpmn import STORED_LIMITS, parse
from laneway.forms import start_form
from laneway.records import Principal


@dataclass(frozen=True, slots=True)
class StoredForm:
    """A form schema as stored, with who uploaded it last and when."""

    form_id: str
    schema: dict[str, Any]
    updated_at: datetime
    updated_by: dict[str, Any]


class FormStore:
    """Form schemas by id in PostgreSQL."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def get(self, form_id: str) -> dict[str, Any] | None:
        """The schema stored under `form_id`, None when there is none."""
        stored = self.get_stored(form_id)
        return None if stored is None else stored.schema

    def get_stored(self, form_id: str) -> StoredForm | None:
        """The schema under `form_id` with its upload metadata, None when there is none."""
        with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(StoredForm))
            return cur.execute(
                "SELECT form_id, schema, updated_at, updated_by FROM form_schemas"
                " WHERE form_id = %s", (form_id,)).fetchone()

    def put(self, form_id: str, schema: dict[str, Any], principal: Principal) -> bool:
        """Store `schema` under `form_id`; True when the id is new, False when replaced."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO form_schemas (form_id, schema, updated_by) VALUES (%s, %s, %s)"
                " ON CONFLICT (form_id) DO UPDATE SET schema = EXCLUDED.schema,"
                " updated_by = EXCLUDED.updated_by, updated_at = now()"
                # xmax is 0 on a freshly inserted row, the updating transaction's id otherwise
                " RETURNING xmax = 0",
                (form_id, Jsonb(schema), Jsonb(principal.to_dict()))).fetchone()
        assert row is not None  # INSERT ... RETURNING gives its row
        return bool(row[0])

    def ids(self) -> list[str]:
        """Every stored form id, sorted."""
        with self._pool.connection() as conn:
            rows = conn.execute("SELECT form_id FROM form_schemas ORDER BY form_id").fetchall()
        return [str(r[0]) for r in rows]


@dataclass(frozen=True, slots=True)
class StartTarget:
    """A version a submission may start, the form its none start event names, and the
    process's name."""

    version: int
    form_id: str | None
    name: str | None = None


class StartForms:
    """The start form of a process version, and the newest AUTHORIZED version of a process.

    The version is looked up on every call (a new authorization takes effect at once); the
    form of a (process, version) is read from its XML once and kept: a stored version's XML
    never changes.
    """

    def __init__(self, pool: ConnectionPool, max_entries: int = 1024) -> None:
        self._pool = pool
        self._max = max_entries
        self._forms: OrderedDict[tuple[str, int], StartTarget] = OrderedDict()
        self._lock = threading.Lock()  # routes run in FastAPI's thread pool

    def newest_authorized(self, process_id: str) -> StartTarget | None:
        """The newest AUTHORIZED version and its start form; None when none is authorized."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT max(version) FROM definitions"
                " WHERE process_id = %s AND state = 'AUTHORIZED'", (process_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        return self.of_version(process_id, int(row[0]))

    def of_version(self, process_id: str, version: int) -> StartTarget | None:
        """The start form of a version in any state; None when the version does not exist."""
        key = (process_id, version)
        with self._lock:
            if key in self._forms:
                self._forms.move_to_end(key)
                return self._forms[key]
        target = self._read(process_id, version)
        if target is None:
            return None
        with self._lock:
            self._forms[key] = target
            while len(self._forms) > self._max:
                self._forms.popitem(last=False)
        return target

    def _read(self, process_id: str, version: int) -> StartTarget | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT xml, file_name FROM definitions WHERE process_id = %s AND version = %s",
                (process_id, version)).fetchone()
        if row is None:
            return None
        # the XML was checked at deploy, so it parses (within the widest limits); the file
        # may hold several processes
        process = parse(bytes(row[0]), str(row[1]), STORED_LIMITS).process(process_id)
        return StartTarget(version, start_form(process), process.name or None)
