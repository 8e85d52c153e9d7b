"""The direct Avro writer (laneway/codec/fast.py) writes exactly the bytes of the generic path
(the schema datum through fastavro) for every record family it writes, and leaves whatever
it does not take to that path: the wire format is the contract other services and the audit
log's replay read."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from dataclasses import MISSING, fields, is_dataclass
from enum import IntEnum, StrEnum
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laneway.codec import (
    DecodeError,
    EncodeError,
    JobRecord,
    StateSnapshot,
    decode_job,
    decode_record_traced,
    decode_state,
    default_codec,
    encode_instance,
    encode_job,
    encode_record,
    encode_state,
    fast,
)
from laneway.codec import codec as codec_module
from laneway.codec.codec import Codec
from laneway.codec.fast import (
    FAST_FINGERPRINTS,
    instance_bytes,
    job_bytes,
    long_bytes,
    record_bytes,
)
from laneway.codec.typed import (
    JOB,
    RECORD,
    STATE,
    _read_job,
    _read_record,
    _read_state,
    _strings,
    decode_typed,
    principal_from_avro,
    principal_to_avro,
    record_datum,
    record_from_datum,
)
from laneway.codec.values import MAX_DEPTH, from_avro_map, to_avro_map
from laneway.engine import EngineState, apply_event
from laneway.engine.state import (
    SNAPSHOT_FIELDS,
    SNAPSHOT_WHEN_USED,
    CompensationRun,
    CompensationSub,
    ElementInstance,
    Incident,
    InstanceState,
    Job,
    ParentRef,
    Subscription,
    Timer,
    UserTask,
)
from laneway.records import SYSTEM, Principal, PrincipalKind, Record, RecordKind

HERE = Path(__file__).resolve().parent
SAMPLES = HERE / "codec_samples"
LOGS = HERE / "replay_logs"
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


# --- the generic path, as the codec wrote every record before the fast writer ---------------

def generic_record(record: Record, trace: str | None = None) -> bytes:
    return default_codec().encode(RECORD, record_datum(record, trace))


def generic_job(job: JobRecord) -> bytes:
    return default_codec().encode(JOB, {
        "recordId": job.record_id, "instanceId": job.instance_id, "elementId": job.element_id,
        "elementType": job.element_type, "tokenId": job.token_id, "scopeId": job.scope_id,
        "principal": principal_to_avro(job.principal, "principal"), "timestamp": job.timestamp,
        "key": job.key, "type": job.type, "retries": job.retries,
        "elementName": job.element_name, "lane": job.lane, "laneId": job.lane_id,
        "persona": job.persona, "attributes": _strings(job.attributes, "attributes"),
        "headers": _strings(job.headers, "headers"),
        "variables": to_avro_map(job.variables, "variables"),
        "extra": to_avro_map(job.extra, "extra")})


def generic_state(s: StateSnapshot) -> bytes:
    return default_codec().encode(STATE, {
        "instanceId": s.instance_id, "processId": s.process_id, "version": s.version,
        "status": s.status, "timestamp": s.timestamp, "commandOffset": s.command_offset,
        "state": to_avro_map(s.state, "state")})


def reference_plain(obj: Any) -> Any:
    """`_to_plain` as it was before it was made faster: the reference for `to_dict`."""
    if is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            if f.default is not MISSING:
                default: Any = f.default
            elif f.default_factory is not MISSING:
                default = f.default_factory()
            else:
                out[f.name] = reference_plain(value)
                continue
            if value != default:
                out[f.name] = reference_plain(value)
        return out
    if isinstance(obj, dict):
        return {str(k): reference_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [reference_plain(v) for v in obj]
    return obj


def reference_to_dict(inst: InstanceState) -> dict[str, Any]:
    return {f.name: reference_plain(getattr(inst, f.name)) for f in fields(inst)
            if f.name not in ("compensations", "compensation_runs") or getattr(inst, f.name)}


def generic_instance(inst: InstanceState, timestamp: int, offset: int) -> bytes:
    return generic_state(StateSnapshot(inst.instance_id, inst.process_id, inst.version,
                                       inst.effective_status, timestamp,
                                       reference_to_dict(inst), offset))


def _strict(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


# --- the fast writer is in use, and bound to the schemas it writes ---------------------------

def test_the_fast_writer_is_used_for_the_current_schemas_only(tmp_path: Path) -> None:
    codec = default_codec()
    for family in ("record", "job", "state"):
        assert codec.current(family).fingerprint.hex() == FAST_FINGERPRINTS[family]
        assert codec.fast_header(family) == codec.current(family).header
    assert codec.fast_header("definition") is None
    # another schema for a family (here the record's v1 as the current): its records go the
    # generic way, in that schema
    history = next(v for v in codec.versions if v.family == "record" and v.version == 1)
    older = Codec([dataclasses.replace(history, current=True)]
                  + [v for v in codec.versions if v.family != "record"])
    assert older.fast_header("record") is None
    rec = Record("r", RecordKind.EVENT, "X", "i", 5, {"a": 1})
    data = encode_record(rec, codec=older)
    assert data[2:10] == history.fingerprint
    assert data == older.encode("record", {k: v for k, v in record_datum(rec).items()
                                           if k != "traceParent"})


# --- golden bytes: the committed samples of each current version -----------------------------

def _make_samples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_samples_fast",
                                                  SAMPLES / "make_samples.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fast_writer_writes_the_committed_samples_byte_for_byte() -> None:
    samples = _make_samples()
    assert encode_record(samples.sample_record(), trace_parent=TRACE) == (
        SAMPLES / "record" / "2.bin").read_bytes()
    assert encode_job(samples.sample_job()) == (SAMPLES / "job" / "1.bin").read_bytes()
    assert encode_state(samples.sample_state()) == (SAMPLES / "state" / "1.bin").read_bytes()


# --- every record, job and snapshot of the recorded runs -------------------------------------

def _logs() -> list[list[Record]]:
    out = []
    for path in sorted(LOGS.glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        out.append([Record.from_dict(json.loads(line)) for line in lines if line.strip()])
    return out


def test_every_record_of_the_recorded_runs_is_written_as_the_generic_path_writes_it() -> None:
    records = [r for log in _logs() for r in log]
    assert len(records) > 500
    codec = default_codec()
    header, job_header = codec.fast_header(RECORD), codec.fast_header(JOB)
    assert header is not None
    assert job_header is not None
    jobs = 0
    for r in records:
        # the fast writer itself (it raises on what it leaves to the generic path)
        assert record_bytes(header, r, None) == generic_record(r)
        assert record_bytes(header, r, TRACE) == generic_record(r, TRACE)
        assert encode_record(r, trace_parent=TRACE) == generic_record(r, TRACE)
        if r.intent == "JOB_CREATED" and r.kind == RecordKind.EVENT:
            job = JobRecord.from_event(r)
            assert job_bytes(job_header, job) == generic_job(job)
            assert encode_job(job) == generic_job(job)
            jobs += 1
    assert jobs > 10


def test_every_snapshot_of_the_recorded_runs_is_written_as_the_generic_path_writes_it() -> None:
    """Each instance after each event of every recorded log (tokens, scopes, joins, jobs,
    tasks, timers, subscriptions, incidents, call activities, compensation...)."""
    kinds: set[str] = set()
    snapshots = 0
    header = default_codec().fast_header(STATE)
    assert header is not None
    for log in _logs():
        state = EngineState()
        for i, r in enumerate(log):
            if r.kind != RecordKind.EVENT:
                continue
            apply_event(state, r)
            inst = state.instances.get(r.instance_id)
            if inst is None:
                continue
            assert _strict(inst.to_dict()) == _strict(reference_to_dict(inst))
            assert inst.to_dict() == reference_to_dict(inst)
            data = instance_bytes(header, inst, SNAPSHOT_FIELDS, SNAPSHOT_WHEN_USED,
                                  r.timestamp, i)
            assert data == generic_instance(inst, r.timestamp, i)
            assert data == encode_instance(inst, r.timestamp, i)
            assert data == encode_state(StateSnapshot.of(inst, r.timestamp, i))
            kinds.update(name for name in ("jobs", "user_tasks", "timers", "message_subs",
                                           "signal_subs", "incidents", "joins", "parent",
                                           "compensations", "compensation_runs")
                         if getattr(inst, name))
            snapshots += 1
    assert snapshots > 300
    assert kinds >= {"jobs", "user_tasks", "timers", "message_subs", "parent", "joins",
                     "compensations"}


# --- any value, and what the fast writer leaves to the generic path --------------------------

class Colour(StrEnum):
    RED = "red"


class Size(IntEnum):
    BIG = 3


SCALARS = (st.none() | st.booleans() | st.integers(-(1 << 64), 1 << 64)
           | st.integers(-10_000, 10_000) | st.floats() | st.text()
           | st.sampled_from([Colour.RED, Size.BIG, 1 << 63, -(1 << 63), 8191, 8192, -8193]))
VALUES = st.recursive(
    SCALARS,
    lambda inner: (st.lists(inner, max_size=4) | st.lists(inner, max_size=3).map(tuple)
                   | st.dictionaries(st.text(max_size=3) | st.sampled_from(["1", "k"]), inner,
                                     max_size=4)
                   | st.dictionaries(st.integers(-3, 3) | st.text(max_size=2), inner,
                                     max_size=3)),
    max_leaves=25,
)


def _same_or_same_error(fast: Any, generic: Any) -> None:
    """The same result, or the same error with the same message."""
    error: Exception | None = None
    try:
        expected = generic()
    except Exception as exc:  # the fast path must raise the same
        error = exc
    if error is None:
        assert fast() == expected
        return
    with pytest.raises(type(error)) as info:
        fast()
    assert str(info.value) == str(error)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=4), VALUES, max_size=5), VALUES,
       st.integers(-(1 << 63), (1 << 63) - 1))
def test_any_value_is_written_as_the_generic_path_writes_it_or_refused_alike(
        value: dict[str, Any], claim: Any, number: int) -> None:
    principal = Principal(PrincipalKind.HUMAN, "h", ("r",), {"c": claim})
    rec = Record("r", RecordKind.EVENT, "X", "i", number, value, "e", "t", number, 3, principal)
    _same_or_same_error(lambda: encode_record(rec), lambda: generic_record(rec))
    job = JobRecord("r", "i", "e", "serviceTask", 1, 0, SYSTEM, number, number, "t", 3,
                    variables=value, extra={"x": claim})
    _same_or_same_error(lambda: encode_job(job), lambda: generic_job(job))
    snap = StateSnapshot("i", "p", 1, "ACTIVE", number, value, number)
    _same_or_same_error(lambda: encode_state(snap), lambda: generic_state(snap))


def _instance(variables: Any) -> InstanceState:
    """An instance with every record kind, each with fields away from their defaults."""
    sub = CompensationSub(9, "undo", "task", {"v": 1}, [CompensationSub(10, "inner", "task")],
                          "h")
    return InstanceState(
        "i-1", "p", 2, business_key="bk", next_key=12,
        elements={1: ElementInstance(1, "p", "process", 0, children=2),
                  2: ElementInstance(2, "mi", "multiInstanceBody", 1, mi_total=3,
                                     complex_fired={"g": ["a", "b"]}, adhoc_runs={"x": 2},
                                     adhoc_done=True)},
        variables={1: variables, 2: {"local": [1, (2, 3)]}},
        joins={1: {"join": ["f1", "f1"]}},
        jobs={3: Job(3, 2, "pay", 3), 4: Job(4, 2, "pay", 0, "FAILED")},
        user_tasks={5: UserTask(5, 2, "review", "clerk", None, "bob", ["a"], ["g"], 10, True,
                                "mail")},
        timers={6: Timer(6, 2, "t", 1767225600000, None, 2, "R/PT1M", "cycle")},
        message_subs={7: Subscription(7, 2, "m", "paid", "o-1")},
        signal_subs={8: Subscription(8, 2, "s", "go")},
        incidents={11: Incident(11, 2, "JOB_NO_RETRIES", "no", 4, "job")},
        parent=ParentRef("parent-1", 5, 1), root_key=1,
        compensations={1: [sub]},
        compensation_runs={2: CompensationRun(2, 1, [sub], 9, False, "throw", "endEvent")})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_any_instance_snapshot_is_written_as_the_generic_path_writes_it(variables: Any) -> None:
    inst = _instance({"v": variables, 1: "int key", "1": "its string"}
                     if isinstance(variables, str) else {"v": variables})
    _same_or_same_error(lambda: inst.to_dict(), lambda: reference_to_dict(inst))
    _same_or_same_error(lambda: encode_instance(inst, 1767225600000, 17),
                        lambda: generic_instance(inst, 1767225600000, 17))


def test_instances_at_and_beyond_the_nesting_limit() -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH - 3):
        deep = [deep]
    ok = _instance({"v": deep})  # state -> variables -> scope -> v: at the limit
    assert encode_instance(ok, 1, 2) == generic_instance(ok, 1, 2)
    over = _instance({"v": [deep]})
    _same_or_same_error(lambda: encode_instance(over, 1, 2),
                        lambda: generic_instance(over, 1, 2))


def test_a_record_class_the_fast_writer_does_not_know_goes_the_long_way() -> None:
    @dataclasses.dataclass
    class Odd:
        a: int = 1
        b: str = "x"

    inst = _instance({"odd": Odd(2)})
    assert inst.to_dict()["variables"]["1"]["odd"] == {"a": 2}
    assert encode_instance(inst, 1, 2) == generic_instance(inst, 1, 2)


@pytest.mark.parametrize("n", [0, 1, -1, 63, -64, 64, 8191, -8192, 8192, -8193, 1 << 40,
                               (1 << 63) - 1, -(1 << 63)])
def test_longs_are_zigzag_varints(n: int) -> None:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        out.append((z & 0x7F) | (0x80 if z > 0x7F else 0))
        if z <= 0x7F:
            break
        z >>= 7
    assert long_bytes(n) == bytes(out)


# --- reading: the same records as the generic reader, and the same errors -------------------

def generic_read_record(data: bytes) -> tuple[Record, str | None]:
    d = default_codec().decode(data, RECORD).datum
    return decode_typed(lambda: (record_from_datum(d), d.get("traceParent")))


def generic_read_job(data: bytes) -> JobRecord:
    d = default_codec().decode(data, JOB).datum
    return decode_typed(lambda: JobRecord(
        record_id=d["recordId"], instance_id=d["instanceId"], element_id=d["elementId"],
        element_type=d["elementType"], token_id=d["tokenId"], scope_id=d["scopeId"],
        principal=principal_from_avro(d["principal"]), timestamp=d["timestamp"], key=d["key"],
        type=d["type"], retries=d["retries"], element_name=d["elementName"], lane=d["lane"],
        lane_id=d["laneId"], persona=d["persona"], attributes=d["attributes"],
        headers=d["headers"], variables=from_avro_map(d["variables"]),
        extra=from_avro_map(d["extra"])))


def generic_read_state(data: bytes) -> StateSnapshot:
    d = default_codec().decode(data, STATE).datum
    return decode_typed(lambda: StateSnapshot(
        d["instanceId"], d["processId"], d["version"], d["status"], d["timestamp"],
        from_avro_map(d["state"]), d["commandOffset"]))


def _same_read(fast: Any, generic: Any) -> None:
    """The same object with the same types inside, or the same DecodeError reason."""
    error: DecodeError | None = None
    try:
        expected = generic()
    except DecodeError as exc:
        error = exc
    if error is None:
        # repr tells 1 from 1.0 and True, -0.0 from 0.0, and NaN equals NaN in it
        assert repr(fast()) == repr(expected)
        return
    with pytest.raises(DecodeError) as info:
        fast()
    assert info.value.reason == error.reason


def test_every_record_job_and_snapshot_of_the_recorded_runs_reads_back_directly() -> None:
    reads = 0
    for log in _logs():
        state = EngineState()
        for i, r in enumerate(log):
            for trace in (None, TRACE):
                data = encode_record(r, trace_parent=trace)
                assert _read_record(data) == (r, trace)  # the direct reader took it
                assert decode_record_traced(data) == generic_read_record(data)
            if r.intent == "JOB_CREATED" and r.kind == RecordKind.EVENT:
                data = encode_job(JobRecord.from_event(r))
                assert _read_job(data) == generic_read_job(data)
                assert decode_job(data) == generic_read_job(data)
            if r.kind != RecordKind.EVENT:
                continue
            apply_event(state, r)
            inst = state.instances.get(r.instance_id)
            if inst is not None:
                data = encode_instance(inst, r.timestamp, i)
                snap = _read_state(data)
                assert snap == generic_read_state(data)
                assert decode_state(data) == snap
                assert snap.instance() == inst
                reads += 1
    assert reads > 300


def test_the_committed_samples_of_every_version_read_as_the_generic_reader_reads_them() -> None:
    for path in sorted(SAMPLES.glob("*/*.bin")):
        data = path.read_bytes()
        family = path.parent.name
        if family == "record":
            _same_read(lambda d=data: decode_record_traced(d),
                       lambda d=data: generic_read_record(d))
        elif family == "job":
            _same_read(lambda d=data: decode_job(d), lambda d=data: generic_read_job(d))
        elif family == "state":
            _same_read(lambda d=data: decode_state(d), lambda d=data: generic_read_state(d))


# what a record can hold (ints within 64 bits, str keys), small ints often
READABLE = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 63) - 1)
    | st.integers(-100, 100) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=4),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=4), READABLE, max_size=5), READABLE,
       st.integers(-(1 << 63), (1 << 63) - 1), st.none() | st.text(max_size=5))
def test_any_record_reads_back_as_the_generic_reader_reads_it(
        value: dict[str, Any], claim: Any, number: int, trace: str | None) -> None:
    value = {**value, "nan": float("nan"), "neg": -0.0}
    principal = Principal(PrincipalKind.AGENT, "h", ("r", "s"), {"c": claim})
    rec = Record("r", RecordKind.COMMAND, "X", "i", number, value, "e", "t", number, 3,
                 principal)
    try:
        data = generic_record(rec, trace)
    except EncodeError:
        return
    _same_read(lambda: decode_record_traced(data), lambda: generic_read_record(data))
    snap = StateSnapshot("i", "p", number, "ACTIVE", number, value, -1)
    data = generic_state(snap)
    _same_read(lambda: decode_state(data), lambda: generic_read_state(data))
    job = JobRecord("r", "i", "e", "serviceTask", 1, 0, principal, number, number, "t", 3,
                    lane="L", attributes={"a": "b"}, headers={"h": "v"}, variables=value,
                    extra={"x": claim})
    data = generic_job(job)
    _same_read(lambda: decode_job(data), lambda: generic_read_job(data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_records_read_as_the_generic_reader_reads_them(data: st.DataObject) -> None:
    """Bytes flipped, cut or added anywhere after the header: the direct reader reads what the
    generic one reads, and refuses the rest with the same reason."""
    samples = _make_samples()
    family = data.draw(st.sampled_from(["record", "job", "state"]))
    original = {"record": lambda: encode_record(samples.sample_record(), trace_parent=TRACE),
                "job": lambda: encode_job(samples.sample_job()),
                "state": lambda: encode_state(samples.sample_state())}[family]()
    body = bytearray(original)
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["flip", "cut", "add"]))
        at = data.draw(st.integers(10, len(body) - 1))
        if action == "flip":
            body[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del body[at:at + data.draw(st.integers(1, 4))]
        else:
            body[at:at] = data.draw(st.binary(min_size=1, max_size=4))
    damaged = bytes(body)
    fast, generic = {"record": (decode_record_traced, generic_read_record),
                     "job": (decode_job, generic_read_job),
                     "state": (decode_state, generic_read_state)}[family]
    _same_read(lambda: fast(damaged), lambda: generic(damaged))


def test_the_reader_uses_the_codecs_header_size_and_nesting_rule() -> None:
    assert fast.HEADER_SIZE == codec_module.HEADER_SIZE
    assert fast.MAX_BRANCH_BYTES == codec_module.FAST_READER_MAX_BRANCH_BYTES


EDGES: dict[str, Any] = {
    **{f"n{n}": n for n in (0, 1, -1, 63, -63, -64, 64, -65, 8191, -8192, 8192, -8193,
                            (1 << 63) - 1, -(1 << 63))},
    "": "", "s63": "x" * 63, "s64": "y" * 64, "long key " * 10: "ü\U0001f600", "none": None,
    "t": True, "f": False, "half": 0.5, "neg0": -0.0,
    "nested": {"a": [-1, {"b": -64}, [], {}], "c": ("t", -2)},
}


def test_edge_values_read_back_exactly_through_every_family() -> None:
    principal = Principal(PrincipalKind.HUMAN, "h", ("r",), EDGES)
    rec = Record("r", RecordKind.EVENT, "X", "i", -5, EDGES, "e", "t", -1, -64, principal)
    data = encode_record(rec, trace_parent="t" * 80)
    assert data == generic_record(rec, "t" * 80)
    back, trace = _read_record(data)
    assert repr(back) == repr(generic_read_record(data)[0])
    assert back.value["n-1"] == -1
    assert back.value["nested"]["c"] == ["t", -2]
    assert trace == "t" * 80
    job = JobRecord("r", "i", "e", "serviceTask", -1, 0, principal, 5, -3, "t", -1,
                    variables=EDGES, extra=EDGES)
    data = encode_job(job)
    assert repr(_read_job(data)) == repr(generic_read_job(data))
    snap = StateSnapshot("i", "p", -1, "ACTIVE", 7, EDGES, -1)
    data = encode_state(snap)
    assert repr(_read_state(data)) == repr(generic_read_state(data))
    assert _read_state(data).state["n-64"] == -64
