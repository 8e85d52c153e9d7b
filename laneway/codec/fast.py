"""A direct Avro binary writer for the records the engine writes for every command.

`Codec.encode` turns a record into fastavro's datum form first (each value wrapped as
`{"v": (branch, datum)}`, laneway/codec/values.py) and then has fastavro's generic writer walk
the schema: about 38 µs for an engine event of 160 bytes, most of the engine service's
encoding cost (docs/benchmarks.md, "Issue 16: encoding and snapshots"). This module writes
the same bytes straight from the Python values, for the current versions of the `Record`,
`Job` and `StateSnapshot` schemas only: each writer is bound to the fingerprint of the schema
it was written for (`FAST_FINGERPRINTS`), and `laneway/codec/typed.py` uses it only while the
codec's current schema of that family has that fingerprint (a new schema version, or a codec
of other schemas, takes the generic path until its writer here is updated).

Anything out of the ordinary (a non-str map key, an int outside 64 bits, a value nested
deeper than `MAX_DEPTH`, a type the writer does not know) raises `Unusual`, and the caller
then encodes the record the generic way, which writes the same bytes or raises the
EncodeError naming where the value is wrong: the errors stay those of the generic path.

Avro binary as fastavro writes it (and the Avro specification says): a long is a zigzag
varint; a string its byte length then its UTF-8 bytes; an enum its symbol's index; a union
the branch's index then the datum; a map or array, when not empty, its item count then the
items, and always a 0 count at the end. `Value` is a record of one union field `v` whose
branches are null 0, boolean 1, long 2, double 3, string 4, array 5 and map 6.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from laneway.codec.schemas import MARKER

MAX_DEPTH = 64  # as laneway/codec/values.py: deeper raises there
_MIN = -(1 << 63)
_MAX = (1 << 63) - 1

# the current schema versions this module writes, by family: their fingerprints (hex)
FAST_FINGERPRINTS: dict[str, str] = {
    "record": "b4bfb2836fbca1cb",  # Record v2
    "job": "a1adad7736ef6ffd",  # Job v1
    "state": "d6e4390f98bc41f6",  # StateSnapshot v1
}


class Unusual(Exception):
    """A value the fast writer leaves to the generic path (which writes it or says why not)."""


# the varint of every zigzag value below 2**14 (longs from -8192 to 8191: keys, counters,
# lengths, small numbers), so most longs cost one list index
_TABLE_SIZE = 1 << 14


def _varint(z: int) -> bytes:
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_SMALL: list[bytes] = [_varint(z) for z in range(_TABLE_SIZE)]


def long_bytes(n: int) -> bytes:
    """A long as Avro writes it (`n` must fit 64 bits)."""
    z = (n << 1) ^ (n >> 63)
    if z < _TABLE_SIZE:
        return _SMALL[z]
    return _varint(z)


_pack_double = struct.Struct("<d").pack
_NULL = b"\x00"
_TRUE = b"\x02\x01"  # branch 1 (boolean), then true
_FALSE = b"\x02\x00"
_LONG = b"\x04"
_DOUBLE = b"\x06"
_STRING = b"\x08"
_ARRAY = b"\x0a"
_MAP = b"\x0c"
_END = b"\x00"  # the 0 count that ends a map or array


def write_value(buf: bytearray, v: Any, depth: int) -> None:
    """One `Value` (its union branch, then the datum); `depth` as `values._wrap` counts it."""
    t = type(v)
    if t is str:
        b = v.encode()
        n = len(b)
        buf += _STRING
        buf += _SMALL[n << 1] if n < 8192 else _varint(n << 1)
        buf += b
    elif t is int:
        if not _MIN <= v <= _MAX:
            raise Unusual
        buf += _LONG
        z = (v << 1) ^ (v >> 63)
        buf += _SMALL[z] if z < _TABLE_SIZE else _varint(z)
    elif t is bool:
        buf += _TRUE if v else _FALSE
    elif t is float:
        buf += _DOUBLE
        buf += _pack_double(v)
    elif v is None:
        buf += _NULL
    elif t is dict:
        buf += _MAP
        write_map(buf, v, depth + 1)
    elif t is list or t is tuple:
        buf += _ARRAY
        write_list(buf, v, depth + 1)
    # subclasses (StrEnum, IntEnum) and other mappings, as `values._wrap` takes them
    elif isinstance(v, bool):
        buf += _TRUE if v else _FALSE
    elif isinstance(v, str):
        write_value(buf, str(v), depth)
    elif isinstance(v, int):
        write_value(buf, int(v), depth)
    elif isinstance(v, float):
        write_value(buf, float(v), depth)
    elif isinstance(v, Mapping):
        buf += _MAP
        write_map(buf, v, depth + 1)
    elif isinstance(v, list | tuple):
        buf += _ARRAY
        write_list(buf, v, depth + 1)
    else:
        raise Unusual


def write_map(buf: bytearray, m: Mapping[Any, Any], depth: int) -> None:
    """A `map<Value>` (`depth` of the map itself, 1 for a record's field)."""
    if depth > MAX_DEPTH:
        raise Unusual
    if m:
        n = len(m)
        buf += _SMALL[n << 1] if n < 8192 else _varint(n << 1)
        for k, x in m.items():
            if type(k) is not str:
                raise Unusual
            b = k.encode()
            n = len(b)
            buf += _SMALL[n << 1] if n < 8192 else _varint(n << 1)
            buf += b
            # the scalars inline (a call per value is most of the cost): as write_value
            t = type(x)
            if t is str:
                b = x.encode()
                n = len(b)
                buf += _STRING
                buf += _SMALL[n << 1] if n < 8192 else _varint(n << 1)
                buf += b
            elif x is None:
                buf += _NULL
            elif t is bool:
                buf += _TRUE if x else _FALSE
            elif t is int and -8192 <= x < 8192:
                buf += _LONG
                buf += _SMALL[(x << 1) ^ (x >> 63)]
            else:
                write_value(buf, x, depth)
    buf += _END


def write_list(buf: bytearray, items: list[Any] | tuple[Any, ...], depth: int) -> None:
    """An `array<Value>`."""
    if depth > MAX_DEPTH:
        raise Unusual
    if items:
        n = len(items)
        buf += _SMALL[n << 1] if n < 8192 else _varint(n << 1)
        for x in items:
            write_value(buf, x, depth)
    buf += _END


def write_string(buf: bytearray, s: Any) -> None:
    """An Avro string (a `str` only: anything else is left to the generic path)."""
    if type(s) is not str:
        raise Unusual
    b = s.encode()
    n = len(b)
    buf += _SMALL[n << 1] if n < 8192 else _varint(n << 1)
    buf += b


def write_long(buf: bytearray, n: Any) -> None:
    """An Avro long (an `int` of 64 bits only)."""
    if type(n) is not int or not _MIN <= n <= _MAX:
        raise Unusual
    z = (n << 1) ^ (n >> 63)
    buf += _SMALL[z] if z < _TABLE_SIZE else _varint(z)


def write_optional_string(buf: bytearray, s: Any) -> None:
    """A `["null", "string"]` union."""
    if s is None:
        buf += b"\x00"
    else:
        buf += b"\x02"
        write_string(buf, s)


def write_strings(buf: bytearray, m: Mapping[Any, Any]) -> None:
    """A `map<string>`."""
    if m:
        n = len(m)
        buf += _SMALL[n << 1] if n < 8192 else _varint(n << 1)
        for k, x in m.items():
            write_string(buf, k)
            write_string(buf, x)
    buf += _END


# the symbols' indexes of the enums, by value (a StrEnum member hashes and compares as its
# value, so a member or its value finds the index)
_RECORD_KINDS = {"COMMAND": b"\x00", "EVENT": b"\x02", "REJECTION": b"\x04"}
_PRINCIPAL_KINDS = {"human": b"\x00", "agent": b"\x02", "system": b"\x04"}


def write_enum(buf: bytearray, member: Any, symbols: Mapping[str, bytes]) -> None:
    """An enum: its symbol's index."""
    value = getattr(member, "value", member)
    if type(value) is not str:
        raise Unusual
    index = symbols.get(value)
    if index is None:
        raise Unusual
    buf += index


# The last principal without claims written, and its bytes (its kind, id and roles are
# immutable, so the same object always writes the same bytes): the events of one command all
# carry its principal, and most are the engine's own. One tuple, replaced whole, so a thread
# never reads one principal with another's bytes.
_last_principal: list[tuple[Any, bytes]] = [(None, b"")]


def write_principal(buf: bytearray, p: Any) -> None:
    """A `Principal`: kind, id, roles, claims."""
    last = _last_principal[0]
    if p is last[0]:
        buf += last[1]
        return
    start = len(buf)
    write_enum(buf, p.kind, _PRINCIPAL_KINDS)
    write_string(buf, p.id)
    roles = p.roles
    if type(roles) is not tuple:
        raise Unusual
    if roles:
        n = len(roles)
        buf += _SMALL[n << 1] if n < 8192 else _varint(n << 1)
        for r in roles:
            write_string(buf, r)
    buf += _END
    claims = p.claims
    if claims:
        write_map(buf, claims, 1)
    else:
        buf += _END
        _last_principal[0] = (p, bytes(buf[start:]))


def record_bytes(header: bytes, record: Any, trace_parent: str | None) -> bytes:
    """A `Record` (v2) with its single-object header."""
    buf = bytearray(header)
    write_string(buf, record.record_id)
    write_string(buf, record.instance_id)
    write_enum(buf, record.kind, _RECORD_KINDS)
    intent = record.intent
    write_string(buf, intent if type(intent) is str else str(intent))
    write_string(buf, record.element_id)
    write_string(buf, record.element_type)
    write_long(buf, record.token_id)
    write_long(buf, record.scope_id)
    write_principal(buf, record.principal)
    write_long(buf, record.timestamp)
    write_map(buf, record.value, 1)
    write_optional_string(buf, trace_parent)
    return bytes(buf)


def job_bytes(header: bytes, job: Any) -> bytes:
    """A `Job` (v1) with its single-object header."""
    buf = bytearray(header)
    write_string(buf, job.record_id)
    write_string(buf, job.instance_id)
    write_string(buf, job.element_id)
    write_string(buf, job.element_type)
    write_long(buf, job.token_id)
    write_long(buf, job.scope_id)
    write_principal(buf, job.principal)
    write_long(buf, job.timestamp)
    write_long(buf, job.key)
    write_string(buf, job.type)
    write_long(buf, job.retries)
    write_optional_string(buf, job.element_name)
    write_optional_string(buf, job.lane)
    write_optional_string(buf, job.lane_id)
    write_optional_string(buf, job.persona)
    write_strings(buf, job.attributes)
    write_strings(buf, job.headers)
    write_map(buf, job.variables, 1)
    write_map(buf, job.extra, 1)
    return bytes(buf)


def state_bytes(header: bytes, snapshot: Any) -> bytes:
    """A `StateSnapshot` (v1) with its single-object header."""
    buf = bytearray(header)
    write_string(buf, snapshot.instance_id)
    write_string(buf, snapshot.process_id)
    write_long(buf, snapshot.version)
    write_string(buf, snapshot.status)
    write_long(buf, snapshot.timestamp)
    write_long(buf, snapshot.command_offset)
    write_map(buf, snapshot.state, 1)
    return bytes(buf)


# --- an instance's snapshot, written from the InstanceState itself --------------------------
#
# `InstanceState.to_dict()` builds a plain copy of the state (`_to_plain`: a record's fields
# not at their default, every dict key as str, tuples as lists) that `state_bytes` then
# writes: two walks and a copy of every variable for each snapshot. `instance_bytes` writes
# the same bytes in one walk, reading the state where it is. What `_to_plain` would turn into
# something out of the ordinary (a dict subclass, an object it leaves as it is) raises
# `Unusual`, and the caller goes the long way.

_SCALARS = (str, int, bool, float)
# the state's record classes: their fields as `_record_fields` gives them (name, whether it
# has a default, the default); filled by laneway/engine/state.py (the codec must not import
# the engine's state before it exists)
PLAIN_RECORDS: dict[type, tuple[tuple[str, bool, Any], ...]] = {}


def write_plain(buf: bytearray, v: Any, depth: int) -> None:
    """One `Value` of what `_to_plain(v)` is, without building it."""
    t = type(v)
    if t is str or t is int or t is bool or t is float or v is None:
        write_value(buf, v, depth)
    elif t is dict:
        buf += _MAP
        write_plain_map(buf, v, depth + 1)
    elif t is list or t is tuple:
        if depth + 1 > MAX_DEPTH:
            raise Unusual
        buf += _ARRAY
        if v:
            n = len(v)
            buf += _SMALL[n << 1] if n < 8192 else _varint(n << 1)
            for x in v:
                write_plain(buf, x, depth + 1)
        buf += _END
    else:
        fields = PLAIN_RECORDS.get(t)
        if fields is None:
            raise Unusual
        buf += _MAP
        write_plain_record(buf, v, fields, depth + 1)


def write_plain_map(buf: bytearray, m: dict[Any, Any], depth: int) -> None:
    """A dict as `_to_plain` has it: every key as `str(key)`."""
    if depth > MAX_DEPTH:
        raise Unusual
    if m:
        count = len(m)
        buf += _SMALL[count << 1] if count < 8192 else _varint(count << 1)
        ints = 0
        for k, x in m.items():
            if type(k) is str:
                b = k.encode()
            elif type(k) is int:
                ints += 1
                b = str(k).encode()
            else:
                raise Unusual
            n = len(b)
            buf += _SMALL[n << 1] if n < 8192 else _varint(n << 1)
            buf += b
            # the scalars inline (a call per value is most of the cost): as write_value
            t = type(x)
            if t is str:
                b = x.encode()
                n = len(b)
                buf += _STRING
                buf += _SMALL[n << 1] if n < 8192 else _varint(n << 1)
                buf += b
            elif x is None:
                buf += _NULL
            elif t is bool:
                buf += _TRUE if x else _FALSE
            elif t is int and -8192 <= x < 8192:
                buf += _LONG
                buf += _SMALL[(x << 1) ^ (x >> 63)]
            else:
                write_plain(buf, x, depth)
        # int keys and str keys together may meet as strings (1 and "1"), and `_to_plain`'s
        # dict then has one key fewer: only the long way writes that
        if 0 < ints < count and len({str(k) for k in m}) < count:
            raise Unusual
    buf += _END


def write_plain_record(buf: bytearray, obj: Any,
                       fields: tuple[tuple[str, bool, Any], ...], depth: int) -> None:
    """A state record as `_to_plain` has it: a map of its fields not at their default."""
    if depth > MAX_DEPTH:
        raise Unusual
    kept = []
    for name, has_default, default in fields:
        value = getattr(obj, name)
        if not (has_default and value == default):
            kept.append((name, value))
    if kept:
        n = len(kept)
        buf += _SMALL[n << 1]
        for name, x in kept:
            b = name.encode()
            buf += _SMALL[len(b) << 1]
            buf += b
            t = type(x)
            if t is str:
                b = x.encode()
                n = len(b)
                buf += _STRING
                buf += _SMALL[n << 1] if n < 8192 else _varint(n << 1)
                buf += b
            elif t is int and -8192 <= x < 8192:
                buf += _LONG
                buf += _SMALL[(x << 1) ^ (x >> 63)]
            else:
                write_plain(buf, x, depth)
    buf += _END


def instance_bytes(header: bytes, inst: Any, top: tuple[str, ...], when_used: frozenset[str],
                   timestamp: int, command_offset: int) -> bytes:
    """The `StateSnapshot` (v1) of `StateSnapshot.of(inst, timestamp, command_offset)`, with
    its header; `top` names the instance's fields in order, `when_used` those written only
    while they hold something (as `InstanceState.to_dict` does)."""
    buf = bytearray(header)
    write_string(buf, inst.instance_id)
    write_string(buf, inst.process_id)
    write_long(buf, inst.version)
    write_string(buf, inst.effective_status)
    write_long(buf, timestamp)
    write_long(buf, command_offset)
    kept = []
    for name in top:
        value = getattr(inst, name)
        if value or name not in when_used:
            kept.append((name, value))
    buf += _SMALL[len(kept) << 1]
    for name, value in kept:
        b = name.encode()
        buf += _SMALL[len(b) << 1]
        buf += b
        write_plain(buf, value, 1)
    buf += _END
    return bytes(buf)


__all__ = ["FAST_FINGERPRINTS", "MARKER", "PLAIN_RECORDS", "Unusual", "instance_bytes",
           "job_bytes", "long_bytes", "record_bytes", "state_bytes", "write_value"]


# --- reading ----------------------------------------------------------------------------------
#
# fastavro's reader builds the datum (each value as `{"v": ...}`) that `from_avro_map` then
# unwraps: about 40 µs for a command of 160 bytes. The readers below build the Python values
# straight from the bytes of the current `Record` and `StateSnapshot` schemas. They take only
# what the writers above write: anything else (an unknown union branch or enum symbol, a
# boolean byte other than 0 or 1, a block with a byte size, a long of more than 64 bits,
# invalid UTF-8, bytes missing or left over) raises, and the caller reads the record the
# generic way, which reads it or raises the DecodeError that says why not.

_unpack_double = struct.Struct("<d").unpack_from
# as laneway/codec/codec.py has them (it imports this module, so not from there)
HEADER_SIZE = 10
MAX_BRANCH_BYTES = 256


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    """A long at `pos`, and the position after it."""
    b = data[pos]
    pos += 1
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos
    z = b & 0x7F
    shift = 7
    while True:
        b = data[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            raise Unusual
    if z >> 64:
        raise Unusual
    return (z >> 1) ^ -(z & 1), pos


def read_string(data: bytes, pos: int) -> tuple[str, int]:
    """A string at `pos`, and the position after it."""
    b = data[pos]
    if b < 0x80:
        n = b >> 1
        pos += 1
        if b & 1:
            raise Unusual
    else:
        n, pos = read_long(data, pos)
        if n < 0:
            raise Unusual
    end = pos + n
    if end > len(data):
        raise Unusual
    return data[pos:end].decode(), end


def read_value(data: bytes, pos: int) -> tuple[Any, int]:
    """One `Value` at `pos` as the Python value `from_avro_map` makes of it."""
    branch = data[pos]
    pos += 1
    if branch == 8:  # string
        return read_string(data, pos)
    if branch == 4:  # long
        b = data[pos]
        if b < 0x80:
            return (b >> 1) ^ -(b & 1), pos + 1
        return read_long(data, pos)
    if branch == 0:
        return None, pos
    if branch == 2:  # boolean
        b = data[pos]
        if b > 1:
            raise Unusual
        return b == 1, pos + 1
    if branch == 6:  # double
        if pos + 8 > len(data):
            raise Unusual
        return _unpack_double(data, pos)[0], pos + 8
    if branch == 12:  # map
        return read_map(data, pos)
    if branch == 10:  # array
        out: list[Any] = []
        count, pos = read_long(data, pos)
        while count:
            if count < 0:
                raise Unusual
            for _ in range(count):
                item, pos = read_value(data, pos)
                out.append(item)
            count, pos = read_long(data, pos)
        return out, pos
    raise Unusual


def read_map(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
    """A `map<Value>` at `pos` as a dict of Python values."""
    out: dict[str, Any] = {}
    count, pos = read_long(data, pos)
    while count:
        if count < 0:
            raise Unusual
        for _ in range(count):
            # short keys and the common scalars inline (a call each is most of the cost);
            # anything else as read_string and read_value read it
            b = data[pos]
            if b < 0x80 and not b & 1:
                end = pos + 1 + (b >> 1)
                if end > len(data):
                    raise Unusual
                key = data[pos + 1:end].decode()
                pos = end
            else:
                key, pos = read_string(data, pos)
            branch = data[pos]
            if branch == 4:  # long
                b = data[pos + 1]
                if b < 0x80:
                    out[key] = (b >> 1) ^ -(b & 1)
                    pos += 2
                    continue
            elif branch == 8:  # string
                b = data[pos + 1]
                if b < 0x80 and not b & 1:
                    end = pos + 2 + (b >> 1)
                    if end > len(data):
                        raise Unusual
                    out[key] = data[pos + 2:end].decode()
                    pos = end
                    continue
            elif branch == 0:
                out[key] = None
                pos += 1
                continue
            out[key], pos = read_value(data, pos)
        count, pos = read_long(data, pos)
    return out, pos


def read_principal(data: bytes, pos: int) -> tuple[tuple[int, str, tuple[str, ...],
                                                          dict[str, Any]], int]:
    """A `Principal` at `pos`: (kind's index, id, roles, claims)."""
    kind = data[pos]
    if kind > 4 or kind & 1:
        raise Unusual
    pid, pos = read_string(data, pos + 1)
    roles: list[str] = []
    count, pos = read_long(data, pos)
    while count:
        if count < 0:
            raise Unusual
        for _ in range(count):
            role, pos = read_string(data, pos)
            roles.append(role)
        count, pos = read_long(data, pos)
    claims, pos = read_map(data, pos)
    return (kind >> 1, pid, tuple(roles), claims), pos


def read_strings(data: bytes, pos: int) -> tuple[dict[str, str], int]:
    """A `map<string>` at `pos`."""
    out: dict[str, str] = {}
    count, pos = read_long(data, pos)
    while count:
        if count < 0:
            raise Unusual
        for _ in range(count):
            key, pos = read_string(data, pos)
            out[key], pos = read_string(data, pos)
        count, pos = read_long(data, pos)
    return out, pos


def read_optional_string(data: bytes, pos: int) -> tuple[str | None, int]:
    """A `["null", "string"]` union at `pos`."""
    branch = data[pos]
    if branch == 0:
        return None, pos + 1
    if branch == 2:
        return read_string(data, pos + 1)
    raise Unusual


def fast_readable(data: bytes, header: bytes | None) -> bool:
    """Whether the readers here take `data`: written with `header`, and not nested deeper
    than the codec lets fastavro's compiled reader go (`Codec.decode`'s rule: such a body is
    read by fastavro's pure-Python reader, which fails cleanly)."""
    return (header is not None and data[:HEADER_SIZE] == header
            and data.count(0x0A, HEADER_SIZE) + data.count(0x0C, HEADER_SIZE)
            <= MAX_BRANCH_BYTES)
