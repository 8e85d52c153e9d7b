"""The audit sink's reader of `events` records: `decode_record`'s result, with the principal
read once per distinct principal.

The events of one command (and the commands of one caller) carry the same principal, whose
claims are a map: reading it, building its `Principal` and turning it into JSON texts was
about a quarter of the sink's CPU per row. Here the record is read with the codec's direct
readers (`laneway.codec.fast`, as `decode_record` reads it), and its principal's bytes are
looked up in a small cache of the principals read before: the same bytes are the same
principal, so the same `Principal` object is handed out, and the sink keeps the JSON texts of
that object (`principal_texts`). Anything this reader does not take (another schema version,
a body nested too deep, bytes that do not parse) goes to `decode_record`, which reads it or
raises (the record is then dead-lettered, as before).
"""

from __future__ import annotations

from confluent_kafka import Message

from laneway.codec import decode_record
from laneway.codec.codec import default_codec
from laneway.codec.fast import (
    HEADER_SIZE,
    Unusual,
    fast_readable,
    read_long,
    read_map,
    read_optional_string,
    read_principal,
    read_string,
)
from laneway.codec.typed import RECORD
from laneway.records import Principal, PrincipalKind, Record, RecordKind
from services.audit.chain import json_texts

__all__ = ["decode_event", "principal_texts"]

_KINDS = (RecordKind.COMMAND, RecordKind.EVENT, RecordKind.REJECTION)
_PRINCIPAL_KINDS = (PrincipalKind.HUMAN, PrincipalKind.AGENT, PrincipalKind.SYSTEM)
_CACHE_SIZE = 1024
"""At most this many principals (and their texts) are kept; the caches start over when full
(bounded memory; a miss only costs the read)."""

# principal bytes -> the Principal read from them (dict operations are atomic: the sinks of
# a SinkGroup share these from their threads, and a lost race is a miss)
_principals: dict[bytes, Principal] = {}
# id(principal) -> (the principal, its JSON texts); the principal is held so its id is not
# reused while the entry lives, and compared by identity on the way out
_texts: dict[int, tuple[Principal, tuple[str, str]]] = {}


def decode_event(msg: Message) -> Record:
    """The record a message of `events` holds (raises, as `decode_record`, when none)."""
    data = msg.value() or b""
    if fast_readable(data, default_codec().fast_header(RECORD)):
        try:
            return _read(data)
        except Exception:  # decode_record decides (reads it the generic way, or refuses)
            pass
    return decode_record(data)


def _read(data: bytes) -> Record:
    # the layout of `laneway.codec.typed._read_record` (Record v2)
    record_id, pos = read_string(data, HEADER_SIZE)
    instance_id, pos = read_string(data, pos)
    kind = data[pos]
    if kind > 4 or kind & 1:
        raise Unusual
    intent, pos = read_string(data, pos + 1)
    element_id, pos = read_string(data, pos)
    element_type, pos = read_string(data, pos)
    token_id, pos = read_long(data, pos)
    scope_id, pos = read_long(data, pos)
    start = pos
    (p_kind, pid, roles, claims), pos = read_principal(data, pos)
    raw = data[start:pos]
    principal = _principals.get(raw)
    if principal is None:
        if len(_principals) >= _CACHE_SIZE:
            _principals.clear()
        principal = _principals[raw] = Principal(_PRINCIPAL_KINDS[p_kind], pid, roles, claims)
    timestamp, pos = read_long(data, pos)
    value, pos = read_map(data, pos)
    _, pos = read_optional_string(data, pos)
    if pos != len(data):
        raise Unusual
    return Record(record_id, _KINDS[kind >> 1], intent, instance_id, timestamp, value,
                  element_id, element_type, token_id, scope_id, principal)


def principal_texts(principal: Principal) -> tuple[str, str]:
    """`json_texts(principal.to_dict())`, kept per principal object: the records read by
    `decode_event` with the same principal share one object."""
    held = _texts.get(id(principal))
    if held is not None and held[0] is principal:
        return held[1]
    texts = json_texts(principal.to_dict())
    if len(_texts) >= _CACHE_SIZE:
        _texts.clear()
    _texts[id(principal)] = (principal, texts)
    return texts
