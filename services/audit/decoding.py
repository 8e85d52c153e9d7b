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

The same goes for the principal's bytes before they are read: the principal of the last
record read is compared with the bytes at its place (Avro's encoding of a principal is
self-delimiting, so the same bytes there are the same principal, ending at the same place).
And for small values: most events of a process carry a value that other instances' events
carried byte for byte (`{"key":2,"recordVersion":2}`, `{"target":"t"}`), so the value's bytes
are looked up too, and a value read before is handed out as the same dict with the JSON
texts `json_texts` made of it once (`value_texts`). The records of this reader share those
dicts: the sink only reads them.
"""

from __future__ import annotations

from typing import Any

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
)
from laneway.codec.typed import RECORD, _read_record
from laneway.records import Principal, PrincipalKind, Record, RecordKind
from services.audit.chain import json_texts

__all__ = ["decode_event", "principal_texts", "value_texts"]

_PRINCIPAL_KINDS = (PrincipalKind.HUMAN, PrincipalKind.AGENT, PrincipalKind.SYSTEM)
_KINDS = (RecordKind.COMMAND, RecordKind.EVENT, RecordKind.REJECTION)
_CACHE_SIZE = 1024
"""At most this many principals (and their texts) are kept; the caches start over when full
(bounded memory; a miss only costs the read)."""

# principal bytes -> the Principal read from them (dict operations are atomic: the sinks of
# a SinkGroup share these from their threads, and a lost race is a miss)
_principals: dict[bytes, Principal] = {}
# id(principal) -> (the principal, its JSON texts); the principal is held so its id is not
# reused while the entry lives, and compared by identity on the way out
_texts: dict[int, tuple[Principal, tuple[str, str]]] = {}
# the bytes of the last principal read and that principal (replaced whole: atomic)
_last_principal: tuple[bytes, Principal] = (b"\xff", Principal(PrincipalKind.SYSTEM, ""))
_MAX_VALUE_BYTES = 512
"""Values of at most this many bytes are kept with their texts (the ones that repeat are
small; a large one is read and serialised each time, as before)."""
# a value's bytes -> the dict read from them
_values: dict[bytes, dict[str, Any]] = {}
# id(value) -> (the value, its JSON texts), for the values in `_values` (held, as `_texts`)
_value_texts: dict[int, tuple[dict[str, Any], tuple[str, str]]] = {}
_TRACE_BYTES = 57
"""A record's trace parent as written (branch, length, the 55 characters of a W3C
traceparent): where a record with one ends its value."""


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
    """`_read_record` with the sink's shared principals and values; the envelope's strings
    and keys read inline when they are short (a length of one byte, as ids and names are):
    five string and two long calls were a sixth of the read. Any other shape is read by
    `_read_record` itself."""
    pos = HEADER_SIZE
    b = data[pos]
    if b & 0x81:  # 1: a negative length (refused there); 0x80: a longer one
        return _read_record(data, _shared_principal, _shared_value)[0]
    end = pos + 1 + (b >> 1)
    record_id = data[pos + 1:end].decode()
    b = data[end]
    if b & 0x81:
        return _read_record(data, _shared_principal, _shared_value)[0]
    pos = end + 2 + (b >> 1)  # the kind's byte follows
    instance_id = data[end + 1:pos - 1].decode()
    kind = data[pos - 1]
    if kind > 4 or kind & 1:
        raise Unusual
    b = data[pos]
    if b & 0x81:
        return _read_record(data, _shared_principal, _shared_value)[0]
    end = pos + 1 + (b >> 1)
    intent = data[pos + 1:end].decode()
    b = data[end]
    if b & 0x81:
        return _read_record(data, _shared_principal, _shared_value)[0]
    pos = end + 1 + (b >> 1)
    element_id = data[end + 1:pos].decode()
    b = data[pos]
    if b & 0x81:
        return _read_record(data, _shared_principal, _shared_value)[0]
    end = pos + 1 + (b >> 1)
    element_type = data[pos + 1:end].decode()
    b = data[end]
    if b < 0x80:
        token_id, pos = (b >> 1) ^ -(b & 1), end + 1
    else:
        token_id, pos = read_long(data, end)
    b = data[pos]
    if b < 0x80:
        scope_id, pos = (b >> 1) ^ -(b & 1), pos + 1
    else:
        scope_id, pos = read_long(data, pos)
    principal, pos = _shared_principal(data, pos)
    timestamp, pos = read_long(data, pos)
    value, pos = _shared_value(data, pos)
    _, pos = read_optional_string(data, pos)
    if pos != len(data):
        raise Unusual
    return Record(record_id, _KINDS[kind >> 1], intent, instance_id, timestamp, value,
                  element_id, element_type, token_id, scope_id, principal)


def _shared_principal(data: bytes, pos: int) -> tuple[Principal, int]:
    """The principal at `pos`, the same object for the same bytes as one read before."""
    global _last_principal
    raw, principal = _last_principal
    if data.startswith(raw, pos):
        return principal, pos + len(raw)
    (p_kind, pid, roles, claims), end = read_principal(data, pos)
    raw = data[pos:end]
    held = _principals.get(raw)
    if held is None:
        if len(_principals) >= _CACHE_SIZE:
            _principals.clear()
        held = _principals[raw] = Principal(_PRINCIPAL_KINDS[p_kind], pid, roles, claims)
    _last_principal = (raw, held)
    return held, end


def _shared_value(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
    """The value at `pos`, the same dict for the same bytes as a small one read before.

    The value is followed by the record's trace parent, the last field: none (one zero
    byte) or, as a rule, a W3C traceparent. Where the value would end if the trace is
    one of these, the bytes from `pos` are looked up: a value's encoding is self-delimiting,
    so bytes equal to those a value was read from are that value, ending there (whatever
    follows is then read as the trace, and checked as before)."""
    end = len(data) - (1 if data[-1] == 0 else _TRACE_BYTES)
    if 0 < end - pos <= _MAX_VALUE_BYTES:
        value = _values.get(data[pos:end])
        if value is not None:
            return value, end
    value, end = read_map(data, pos)
    if end - pos <= _MAX_VALUE_BYTES:
        if len(_values) >= _CACHE_SIZE:
            _values.clear()
            _value_texts.clear()
        _values[data[pos:end]] = value
        _value_texts[id(value)] = (value, json_texts(value))
    return value, end


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


def value_texts(value: Any) -> tuple[str, str]:
    """`json_texts(value)`, made once per small value read by `decode_event` (the records
    with the same value bytes share one dict)."""
    held = _value_texts.get(id(value))
    if held is not None and held[0] is value:
        return held[1]
    return json_texts(value)
