"""Taking a definition version through its lifecycle: one transition per call, under a lock on
the version's row, then the publishes it causes.

Order, as for deploys (deploy.py): the database commit first (state, transition, personas),
the Kafka publishes second: the definition record when the version becomes AUTHORIZED or
RETIRED, and the transition's audit record (DEFINITION_TRANSITIONED on `events`). If a publish
fails after the commit the caller gets 503, and two things repair it: the caller's retry (the
same transition by the same principal answers 200 with the current state and publishes again)
and the start of the service (`publisher.republish_missing`, `Lifecycle.send_unsent_audit`).
Both records are keyed and identified by the transition, so a repeat changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from laneway.bpmn import STORED_LIMITS, parse
from laneway.model import Process
from laneway.problems import Problem
from laneway.publisher import Publisher
from laneway.records import Principal, Record
from services.definitions.lifecycle import (
    PUBLISHED,
    State,
    TransitionRefused,
    check,
    transition_record,
)
from services.definitions.store import DefinitionStore, missing_version

_log = logging.getLogger(__name__)

MissingPersonas = Callable[[Process, Mapping[str, str]], Sequence[Problem]]
"""`laneway.engine.check.missing_personas`: a problem per lane holding a user task that has no
persona, neither its `laneway:persona` nor one from the mapping."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where a version is after a transition request."""

    process_id: str
    version: int
    state: State
    lane_personas: dict[str, str]
    applied: bool
    """False when the request repeated the last transition (a retry): nothing changed."""


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One step of a version's life: the deploy (from_state None, seq 0), then each
    transition."""

    seq: int
    from_state: str | None
    to_state: str
    principal: dict[str, Any]
    comment: str | None
    at: datetime


def _millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class Lifecycle:
    """Transitions and history of definition versions."""

    def __init__(self, pool: ConnectionPool, store: DefinitionStore, publisher: Publisher,
                 missing_personas: MissingPersonas) -> None:
        self._pool = pool
        self._store = store
        self._publisher = publisher
        self._missing_personas = missing_personas

    def transition(self, process_id: str, version: int, to: State, principal: Principal,
                   comment: str | None = None,
                   personas: Mapping[str, str] | None = None) -> Outcome:
        """Apply `to` if the rules allow it (raises TransitionRefused), then publish what it
        causes (raises PublishError when Kafka did not acknowledge: retry the same request)."""
        with self._pool.connection() as conn, conn.transaction():
            outcome = self._apply(conn, process_id, version, to, principal, comment, personas)
        self._publish(process_id, version, outcome.state)
        return outcome

    def _apply(self, conn: Connection[Any], process_id: str, version: int, to: State,
               principal: Principal, comment: str | None,
               personas: Mapping[str, str] | None) -> Outcome:
        # the row lock makes concurrent transitions of one version take turns: the second
        # sees the first's state and is refused (or is the first's retry)
        row = conn.execute(
            "SELECT state, deployed_by, xml, lane_personas FROM definitions"
            " WHERE process_id = %s AND version = %s FOR UPDATE", (process_id, version),
        ).fetchone()
        if row is None:
            raise TransitionRefused(404, missing_version(
                process_id, version, self._store.versions(process_id)))
        current, author_id = State(row[0]), str(row[1].get("id", ""))
        xml, mapping = bytes(row[2]), dict(row[3])
        last = conn.execute(
            "SELECT seq, to_state, principal FROM definition_transitions"
            " WHERE process_id = %s AND version = %s ORDER BY seq DESC LIMIT 1",
            (process_id, version),
        ).fetchone()
        if (last is not None and current is to and last[1] == to.value
                and last[2].get("id") == principal.id):
            return Outcome(process_id, version, current, mapping, applied=False)
        check(current, to, principal, author_id, personas is not None)
        if personas is not None:
            mapping = self._checked_personas(xml, process_id, personas)
        if to is State.AUTHORIZED:
            self._refuse_missing_personas(xml, process_id, mapping)
        seq = (int(last[0]) if last is not None else 0) + 1
        conn.execute(
            "INSERT INTO definition_transitions"
            " (process_id, version, seq, from_state, to_state, principal, comment)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (process_id, version, seq, current.value, to.value, Jsonb(principal.to_dict()),
             comment))
        conn.execute(
            "UPDATE definitions SET state = %s, lane_personas = %s"
            " WHERE process_id = %s AND version = %s",
            (to.value, Jsonb(mapping), process_id, version))
        return Outcome(process_id, version, to, mapping, applied=True)

    def _checked_personas(self, xml: bytes, process_id: str,
                          personas: Mapping[str, str]) -> dict[str, str]:
        lanes = {lane.id for lane in _process(xml, process_id).all_lanes()}
        unknown = sorted(set(personas) - lanes)
        if unknown:
            raise TransitionRefused(422, f"Expected lane ids of process '{process_id}' "
                                         f"({', '.join(sorted(lanes)) or 'it has no lanes'}) "
                                         f"in `personas`, but got {unknown}")
        blank = sorted(lane for lane, persona in personas.items() if not persona.strip())
        if blank:
            raise TransitionRefused(422, f"Expected a persona name for every lane in "
                                         f"`personas`, but {blank} have an empty one")
        return {lane: persona.strip() for lane, persona in personas.items()}

    def _refuse_missing_personas(self, xml: bytes, process_id: str,
                                 mapping: Mapping[str, str]) -> None:
        problems = self._missing_personas(_process(xml, process_id), mapping)
        if problems:
            raise TransitionRefused(409, "Expected a persona on every lane holding a user "
                                         "task before AUTHORIZED, but: "
                                         + "; ".join(f"[{p.element_id}] {p.message}"
                                                     if p.element_id else p.message
                                                     for p in problems)
                                         + ". Send the version back to DRAFT and approve it "
                                         "again with `personas`, or give the lanes "
                                         "laneway:persona")

    def _publish(self, process_id: str, version: int, state: State) -> None:
        if state in PUBLISHED:
            self._publisher.publish_definitions(self._store.records([(process_id, version)]))
        self.send_unsent_audit((process_id, version))

    def send_unsent_audit(self, only: tuple[str, int] | None = None) -> int:
        """Send the audit records Kafka has not acknowledged yet (of one version, or all):
        deploys and transitions, oldest first per version; mark them sent. Returns how many
        were sent."""
        key = {"pid": only[0] if only else None, "v": only[1] if only else None}
        with self._pool.connection() as conn:
            deploys = conn.execute(
                "SELECT process_id, version, deployed_by, deployed_at FROM definitions"
                " WHERE NOT deploy_audit_sent"
                " AND (%(pid)s::text IS NULL OR (process_id = %(pid)s AND version = %(v)s))",
                key).fetchall()
            rows = conn.execute(
                "SELECT process_id, version, seq, from_state, to_state, principal, comment, at"
                " FROM definition_transitions WHERE NOT audit_sent"
                " AND (%(pid)s::text IS NULL OR (process_id = %(pid)s AND version = %(v)s))"
                " ORDER BY process_id, version, seq", key,
            ).fetchall()
        if not rows and not deploys:
            return 0
        steps = [((pid, v, 0), transition_record(pid, v, 0, None, State.DRAFT,
                                                  Principal.from_dict(by), None, _millis(at)))
                 for pid, v, by, at in deploys]
        steps += [((pid, v, seq), transition_record(pid, v, seq, State(frm), State(to),
                                                    Principal.from_dict(by), comment,
                                                    _millis(at)))
                  for pid, v, seq, frm, to, by, comment, at in rows]
        records: list[Record] = [record for _, record in sorted(steps, key=lambda s: s[0])]
        self._publisher.send_events(records)
        with self._pool.connection() as conn:
            if deploys:
                conn.execute(
                    "UPDATE definitions SET deploy_audit_sent = true"
                    " FROM unnest(%s::text[], %s::int[]) AS k(process_id, version)"
                    " WHERE definitions.process_id = k.process_id"
                    " AND definitions.version = k.version",
                    ([d[0] for d in deploys], [d[1] for d in deploys]))
            conn.execute(
                "UPDATE definition_transitions SET audit_sent = true"
                " FROM unnest(%s::text[], %s::int[], %s::int[]) AS k(process_id, version, seq)"
                " WHERE definition_transitions.process_id = k.process_id"
                " AND definition_transitions.version = k.version"
                " AND definition_transitions.seq = k.seq",
                ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]))
        return len(records)

    def history(self, process_id: str, version: int) -> list[HistoryItem] | None:
        """The deploy, then every transition, oldest first; None for an unknown version."""
        with self._pool.connection() as conn:
            deployed = conn.execute(
                "SELECT deployed_by, deployed_at FROM definitions"
                " WHERE process_id = %s AND version = %s", (process_id, version),
            ).fetchone()
            if deployed is None:
                return None
            rows = conn.execute(
                "SELECT seq, from_state, to_state, principal, comment, at"
                " FROM definition_transitions WHERE process_id = %s AND version = %s"
                " ORDER BY seq", (process_id, version),
            ).fetchall()
        first = HistoryItem(0, None, State.DRAFT.value, dict(deployed[0]), None, deployed[1])
        return [first, *(HistoryItem(int(seq), frm, to, dict(by), comment, at)
                         for seq, frm, to, by, comment, at in rows)]


def _process(xml: bytes, process_id: str) -> Process:
    # the stored file passed every check at deploy, so it parses and holds the process (read
    # with the widest limits: the deploy's may have been set wider than the default)
    definitions = parse(xml, limits=STORED_LIMITS)
    return next(p for p in definitions.processes if p.id == process_id)
