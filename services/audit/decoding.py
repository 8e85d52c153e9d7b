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
from laneway.codec.fast import fast_readable, read_principal
from laneway.codec.typed import RECORD, _read_record
from laneway.records import Principal, PrincipalKind, Record
from services.audit.chain import json_texts

__all__ = ["decode_event", "principal_texts"]

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
    return _read_record(data, _shared_principal)[0]


def _shared_principal(data: bytes, pos: int) -> tuple[Principal, int]:
    """The principal at `pos`, the same object for the same bytes as one read before."""
    (p_kind, pid, roles, claims), end = read_principal(data, pos)
    raw = data[pos:end]
    principal = _principals.get(raw)
    if principal is None:
        if len(_principals) >= _CACHE_SIZE:
            _principals.clear()
        principal = _principals[raw] = Principal(_PRINCIPAL_KINDS[p_kind], pid, roles, claims)
    return principal, end


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
