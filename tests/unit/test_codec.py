"""The record codec: engine records, jobs and state snapshots survive Avro single-object
encoding exactly; corrupt input only ever raises DecodeError; fingerprints follow the spec."""

from __future__ import annotations

import contextlib
import datetime
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laneway.bpmn import LANEWAY_NS, parse
from laneway.codec import (
    DecodeError,
    EncodeError,
    JobRecord,
    StateSnapshot,
    dead_letter_headers,
    decode_job,
    decode_record,
    decode_record_traced,
    decode_state,
    default_codec,
    encode_job,
    encode_record,
    encode_state,
    read_dead_letter_headers,
)
from laneway.codec.codec import HEADER_SIZE
from laneway.codec.schemas import MARKER, fingerprint
from laneway.codec.values import MAX_DEPTH
from laneway.engine import DefinitionRepository
from laneway.engine.runner import Answers, LocalRunner
from laneway.records import SYSTEM, Command, Principal, PrincipalKind, Record, RecordKind

DIAGRAM = f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" xmlns:laneway="{LANEWAY_NS}"
    xmlns:acme="http://acme.example/bpmn" id="d1" targetNamespace="http://x">
  <message id="m_paid" name="paid">
    <extensionElements><zeebe:subscription correlationKey="=orderId"/></extensionElements>
  </message>
  <process id="p1" isExecutable="true">
    <laneSet id="ls">
      <lane id="lane_fin" name="Finance" laneway:persona="accountant">
        <flowNodeRef>charge</flowNodeRef><flowNodeRef>review</flowNodeRef>
      </lane>
    </laneSet>
    <startEvent id="start"/>
    <serviceTask id="charge" name="Charge card" acme:costCenter="42">
      <extensionElements>
        <zeebe:taskDefinition type="payment" retries="5"/>
        <zeebe:taskHeaders><zeebe:header key="endpoint" value="https://pay.example"/>
        </zeebe:taskHeaders>
      </extensionElements>
    </serviceTask>
    <exclusiveGateway id="gw" default="fNo"/>
    <userTask id="review" name="Review"/>
    <exclusiveGateway id="merge"/>
    <intermediateCatchEvent id="wait_paid"><messageEventDefinition messageRef="m_paid"/>
    </intermediateCatchEvent>
    <intermediateCatchEvent id="pause"><timerEventDefinition>
      <timeDuration>PT5M</timeDuration></timerEventDefinition></intermediateCatchEvent>
    <parallelGateway id="split"/><task id="a"/><task id="b"/><parallelGateway id="join"/>
    <endEvent id="end"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>
    <sequenceFlow id="f2" sourceRef="charge" targetRef="gw"/>
    <sequenceFlow id="fYes" sourceRef="gw" targetRef="review">
      <conditionExpression>=amount &gt; 100</conditionExpression></sequenceFlow>
    <sequenceFlow id="fNo" sourceRef="gw" targetRef="merge"/>
    <sequenceFlow id="f3" sourceRef="review" targetRef="merge"/>
    <sequenceFlow id="fm" sourceRef="merge" targetRef="wait_paid"/>
    <sequenceFlow id="fw" sourceRef="wait_paid" targetRef="pause"/>
    <sequenceFlow id="fp" sourceRef="pause" targetRef="split"/>
    <sequenceFlow id="f4" sourceRef="split" targetRef="a"/>
    <sequenceFlow id="f5" sourceRef="split" targetRef="b"/>
    <sequenceFlow id="f6" sourceRef="a" targetRef="join"/>
    <sequenceFlow id="f7" sourceRef="b" targetRef="join"/>
    <sequenceFlow id="f8" sourceRef="join" targetRef="end"/>
  </process>
</definitions>
"""

ALICE = Principal(PrincipalKind.HUMAN, "alice", ("clerk", "approver"),
                  {"exp": 1767229200, "mfa": True, "score": 0.5, "amr": ["pwd"],
                   "org": {"id": 7, "unit": None}})
VARIABLES: dict[str, Any] = {
    "amount": 150, "orderId": "o-42", "rate": 1.0, "neg": -0.0, "big": (1 << 63) - 1,
    "small": -(1 << 63), "flag": False, "none": None, "text": "straße ✓",
    "lines": [{"sku": "A", "qty": 2, "price": 9.99}, [], {}, [1, 1.0, True, "1"]],
}


def _runner(principal: Principal = ALICE) -> tuple[LocalRunner, str]:
    repo = DefinitionRepository()
    repo.deploy(parse(DIAGRAM.encode()))
    runner = LocalRunner(repo, principal=principal)
    iid = runner.start("p1", VARIABLES, business_key="order-42")
    return runner, iid


@pytest.fixture(scope="module")
def run_records() -> list[Record]:
    runner, iid = _runner()
    outcome = runner.run(iid, Answers(
        jobs={"payment": {"paid": True, "receipt": {"id": 1, "at": 1.5}}},
        tasks={"review": [{"ok": 1, "notes": ["fine", None]}]},
        messages=[("paid", "o-42", {"confirmed": True})]))
    assert outcome.status == "COMPLETED", outcome
    return runner.records


def _strict(value: Any) -> str:
    """JSON that tells 1 from 1.0 and True from 1 (`==` does not)."""
    return json.dumps(value, sort_keys=True, default=repr)


# --- fingerprints and header ----------------------------------------------------------------

_EMPTY = 0xC15D213AA4D7A795


def _rabin(data: bytes) -> int:
    """CRC-64-AVRO as the Avro specification writes it, to check fastavro against."""
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


@pytest.mark.parametrize(("canonical", "signed"), [
    # Apache Avro share/test/data/schema-tests.txt, as the Java reference prints them
    ('"null"', 7195948357588979594),
    ('"boolean"', -6970731678124411036),
    ('{"name":"foo","type":"fixed","size":15}', 1756455273707447556),
    ('{"name":"PigValue","type":"record","fields":[{"name":"value","type":'
     '["null","int","long","PigValue"]}]}', -1759257747318642341),
])
def test_fingerprint_matches_the_avro_test_vectors_little_endian(canonical: str,
                                                                 signed: int) -> None:
    expected = (signed & (2**64 - 1)).to_bytes(8, "little")
    assert fingerprint(canonical) == expected
    assert _rabin(canonical.encode()) == signed & (2**64 - 1)


def test_null_schema_header_is_the_spec_bytes() -> None:
    assert fingerprint('"null"').hex() == "8a8f25cce724dd63"


def test_every_schema_fingerprint_is_the_rabin_of_its_canonical_form() -> None:
    for sv in default_codec().versions:
        assert sv.fingerprint == _rabin(sv.canonical.encode()).to_bytes(8, "little"), sv.family


def test_encoded_record_starts_with_marker_and_current_fingerprint(
        run_records: list[Record]) -> None:
    data = encode_record(run_records[0])
    current = default_codec().current("record")
    assert data[:2] == b"\xc3\x01" == MARKER
    assert data[2:HEADER_SIZE] == current.fingerprint
    assert current.version == 2
    assert default_codec().writer_of(data) is current


# --- round trips of real engine records -----------------------------------------------------

def test_every_record_of_a_run_survives_encode_decode(run_records: list[Record]) -> None:
    intents = {r.intent for r in run_records}
    assert {"JOB_CREATED", "USER_TASK_CREATED", "TIMER_CREATED", "MESSAGE_CORRELATED",
            "VARIABLES_UPDATED"} <= intents
    for rec in run_records:
        back = decode_record(encode_record(rec))
        assert back == rec
        assert back.to_json() == rec.to_json()
        assert _strict(back.to_dict()) == _strict(rec.to_dict())


def test_commands_and_rejections_survive_too() -> None:
    runner, iid = _runner()
    runner.run(iid, Answers())
    cmd = runner.submit(Command.COMPLETE_JOB, iid, {"jobKey": 999, "variables": {}})
    runner.drain()
    rejections = [r for r in runner.records if r.kind == RecordKind.REJECTION]
    assert rejections
    for rec in [cmd, *rejections]:
        assert decode_record(encode_record(rec)) == rec


def test_trace_parent_travels_in_v2() -> None:
    rec = Record("r1", RecordKind.COMMAND, "START_INSTANCE", "i1", 1, {"processId": "p"})
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert decode_record_traced(encode_record(rec, trace_parent=tp)) == (rec, tp)
    assert decode_record_traced(encode_record(rec)) == (rec, None)


def test_record_written_with_v1_reads_with_the_current_schema(run_records: list[Record]) -> None:
    from laneway.codec.typed import record_datum

    codec = default_codec()
    for rec in run_records:
        old = codec.encode("record", record_datum(rec), version=1)
        assert codec.writer_of(old).version == 1
        assert decode_record_traced(old) == (rec, None)


def test_jobs_project_job_created_events_losslessly(run_records: list[Record]) -> None:
    created = [r for r in run_records if r.intent == "JOB_CREATED"]
    assert created
    for rec in created:
        job = JobRecord.from_event(rec)
        assert job.lane == "Finance"
        assert job.persona == "accountant"
        assert job.headers == {"endpoint": "https://pay.example"}
        back = decode_job(encode_job(job))
        assert back == job
        assert back.to_event() == rec
        assert back.to_event().to_json() == rec.to_json()


def test_job_projection_keeps_unknown_value_keys_in_extra() -> None:
    rec = Record("r", RecordKind.EVENT, "JOB_CREATED", "i", 5, {
        "key": 3, "type": "decision", "retries": 1, "variables": {}, "headers": {},
        "elementName": None, "attributes": {},
        "flows": [{"id": "f", "condition": None, "default": True}], "gatewayType": "x"})
    job = decode_job(encode_job(JobRecord.from_event(rec)))
    assert job.extra == {"flows": [{"id": "f", "condition": None, "default": True}],
                         "gatewayType": "x"}
    assert job.lane is None
    assert job.to_event() == rec
    with pytest.raises(EncodeError):
        JobRecord.from_event(Record("r", RecordKind.EVENT, "JOB_COMPLETED", "i", 5, {}))


def test_state_snapshots_round_trip_through_the_codec() -> None:
    """At every wait of a run (job, user task, message, timer) and at the end."""
    runner, iid = _runner()
    runner.drain()
    seen: set[str] = set()
    for i, answers in enumerate([
            None, Answers(jobs={"payment": {"paid": True}}),
            Answers(tasks={"review": [{"ok": 1}]}),
            Answers(messages=[("paid", "o-42", {"n": 1.25})], instant_timers=False),
            Answers(instant_timers=True)]):
        if answers is not None:
            runner.run(iid, answers)
        inst = runner.instance(iid)
        assert inst is not None
        seen.update(name for name in ("jobs", "user_tasks", "message_subs", "timers")
                    if getattr(inst, name))
        snap = StateSnapshot.of(inst, 1767225600000 + i, command_offset=i)
        back = decode_state(encode_state(snap))
        assert back == snap
        assert back.instance() == inst
        assert _strict(back.instance().to_dict()) == _strict(inst.to_dict())
    assert seen == {"jobs", "user_tasks", "message_subs", "timers"}
    assert inst.effective_status == "COMPLETED"


# --- values ---------------------------------------------------------------------------------

def _rt(value: Any) -> Any:
    rec = Record("r", RecordKind.EVENT, "X", "i", 0, {"x": value})
    return decode_record(encode_record(rec)).value["x"]


@pytest.mark.parametrize("value", [
    True, False, 0, 1, -1, (1 << 63) - 1, -(1 << 63), 0.0, -0.0, 1.0, 1e308, 5e-324,
    float("inf"), float("-inf"), "", "ü\U0001f600", "a\x00b", None, [], {},
    [True, 1, 1.0, "1", None],
    {"a": {"b": [{"c": 2}]}},
])
def test_values_keep_their_python_type(value: Any) -> None:
    back = _rt(value)
    assert back == value
    assert _strict(back) == _strict(value)
    assert type(back) is type(value)


def test_nan_survives() -> None:
    back = _rt(float("nan"))
    assert isinstance(back, float)
    assert back != back


def test_tuples_come_back_as_lists_and_enums_as_their_value() -> None:
    assert _rt((1, "a")) == [1, "a"]
    assert _rt(RecordKind.EVENT) == "EVENT"
    assert type(_rt(RecordKind.EVENT)) is str


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 63) - 1)
    | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), JSON, max_size=5))
def test_any_json_like_value_round_trips_exactly(value: dict[str, Any]) -> None:
    rec = Record("r", RecordKind.EVENT, "X", "i", 0, value,
                 principal=Principal(PrincipalKind.AGENT, "a", ("r",), value))
    back = decode_record(encode_record(rec))
    assert back == rec
    assert _strict(back.to_dict()) == _strict(rec.to_dict())


@pytest.mark.parametrize(("value", "path", "words"), [
    ({"a": {1, 2}}, "value.x.a", "set"),
    ({"when": datetime.datetime(2026, 1, 1)}, "value.x.when", "datetime"),
    ([1, b"raw"], "value.x[1]", "bytes"),
    ({"odd key": [0, {3: 1}]}, 'value.x["odd key"][1]', "map key 3"),
    (1 << 63, "value.x", "64-bit"),
    (-(1 << 63) - 1, "value.x", "64-bit"),
])
def test_unencodable_values_raise_encode_error_with_the_path(value: Any, path: str,
                                                             words: str) -> None:
    rec = Record("r", RecordKind.EVENT, "X", "i", 0, {"x": value})
    with pytest.raises(EncodeError) as info:
        encode_record(rec)
    assert info.value.path == path
    assert words in info.value.message


def test_claims_are_checked_too() -> None:
    rec = Record("r", RecordKind.EVENT, "X", "i", 0,
                 principal=Principal(PrincipalKind.HUMAN, "h", (), {"iat": object()}))
    with pytest.raises(EncodeError) as info:
        encode_record(rec)
    assert info.value.path == "principal.claims.iat"


def test_nesting_is_limited() -> None:
    ok: Any = 1
    for _ in range(MAX_DEPTH - 1):
        ok = [ok]
    assert _rt(ok) == ok
    with pytest.raises(EncodeError, match="nested deeper"):
        _rt([ok])


# --- corrupt input --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample(run_records: list[Record]) -> bytes:
    return encode_record(next(r for r in run_records if r.intent == "JOB_CREATED"))


def _reason(data: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        decode_record(data)
    return info.value.reason


def test_wrong_marker(sample: bytes) -> None:
    assert _reason(b"\xc3\x02" + sample[2:]) == "bad-marker"
    assert _reason(b"{" + sample[1:]) == "bad-marker"
    assert _reason(b"\x00") == "bad-marker"


@pytest.mark.parametrize("index", range(2, HEADER_SIZE))
def test_a_flipped_fingerprint_byte_is_an_unknown_fingerprint(sample: bytes, index: int) -> None:
    data = bytearray(sample)
    data[index] ^= 0x01
    assert _reason(bytes(data)) == "unknown-fingerprint"


def test_truncated_anywhere(sample: bytes) -> None:
    assert _reason(b"") == "truncated"
    assert _reason(sample[:1]) == "truncated"
    assert _reason(sample[:5]) == "truncated"
    for n in range(HEADER_SIZE, len(sample)):
        assert _reason(sample[:n]) in ("truncated", "corrupt"), n
    assert _reason(sample[:-1]) == "truncated"


def test_trailing_bytes(sample: bytes) -> None:
    assert _reason(sample + b"\x00") == "trailing-bytes"


def test_wrong_family(sample: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        decode_job(sample)
    assert info.value.reason == "wrong-schema"
    assert info.value.fingerprint == sample[2:HEADER_SIZE].hex()


def test_hostile_nesting_is_a_decode_error_not_a_crash() -> None:
    """Deep nesting crashes fastavro's compiled reader (C stack); the codec must not use it."""
    header = default_codec().current("job").header
    rec = encode_job(JobRecord("r", "i", "e", "t", 0, 0, SYSTEM, 0, 1, "x", 1))
    # the 'extra' map is last: replace its empty map with one key holding 200k nested arrays
    assert rec.endswith(b"\x00")
    depth = 200_000
    body = rec[HEADER_SIZE:-1] + b"\x02\x02k" + b"\x0a\x02" * depth + b"\x00" + b"\x00" * depth
    with pytest.raises(DecodeError) as info:
        decode_job(header + body + b"\x00")
    assert info.value.reason == "corrupt"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_record(data)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["record", "job", "state", "definition", "message"]),
       st.binary(max_size=300))
def test_random_bodies_behind_a_valid_header_only_raise_decode_error(family: str,
                                                                     body: bytes) -> None:
    codec = default_codec()
    with contextlib.suppress(DecodeError):
        codec.decode(codec.current(family).header + body)


@settings(max_examples=1000, deadline=None)
@given(st.data())
def test_mutated_records_decode_or_raise_decode_error(sample: bytes, data: st.DataObject) -> None:
    buf = bytearray(sample)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(HEADER_SIZE, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError):
        decode_record(bytes(buf))


# --- dead-letter headers --------------------------------------------------------------------

def test_dead_letter_headers_of_a_decode_error(sample: bytes) -> None:
    data = bytearray(sample)
    data[3] ^= 0xFF
    with pytest.raises(DecodeError) as info:
        decode_record(bytes(data))
    headers = dead_letter_headers(info.value, "laneway.events", 3, 1234)
    assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in headers)
    got = read_dead_letter_headers([*headers, ("other", b"x")])
    assert got == {
        "reason": "unknown-fingerprint",
        "error": str(info.value),
        "exception": "laneway.codec.errors.DecodeError",
        "topic": "laneway.events",
        "partition": "3",
        "offset": "1234",
        "fingerprint": bytes(data[2:HEADER_SIZE]).hex(),
    }


def test_dead_letter_headers_of_any_error_are_clipped() -> None:
    headers = dict(dead_letter_headers(RuntimeError("é" * 5000), "t", 0, 0))
    assert headers["laneway.dlq.reason"] == b"unhandled"
    assert headers["laneway.dlq.exception"] == b"builtins.RuntimeError"
    assert len(headers["laneway.dlq.error"]) <= 2048
    headers["laneway.dlq.error"].decode("utf-8")
    assert "laneway.dlq.fingerprint" not in headers
    assert dict(dead_letter_headers(EncodeError("x", "p"), "t", 0, 0))[
        "laneway.dlq.reason"] == b"encode-error"
