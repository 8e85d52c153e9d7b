"""Typed encode/decode for each record family: the engine's `Record`, and the `Job`,
`StateSnapshot`, `Definition` and `Message` records of the other topics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from laneway.codec.codec import Codec, default_codec
from laneway.codec.errors import DecodeError, EncodeError
from laneway.codec.fast import (
    HEADER_SIZE,
    PLAIN_RECORDS,
    Unusual,
    fast_readable,
    instance_bytes,
    job_bytes,
    read_long,
    read_map,
    read_optional_string,
    read_principal,
    read_string,
    read_strings,
    record_bytes,
    state_bytes,
)
from laneway.codec.values import from_avro_map, to_avro_map
from laneway.engine.state import (
    SNAPSHOT_FIELDS,
    SNAPSHOT_RECORDS,
    SNAPSHOT_WHEN_USED,
    InstanceState,
    record_fields,
)
from laneway.records import Event, Principal, PrincipalKind, Record, RecordKind

RECORD = "record"
JOB = "job"
STATE = "state"
DEFINITION = "definition"
MESSAGE = "message"
T = TypeVar("T")


# --- principal -------------------------------------------------------------------------------

_RECORD_KINDS = {k.value: k for k in RecordKind}
_PRINCIPAL_KINDS = {k.value: k for k in PrincipalKind}


def principal_to_avro(p: Principal, path: str) -> dict[str, Any]:
    """A principal as the Avro `Principal` every record family shares (`path` names it in an
    EncodeError). Public: other families' modules (laneway.agencies) use it too."""
    roles = list(p.roles)
    for i, r in enumerate(roles):
        if type(r) is not str:
            if not isinstance(r, str):
                raise EncodeError(f"role {r!r} is not a str", f"{path}.roles[{i}]")
            roles[i] = str(r)
    return {"kind": _enum_value(p.kind, _PRINCIPAL_KINDS, f"{path}.kind"), "id": p.id,
            "roles": roles, "claims": to_avro_map(p.claims, f"{path}.claims") if p.claims else {}}


def principal_from_avro(d: Mapping[str, Any]) -> Principal:
    """Inverse of `principal_to_avro` (a KeyError on an unknown kind: call it in
    `decode_typed`)."""
    return Principal(_PRINCIPAL_KINDS[d["kind"]], d["id"], tuple(d["roles"]),
                     from_avro_map(d["claims"]))


def _enum_value(member: Any, symbols: Mapping[str, Any], path: str) -> str:
    value = getattr(member, "value", member)
    if value not in symbols:
        raise EncodeError(f"{member!r} is none of {sorted(symbols)}", path)
    return str(value)


def _strings(m: Mapping[str, Any], path: str) -> dict[str, str]:
    for k, v in m.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise EncodeError(f"expected str keys and values, got {k!r}: {v!r}", path)
    return dict(m)


# --- Record (commands, events, rejections) --------------------------------------------------

def record_datum(record: Record, trace_parent: str | None = None) -> dict[str, Any]:
    """The Avro datum of a record."""
    return {
        "recordId": record.record_id,
        "instanceId": record.instance_id,
        "kind": _enum_value(record.kind, _RECORD_KINDS, "kind"),
        "intent": str(record.intent),
        "elementId": record.element_id,
        "elementType": record.element_type,
        "tokenId": record.token_id,
        "scopeId": record.scope_id,
        "principal": principal_to_avro(record.principal, "principal"),
        "timestamp": record.timestamp,
        "value": to_avro_map(record.value, "value"),
        "traceParent": trace_parent,
    }


_KINDS_BY_INDEX = tuple(RecordKind(s) for s in ("COMMAND", "EVENT", "REJECTION"))
_PRINCIPAL_KINDS_BY_INDEX = tuple(PrincipalKind(s) for s in ("human", "agent", "system"))


def _read_principal(data: bytes, pos: int) -> tuple[Principal, int]:
    (kind, pid, roles, claims), pos = read_principal(data, pos)
    return Principal(_PRINCIPAL_KINDS_BY_INDEX[kind], pid, roles, claims), pos


PrincipalReader = Callable[[bytes, int], tuple[Principal, int]]
"""Reads the principal at a position of a record's bytes: the Principal and the next one."""


ValueReader = Callable[[bytes, int], tuple[dict[str, Any], int]]
"""Reads the `map<Value>` at a position of a record's bytes: the dict and the next position."""


def _read_record(data: bytes, principal_at: PrincipalReader = _read_principal,
                 value_at: ValueReader = read_map) -> tuple[Record, str | None]:
    """A Record (v2) body read directly (laneway/codec/fast.py): what `record_from_datum`
    makes of the generic reader's datum. `principal_at` and `value_at` let a reader share the
    principals and values it has read before (the audit sink's `decoding.py`); raises
    `Unusual` for the generic path."""
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
    principal, pos = principal_at(data, pos)
    timestamp, pos = read_long(data, pos)
    value, pos = value_at(data, pos)
    trace, pos = read_optional_string(data, pos)
    if pos != len(data):
        raise Unusual
    return Record(record_id, _KINDS_BY_INDEX[kind >> 1], intent, instance_id, timestamp, value,
                  element_id, element_type, token_id, scope_id, principal), trace


def record_from_datum(d: Mapping[str, Any]) -> Record:
    """Inverse of `record_datum` (without the trace parent)."""
    return Record(
        record_id=d["recordId"], kind=_RECORD_KINDS[d["kind"]], intent=d["intent"],
        instance_id=d["instanceId"], timestamp=d["timestamp"], value=from_avro_map(d["value"]),
        element_id=d["elementId"], element_type=d["elementType"], token_id=d["tokenId"],
        scope_id=d["scopeId"], principal=principal_from_avro(d["principal"]),
    )


def encode_record(record: Record, *, trace_parent: str | None = None,
                  codec: Codec | None = None) -> bytes:
    """A command, event or rejection for the commands or events topic."""
    c = codec or default_codec()
    header = c.fast_header(RECORD)
    if header is not None:
        # the same bytes, written directly (laneway/codec/fast.py); anything unusual is
        # written (or refused with the path of what is wrong) the generic way
        try:
            return record_bytes(header, record, trace_parent)
        except Exception:  # the generic path below decides
            pass
    return c.encode(RECORD, record_datum(record, trace_parent))


def decode_record(data: bytes, *, codec: Codec | None = None) -> Record:
    """Inverse of `encode_record`; reads records of every Record schema version."""
    return decode_record_traced(data, codec=codec)[0]


def _direct(data: bytes, c: Codec, schema: str, read: Callable[[bytes], T]) -> T | None:
    """`read(data)`, the direct reader (laneway/codec/fast.py), when `data` is of the version it
    knows; None when it is not or the reader met anything unusual: the caller then reads it
    (or refuses it with the reason) the generic way."""
    if fast_readable(data, c.fast_header(schema)):
        try:
            return read(data)
        except Exception:  # the generic path decides
            return None
    return None


def decode_record_traced(data: bytes, *, codec: Codec | None = None) -> tuple[Record, str | None]:
    """A record and its trace parent (None when not traced or written before v2)."""
    c = codec or default_codec()
    data = data if isinstance(data, bytes) else bytes(data)
    direct = _direct(data, c, RECORD, _read_record)
    if direct is not None:
        return direct
    d = c.decode(data, RECORD).datum
    return decode_typed(lambda: (record_from_datum(d), d.get("traceParent")))


# --- Job (jobs.<type>) -----------------------------------------------------------------------

_JOB_KEYS = frozenset({"key", "type", "retries", "variables", "headers", "elementName",
                       "attributes", "lane", "laneId", "persona"})


@dataclass(frozen=True, slots=True)
class JobRecord:
    """What a connector gets: the JOB_CREATED event, projected. `extra` holds the keys of its
    value this projection has no field for (a decision's `flows`, a script's `script`)."""

    record_id: str
    instance_id: str
    element_id: str
    element_type: str
    token_id: int
    scope_id: int
    principal: Principal
    timestamp: int
    key: int
    type: str
    retries: int
    element_name: str | None = None
    lane: str | None = None
    lane_id: str | None = None
    persona: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def from_event(record: Record) -> JobRecord:
        """Project a JOB_CREATED event."""
        if record.intent != Event.JOB_CREATED or record.kind != RecordKind.EVENT:
            raise EncodeError(f"expected a JOB_CREATED event, got {record.kind} {record.intent}")
        v = record.value
        return JobRecord(
            record_id=record.record_id, instance_id=record.instance_id,
            element_id=record.element_id, element_type=record.element_type,
            token_id=record.token_id, scope_id=record.scope_id, principal=record.principal,
            timestamp=record.timestamp, key=v["key"], type=v["type"], retries=v["retries"],
            element_name=v.get("elementName"), lane=v.get("lane"), lane_id=v.get("laneId"),
            persona=v.get("persona"), attributes=dict(v.get("attributes", {})),
            headers=dict(v.get("headers", {})), variables=dict(v.get("variables", {})),
            extra={k: x for k, x in v.items() if k not in _JOB_KEYS},
        )

    def to_event(self) -> Record:
        """The JOB_CREATED event this was projected from."""
        value: dict[str, Any] = {"key": self.key, "type": self.type, "retries": self.retries,
                                 "variables": dict(self.variables),
                                 "headers": dict(self.headers),
                                 "elementName": self.element_name,
                                 "attributes": dict(self.attributes)}
        if self.lane is not None:
            value.update(lane=self.lane, laneId=self.lane_id, persona=self.persona)
        value.update(self.extra)
        return Record(record_id=self.record_id, kind=RecordKind.EVENT,
                      intent=Event.JOB_CREATED.value, instance_id=self.instance_id,
                      timestamp=self.timestamp, value=value, element_id=self.element_id,
                      element_type=self.element_type, token_id=self.token_id,
                      scope_id=self.scope_id, principal=self.principal)


def encode_job(job: JobRecord, *, codec: Codec | None = None) -> bytes:
    """A job for the jobs.<type> topic."""
    c = codec or default_codec()
    header = c.fast_header(JOB)
    if header is not None:
        try:
            return job_bytes(header, job)
        except Exception:  # the generic path below decides
            pass
    return c.encode(JOB, {
        "recordId": job.record_id, "instanceId": job.instance_id, "elementId": job.element_id,
        "elementType": job.element_type, "tokenId": job.token_id, "scopeId": job.scope_id,
        "principal": principal_to_avro(job.principal, "principal"), "timestamp": job.timestamp,
        "key": job.key, "type": job.type, "retries": job.retries,
        "elementName": job.element_name, "lane": job.lane, "laneId": job.lane_id,
        "persona": job.persona, "attributes": _strings(job.attributes, "attributes"),
        "headers": _strings(job.headers, "headers"),
        "variables": to_avro_map(job.variables, "variables"),
        "extra": to_avro_map(job.extra, "extra"),
    })


def _read_job(data: bytes) -> JobRecord:
    """A Job (v1) body read directly: what `decode_job` makes of the generic datum."""
    record_id, pos = read_string(data, HEADER_SIZE)
    instance_id, pos = read_string(data, pos)
    element_id, pos = read_string(data, pos)
    element_type, pos = read_string(data, pos)
    token_id, pos = read_long(data, pos)
    scope_id, pos = read_long(data, pos)
    principal, pos = _read_principal(data, pos)
    timestamp, pos = read_long(data, pos)
    key, pos = read_long(data, pos)
    job_type, pos = read_string(data, pos)
    retries, pos = read_long(data, pos)
    element_name, pos = read_optional_string(data, pos)
    lane, pos = read_optional_string(data, pos)
    lane_id, pos = read_optional_string(data, pos)
    persona, pos = read_optional_string(data, pos)
    attributes, pos = read_strings(data, pos)
    headers, pos = read_strings(data, pos)
    variables, pos = read_map(data, pos)
    extra, pos = read_map(data, pos)
    if pos != len(data):
        raise Unusual
    return JobRecord(
        record_id=record_id, instance_id=instance_id, element_id=element_id,
        element_type=element_type, token_id=token_id, scope_id=scope_id, principal=principal,
        timestamp=timestamp, key=key, type=job_type, retries=retries,
        element_name=element_name, lane=lane, lane_id=lane_id, persona=persona,
        attributes=attributes, headers=headers, variables=variables, extra=extra)


def decode_job(data: bytes, *, codec: Codec | None = None) -> JobRecord:
    """Inverse of `encode_job`."""
    c = codec or default_codec()
    data = data if isinstance(data, bytes) else bytes(data)
    direct = _direct(data, c, JOB, _read_job)
    if direct is not None:
        return direct
    d = c.decode(data, JOB).datum
    return decode_typed(lambda: JobRecord(
        record_id=d["recordId"], instance_id=d["instanceId"], element_id=d["elementId"],
        element_type=d["elementType"], token_id=d["tokenId"], scope_id=d["scopeId"],
        principal=principal_from_avro(d["principal"]), timestamp=d["timestamp"], key=d["key"],
        type=d["type"], retries=d["retries"], element_name=d["elementName"], lane=d["lane"],
        lane_id=d["laneId"], persona=d["persona"], attributes=d["attributes"],
        headers=d["headers"], variables=from_avro_map(d["variables"]),
        extra=from_avro_map(d["extra"])))


# --- StateSnapshot (state) -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """An instance's state after a committed batch; `state` is `InstanceState.to_dict()`."""

    instance_id: str
    process_id: str
    version: int
    status: str
    timestamp: int
    state: Mapping[str, Any]
    command_offset: int = -1

    @staticmethod
    def of(inst: InstanceState, timestamp: int, command_offset: int = -1) -> StateSnapshot:
        """The snapshot of an instance."""
        return StateSnapshot(inst.instance_id, inst.process_id, inst.version,
                             inst.effective_status, timestamp, inst.to_dict(), command_offset)

    def instance(self) -> InstanceState:
        """The instance state again."""
        return InstanceState.from_dict(dict(self.state))


def encode_state(snapshot: StateSnapshot, *, codec: Codec | None = None) -> bytes:
    """A snapshot for the state topic (an ended instance gets a tombstone instead)."""
    c = codec or default_codec()
    header = c.fast_header(STATE)
    if header is not None:
        try:
            return state_bytes(header, snapshot)
        except Exception:  # the generic path below decides
            pass
    return c.encode(STATE, {
        "instanceId": snapshot.instance_id, "processId": snapshot.process_id,
        "version": snapshot.version, "status": snapshot.status,
        "timestamp": snapshot.timestamp, "commandOffset": snapshot.command_offset,
        "state": to_avro_map(snapshot.state, "state"),
    })


def encode_instance(inst: InstanceState, timestamp: int, command_offset: int = -1, *,
                    codec: Codec | None = None) -> bytes:
    """`encode_state(StateSnapshot.of(inst, timestamp, command_offset))`, the same bytes,
    written from the instance without building its `to_dict()` first (the engine service
    writes one for every instance a batch touched)."""
    c = codec or default_codec()
    header = c.fast_header(STATE)
    if header is not None:
        try:
            return instance_bytes(header, inst, SNAPSHOT_FIELDS, SNAPSHOT_WHEN_USED,
                                  timestamp, command_offset)
        except Exception:  # the long way below decides
            pass
    return encode_state(StateSnapshot.of(inst, timestamp, command_offset), codec=c)


# the fast writer writes the state's records as `to_dict` has them
PLAIN_RECORDS.update({cls: record_fields(cls) for cls in SNAPSHOT_RECORDS})


def _read_state(data: bytes) -> StateSnapshot:
    """A StateSnapshot (v1) body read directly: what `decode_state` makes of the generic
    datum (a restore reads one for every instance of its partitions)."""
    instance_id, pos = read_string(data, HEADER_SIZE)
    process_id, pos = read_string(data, pos)
    version, pos = read_long(data, pos)
    status, pos = read_string(data, pos)
    timestamp, pos = read_long(data, pos)
    command_offset, pos = read_long(data, pos)
    state, pos = read_map(data, pos)
    if pos != len(data):
        raise Unusual
    return StateSnapshot(instance_id, process_id, version, status, timestamp, state,
                         command_offset)


def decode_state(data: bytes, *, codec: Codec | None = None) -> StateSnapshot:
    """Inverse of `encode_state`."""
    c = codec or default_codec()
    data = data if isinstance(data, bytes) else bytes(data)
    direct = _direct(data, c, STATE, _read_state)
    if direct is not None:
        return direct
    d = c.decode(data, STATE).datum
    return decode_typed(lambda: StateSnapshot(
        d["instanceId"], d["processId"], d["version"], d["status"], d["timestamp"],
        from_avro_map(d["state"]), d["commandOffset"]))


# --- Definition (definitions) ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DefinitionRecord:
    """An authorized, deployable definition; the topic's key is `process_id@version`."""

    process_id: str
    version: int
    bpmn_xml: bytes
    digest: str
    deployed_at: int
    metadata: Mapping[str, str] = field(default_factory=dict)
    deployed_by: Principal | None = None

    @property
    def key(self) -> str:
        """The Kafka key."""
        return f"{self.process_id}@{self.version}"


def encode_definition(definition: DefinitionRecord, *, codec: Codec | None = None) -> bytes:
    """A definition for the definitions topic."""
    by = definition.deployed_by
    return (codec or default_codec()).encode(DEFINITION, {
        "processId": definition.process_id, "version": definition.version,
        "bpmnXml": bytes(definition.bpmn_xml), "digest": definition.digest,
        "deployedAt": definition.deployed_at,
        "deployedBy": None if by is None else ("dev.laneway.Principal",
                                               principal_to_avro(by, "deployedBy")),
        "metadata": _strings(definition.metadata, "metadata"),
    })


def decode_definition(data: bytes, *, codec: Codec | None = None) -> DefinitionRecord:
    """Inverse of `encode_definition`."""
    d = (codec or default_codec()).decode(data, DEFINITION).datum
    by = d["deployedBy"]
    return decode_typed(lambda: DefinitionRecord(
        d["processId"], d["version"], d["bpmnXml"], d["digest"], d["deployedAt"],
        d["metadata"], None if by is None else principal_from_avro(by)))


# --- Message (messages) ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A published BPMN message; the topic's key is the correlation key."""

    message_id: str
    name: str
    correlation_key: str
    variables: Mapping[str, Any]
    ttl: int
    timestamp: int
    principal: Principal


def encode_message(message: MessageRecord, *, codec: Codec | None = None) -> bytes:
    """A message for the messages topic."""
    return (codec or default_codec()).encode(MESSAGE, {
        "messageId": message.message_id, "name": message.name,
        "correlationKey": message.correlation_key,
        "variables": to_avro_map(message.variables, "variables"), "ttl": message.ttl,
        "timestamp": message.timestamp,
        "principal": principal_to_avro(message.principal, "principal"),
    })


def decode_message(data: bytes, *, codec: Codec | None = None) -> MessageRecord:
    """Inverse of `encode_message`."""
    d = (codec or default_codec()).decode(data, MESSAGE).datum
    return decode_typed(lambda: MessageRecord(
        d["messageId"], d["name"], d["correlationKey"], from_avro_map(d["variables"]),
        d["ttl"], d["timestamp"], principal_from_avro(d["principal"])))


def decode_typed(build: Callable[[], T]) -> T:
    """`build()` from a decoded datum; what a datum the schema let through but the type does
    not take raises (a missing key, a bad value) becomes DecodeError `corrupt`."""
    try:
        return build()
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        raise DecodeError("corrupt", f"{type(exc).__name__}: {exc}") from None
