"""The service's SQL: deployed definitions."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from laneway.codec import DefinitionRecord
from laneway.records import Principal


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A process of an uploaded file, checked and ready to store."""

    process_id: str
    name: str | None
    digest: str


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """A process version as stored (without its XML)."""

    process_id: str
    version: int
    name: str | None
    digest: str
    deployed_at: datetime
    state: str = "DRAFT"
    """The lifecycle state (`lifecycle.State`)."""
    author: str | None = None
    """The id of the principal who deployed the version first."""
    new: bool = False


_VERSION_COLUMNS = ("process_id, version, name, digest, deployed_at, state,"
                    " deployed_by ->> 'id' AS author")


class DefinitionStore:
    """Deployed process versions in PostgreSQL."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def store(self, versions: Sequence[NewVersion], xml: bytes, file_name: str,
              deployed_by: Principal) -> list[StoredVersion]:
        """Store the processes of one file in one transaction: a process whose digest is
        already stored keeps that version (`new` False); any other gets the next number."""
        out: list[StoredVersion] = []
        with self._pool.connection() as conn, conn.transaction():
            for v in versions:
                # serialises deploys of one process id, so two never take the same number
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                             (f"definitions:{v.process_id}",))
                cur = conn.cursor(row_factory=class_row(StoredVersion))
                found = cur.execute(
                    f"SELECT {_VERSION_COLUMNS} FROM definitions"
                    " WHERE process_id = %s AND digest = %s", (v.process_id, v.digest),
                ).fetchone()
                if found is not None:
                    out.append(found)
                    continue
                created = cur.execute(
                    "INSERT INTO definitions"
                    " (process_id, version, name, xml, file_name, digest, deployed_by)"
                    " SELECT %s, coalesce(max(version), 0) + 1, %s, %s, %s, %s, %s"
                    " FROM definitions WHERE process_id = %s"
                    f" RETURNING {_VERSION_COLUMNS}",
                    (v.process_id, v.name, xml, file_name, v.digest,
                     Jsonb(deployed_by.to_dict()), v.process_id),
                ).fetchone()
                assert created is not None  # INSERT ... RETURNING gives its row
                out.append(dataclasses.replace(created, new=True))
        return out

    def list_versions(self, process_id: str | None = None) -> list[StoredVersion]:
        """Every stored version, latest deploy first."""
        with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(StoredVersion))
            return cur.execute(
                f"SELECT {_VERSION_COLUMNS} FROM definitions"
                " WHERE %(pid)s::text IS NULL OR process_id = %(pid)s"
                " ORDER BY deployed_at DESC, process_id, version DESC",
                {"pid": process_id},
            ).fetchall()

    def xml(self, process_id: str, version: int) -> bytes | None:
        """The file a version was deployed from, byte for byte."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT xml FROM definitions WHERE process_id = %s AND version = %s",
                (process_id, version),
            ).fetchone()
        return None if row is None else bytes(row[0])

    def versions(self, process_id: str) -> list[int]:
        """The version numbers of a process, ascending (empty when it was never deployed)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT version FROM definitions WHERE process_id = %s ORDER BY version",
                (process_id,),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def states(self, process_id: str) -> dict[int, str]:
        """{version: lifecycle state} of a process (empty when it was never deployed)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT version, state FROM definitions WHERE process_id = %s ORDER BY version",
                (process_id,),
            ).fetchall()
        return {int(v): str(s) for v, s in rows}

    def published_states(self) -> dict[str, str]:
        """{`process id@version`: state} of every version that belongs on the `definitions`
        topic (AUTHORIZED or RETIRED): what the topic's last record of each key must say."""
        with self._pool.connection() as conn:
            rows = conn.execute("SELECT process_id, version, state FROM definitions"
                                " WHERE state IN ('AUTHORIZED', 'RETIRED')").fetchall()
        return {f"{pid}@{version}": str(state) for pid, version, state in rows}

    def running_versions(self) -> list[tuple[str, str, int]]:
        """(digest, process id, version) of every version the engine runs instances of
        (AUTHORIZED, and RETIRED: its instances go on)."""
        with self._pool.connection() as conn:
            rows = conn.execute("SELECT digest, process_id, version FROM definitions"
                                " WHERE state IN ('AUTHORIZED', 'RETIRED')").fetchall()
        return [(str(digest), str(pid), int(version)) for digest, pid, version in rows]

    def records(self, keys: Sequence[tuple[str, int]]) -> list[DefinitionRecord]:
        """The topic records of the given versions (those that exist)."""
        if not keys:
            return []
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT d.process_id, d.version, d.xml, d.digest, d.deployed_at, d.name,"
                " d.file_name, d.deployed_by, d.state, d.lane_personas"
                " FROM definitions d"
                " JOIN unnest(%s::text[], %s::int[]) AS k(process_id, version)"
                " USING (process_id, version)"
                " ORDER BY d.process_id, d.version",
                ([k[0] for k in keys], [k[1] for k in keys]),
            ).fetchall()
        return [definition_record(pid, version, bytes(xml), dig, deployed_at, name, file_name,
                                  Principal.from_dict(by), state, personas)
                for pid, version, xml, dig, deployed_at, name, file_name, by, state, personas
                in rows]


def missing_version(process_id: str, version: int | None, versions: list[int]) -> str:
    """Why a process version cannot be found, for a 404."""
    if not versions:
        return f"Expected a deployed process '{process_id}', but there is none"
    return (f"Expected version {version} of process '{process_id}', but it has "
            f"versions {versions}")


def definition_record(process_id: str, version: int, xml: bytes, digest: str,
                      deployed_at: datetime, name: str | None, file_name: str,
                      deployed_by: Principal, state: str,
                      lane_personas: Mapping[str, str]) -> DefinitionRecord:
    """The `definitions` topic record of a stored version; the same row always gives the
    same record, so a republish is indistinguishable from the first publish. Metadata:
    `file`, `name`, `state` (AUTHORIZED or RETIRED) and `persona:<laneId>` per mapped lane."""
    metadata = {"file": file_name, "state": state}
    if name:
        metadata["name"] = name
    for lane_id, persona in sorted(lane_personas.items()):
        metadata[f"persona:{lane_id}"] = persona
    return DefinitionRecord(process_id, version, xml, digest,
                            int(deployed_at.timestamp() * 1000), metadata, deployed_by)
