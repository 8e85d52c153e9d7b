"""The per-instance hash chain of the audit log: hashing and verification, no database.

Each row of an instance's log stores the hash of the row before it (`ZERO_HASH` for seq 1)
and its own hash: SHA-256 over the canonical serialisation of the row's content and that
previous hash. Changing a row's content changes its hash; deleting or inserting a row breaks
the numbering or the link; so `verify_chain` names the first row that does not match.

The canonical serialisation is compact JSON with sorted keys and ASCII escapes. Numbers are
hashed by value (an integral float as the integer), because PostgreSQL's `jsonb` keeps numbers
as `numeric`: `1e16` written as a float reads back as the integer `10000000000000000`, and the
hash has to be recomputable from what the database gives back.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from laneway.jsonb import jsonb_safe

__all__ = [
    "ZERO_HASH",
    "ChainRow",
    "Verification",
    "canonical",
    "canonical_texts",
    "hash_of",
    "json_texts",
    "link",
    "row_hash",
    "verify_chain",
]

ZERO_HASH = "0" * 64
"""The previous hash of an instance's first row."""


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One row of an instance's audit log, as hashed: the record's envelope and its place."""

    instance_id: str
    """The process instance whose log this row is in."""
    seq: int
    """Position in the instance's log, from 1, without gaps."""
    record_id: str
    """The record's id (unique over the whole log)."""
    kind: str
    """`EVENT` or `REJECTION` (or `COMMAND`, should one ever be logged)."""
    intent: str
    """The event or command name."""
    element_id: str
    """The BPMN element the record is about ("" for none)."""
    element_type: str
    """That element's type ("" for none)."""
    token_id: int
    """The element instance key."""
    scope_id: int
    """The key of the element instance's flow scope."""
    principal: Mapping[str, Any]
    """Who acted: `{kind, id, roles, claims}`."""
    value: Mapping[str, Any]
    """The record's typed value."""
    timestamp: int
    """The record's timestamp, epoch milliseconds."""
    prev_hash: str
    """The hash of row `seq - 1` (`ZERO_HASH` for seq 1)."""
    hash: str = ""
    """This row's hash, as stored (empty while it is being computed)."""


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of checking one instance's chain."""

    ok: bool
    """Every row matches its hash and links to the row before it."""
    rows: int
    """How many rows were read."""
    first_bad_seq: int | None = None
    """The first seq that does not match (for a deleted row: the missing seq)."""
    reason: str | None = None
    """What is wrong there, in words."""
    check: str | None = None
    """Which check failed: `sequence`, `instance`, `link`, `content` (the chain), or
    `checkpoint`, `signature`, `cut`, `unanchored`, `head` (its signed head, `anchor.py`)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the HTTP API returns."""
        return {"ok": self.ok, "rows": self.rows, "firstBadSeq": self.first_bad_seq,
                "reason": self.reason, "check": self.check}


def _number_by_value(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _number_by_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_number_by_value(v) for v in value]
    return value


# Built once: json.dumps with options builds a new encoder on every call. allow_nan=False: a
# NaN or infinity raises, and json_texts takes the slow path.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                            allow_nan=False)
_dumps = _ENCODER.encode
_string = encode_basestring_ascii


# The repr of an integral float: "2.0" (a ".0" not followed by a digit) or "1e+16". A string
# that happens to contain either only costs the slower, exact path.
_INTEGRAL_FLOAT = re.compile(r"\.0(?![0-9])|e\+")


def json_texts(value: Any) -> tuple[str, str]:
    """(stored, hashed): `value` as JSON text for a `jsonb` column (`jsonb_safe` applied),
    and the text its hash is taken over (the same, with numbers by value).

    One `json.dumps` in the common case: the recursive walks run only when the text shows
    they would change something.
    """
    try:
        text = _dumps(value)
    except ValueError:
        value = jsonb_safe(value)
        text = _dumps(value)
    else:
        if "\\u0000" in text:
            value = jsonb_safe(value)
            text = _dumps(value)
    hashed = _dumps(_number_by_value(value)) if _INTEGRAL_FLOAT.search(text) else text
    return text, hashed


def canonical_texts(instance_id: str, seq: int, record_id: str, kind: str, intent: str,
                    element_id: str, element_type: str, token_id: int, scope_id: int,
                    principal_text: str, value_text: str, timestamp: int, prev_hash: str
                    ) -> bytes:
    """The canonical bytes from the hashed JSON texts of the principal and value (see
    `json_texts`): sorted keys, compact, ASCII, built without re-serialising the value."""
    d = _string
    return (
        f'{{"elementId":{d(element_id)},"elementType":{d(element_type)},'
        f'"instanceId":{d(instance_id)},"intent":{d(intent)},"kind":{d(kind)},'
        f'"prevHash":{d(prev_hash)},"principal":{principal_text},"recordId":{d(record_id)},'
        f'"scopeId":{int(scope_id)},"seq":{int(seq)},"timestamp":{int(timestamp)},'
        f'"tokenId":{int(token_id)},"value":{value_text}}}'
    ).encode("ascii")


def canonical(row: ChainRow) -> bytes:
    """The bytes a row's hash is taken over: every content field and the previous hash, as
    compact JSON with sorted keys."""
    return canonical_texts(row.instance_id, row.seq, row.record_id, row.kind, row.intent,
                           row.element_id, row.element_type, row.token_id, row.scope_id,
                           json_texts(row.principal)[1], json_texts(row.value)[1],
                           row.timestamp, row.prev_hash)


def hash_of(canonical_bytes: bytes) -> str:
    """The hex SHA-256 of canonical bytes."""
    return hashlib.sha256(canonical_bytes).hexdigest()


def row_hash(row: ChainRow) -> str:
    """The hex SHA-256 a row must store."""
    return hash_of(canonical(row))


def link(rows: Iterable[ChainRow], prev_hash: str = ZERO_HASH) -> list[ChainRow]:
    """Chain rows (numbered already, in order): set each one's `prev_hash` and `hash`."""
    out: list[ChainRow] = []
    for row in rows:
        linked = _with_hashes(row, prev_hash)
        out.append(linked)
        prev_hash = linked.hash
    return out


def _with_hashes(row: ChainRow, prev_hash: str) -> ChainRow:
    unhashed = ChainRow(row.instance_id, row.seq, row.record_id, row.kind, row.intent,
                        row.element_id, row.element_type, row.token_id, row.scope_id,
                        row.principal, row.value, row.timestamp, prev_hash)
    return ChainRow(row.instance_id, row.seq, row.record_id, row.kind, row.intent,
                    row.element_id, row.element_type, row.token_id, row.scope_id,
                    row.principal, row.value, row.timestamp, prev_hash, row_hash(unhashed))


def verify_chain(rows: Iterable[ChainRow]) -> Verification:
    """Check an instance's rows, read in seq order; stop at the first that does not match.

    Reported, in this order of checks per row: a seq that is not the next one (a lower or
    repeated seq: a duplicate or reordered row; a higher one: the rows in between were
    deleted), a row of another instance, a previous hash that is not the stored hash of the
    row before (a broken link: a row was inserted, replaced or re-linked), and a stored hash
    that is not the hash of the row's content (the content was changed).
    """
    expected_seq = 1
    prev_hash = ZERO_HASH
    instance_id: str | None = None
    count = 0
    for row in rows:
        count += 1
        if instance_id is None:
            instance_id = row.instance_id
        if row.seq < expected_seq:
            return Verification(False, count, row.seq,
                                f"seq {row.seq} appears again after seq {expected_seq - 1}: "
                                "a duplicate or reordered row", "sequence")
        if row.seq > expected_seq:
            missing = (f"seq {expected_seq}" if row.seq == expected_seq + 1
                       else f"seqs {expected_seq} to {row.seq - 1}")
            return Verification(False, count, expected_seq,
                                f"expected seq {expected_seq}, but the next row is seq "
                                f"{row.seq}: {missing} missing (deleted)", "sequence")
        if row.instance_id != instance_id:
            return Verification(False, count, row.seq,
                                f"expected a row of instance '{instance_id}', but seq "
                                f"{row.seq} is of '{row.instance_id}'", "instance")
        if row.prev_hash != prev_hash:
            return Verification(False, count, row.seq,
                                f"seq {row.seq} does not link to the row before it: its "
                                "previous hash is not that row's hash", "link")
        if row_hash(row) != row.hash:
            return Verification(False, count, row.seq,
                                f"seq {row.seq} was changed: its content does not match its "
                                "hash", "content")
        prev_hash = row.hash
        expected_seq += 1
    return Verification(True, count)
