"""The audit sink's shortcuts store and hash exactly what the plain path does
(issue 16, the audit sink's CPU): the values and principals `decode_event` shares between
records come with the JSON texts `json_texts` makes of `decode_record`'s record, byte for
byte, for any value (floats, integral floats, NUL, unicode, nesting, large integers, with
and without a trace parent, read once or again); a head's MAC is the one of the original
formula; a histogram observed many at once holds what as many `observe` calls leave."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from laneway.codec import decode_record, decode_state, encode_record, encode_state
from laneway.codec.typed import StateSnapshot
from laneway.engine import EngineState, apply_event
from laneway.records import SYSTEM, Principal, PrincipalKind, Record, RecordKind
from services.audit import decoding
from services.audit.anchor import HeadSigner
from services.audit.chain import json_texts
from services.audit.decoding import decode_event, principal_texts, value_texts
from services.audit.metrics import observe_many
from services.audit.projection import full_instance_row, instance_row
from tests.kafka_fakes import message

HERE = Path(__file__).resolve().parent
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _texts_as_plain(data: bytes) -> None:
    """`decode_event` reads what `decode_record` reads, and the sink's texts of it are
    `json_texts` of the plain record's value and principal."""
    plain = decode_record(data)
    read = decode_event(message(data))
    assert repr(read) == repr(plain)  # repr: a NaN equals no NaN
    assert value_texts(read.value) == json_texts(plain.value)
    assert principal_texts(read.principal) == json_texts(plain.principal.to_dict())


SCALARS = (st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 63) - 1)
           | st.integers(-300, 300) | st.floats() | st.text()
           | st.sampled_from([0.0, -0.0, 1.0, 2.0, 1e16, 1e300, 0.1, -5.5, 1e-7, 2.5e22,
                              "\x00", "a\x00b", "é\t\n\\\"", "\U0001f600", "\ud800x",
                              1 << 62, -(1 << 63)]))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=4) | st.sampled_from(["key", "\x00", "é"]), inner, max_size=4),
    max_leaves=12)
PRINCIPALS = st.sampled_from([
    SYSTEM, Principal(PrincipalKind.HUMAN, "ana", ("clerk",), {"n": 2.0, "s": "x\x00"}),
    Principal(PrincipalKind.AGENT, "bot", (), {"f": 1e16, "amr": ["pwd"]})])


def _record(value: dict[str, Any], principal: Principal, n: int = 1) -> Record:
    return Record(f"r-{n}", RecordKind.EVENT, "ELEMENT_ACTIVATED", "i-1", 1_767_225_600_000,
                  value, element_id="t", element_type="serviceTask", token_id=3, scope_id=1,
                  principal=principal)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=5) | st.sampled_from(["key", "n"]), VALUES,
                       max_size=5), PRINCIPALS, st.booleans())
def test_any_value_gets_the_texts_of_the_plain_path_read_once_or_again(
        value: dict[str, Any], principal: Principal, traced: bool) -> None:
    try:
        data = encode_record(_record(value, principal), trace_parent=TRACE if traced else None)
    except Exception:  # a value the codec refuses is no record of the topic
        return
    _texts_as_plain(data)
    _texts_as_plain(data)  # the second time from the caches
    # the same value bytes with the other trace: the value found before, the trace read anew
    _texts_as_plain(encode_record(_record(value, principal, 2),
                                  trace_parent=None if traced else TRACE))


ENVELOPE_TEXT = st.text(max_size=3) | st.text(min_size=60, max_size=80) | st.sampled_from(
    ["", "é" * 40, "ELEMENT_ACTIVATED", "4c1f7a52-0000-4000-8000-000000000002"])
LONGS = st.integers(-(1 << 63), (1 << 63) - 1) | st.integers(-70, 70)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ENVELOPE_TEXT, ENVELOPE_TEXT, st.sampled_from(list(RecordKind)), ENVELOPE_TEXT,
       ENVELOPE_TEXT, ENVELOPE_TEXT, LONGS, LONGS, LONGS, PRINCIPALS, st.booleans())
def test_any_envelope_is_read_as_the_plain_path_reads_it(
        record_id: str, instance_id: str, kind: RecordKind, intent: str, element_id: str,
        element_type: str, token_id: int, scope_id: int, timestamp: int,
        principal: Principal, traced: bool) -> None:
    rec = Record(record_id, kind, intent, instance_id, timestamp, {"key": 2}, element_id,
                 element_type, token_id, scope_id, principal)
    try:
        data = encode_record(rec, trace_parent=TRACE if traced else None)
    except Exception:  # a record the codec refuses is no record of the topic
        return
    _texts_as_plain(data)


def test_records_with_the_same_value_bytes_share_one_value_and_its_texts() -> None:
    value = {"key": 2, "recordVersion": 2, "f": 2.0}
    first = decode_event(message(encode_record(_record(value, SYSTEM, 1))))
    second = decode_event(message(encode_record(_record(value, SYSTEM, 2), trace_parent=TRACE)))
    assert second.value is first.value
    assert value_texts(second.value) is value_texts(first.value)
    assert value_texts(first.value) == json_texts(value) == (
        '{"f":2.0,"key":2,"recordVersion":2}', '{"f":2,"key":2,"recordVersion":2}')


def test_a_value_too_large_to_keep_is_read_each_time_with_the_same_texts() -> None:
    value = {"text": "x" * (decoding._MAX_VALUE_BYTES + 1), "n": 1.0}
    first = decode_event(message(encode_record(_record(value, SYSTEM, 1))))
    second = decode_event(message(encode_record(_record(value, SYSTEM, 2))))
    assert second.value is not first.value
    assert value_texts(second.value) == json_texts(value)


def _golden() -> list[bytes]:
    out = [path.read_bytes() for path in sorted((HERE / "codec_samples" / "record").glob("*.bin"))]
    for path in sorted((HERE / "replay_logs").glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                rec = Record.from_dict(json.loads(line))
                out.append(encode_record(rec, trace_parent=TRACE if n % 2 else None))
    return out


def test_the_golden_records_and_every_recorded_run_get_the_plain_texts() -> None:
    golden = _golden()
    assert len(golden) > 500
    for _ in range(2):  # read, then from the caches
        for data in golden:
            _texts_as_plain(data)


@given(st.text(), st.integers(0, (1 << 63) - 1), st.text(max_size=70))
@settings(max_examples=300, deadline=None)
def test_a_heads_mac_is_the_original_formulas(iid: str, seq: int, head: str) -> None:
    key = b"k" * 32
    message = json.dumps(["laneway-audit-head/1", iid, int(seq), head], ensure_ascii=True,
                         separators=(",", ":")).encode("ascii")
    assert HeadSigner(key).mac(iid, seq, head) == hmac.new(key, message,
                                                           hashlib.sha256).hexdigest()


def _samples(registry: CollectorRegistry) -> dict[str, float]:
    return {f"{s.name}{sorted(s.labels.items())}": s.value
            for metric in registry.collect() for s in metric.samples
            if not s.name.endswith("_created")}


@pytest.mark.parametrize("amounts", [[(0.004, 3), (0.3, 1), (7.0, 12), (1e6, 2), (0.0, 1)],
                                     [(0.025, 5), (0.0251, 5)]])
def test_observing_many_at_once_leaves_what_as_many_observations_leave(
        amounts: list[tuple[float, int]]) -> None:
    buckets = (0.005, 0.025, 0.1, 1.0, 10.0)
    many, one = CollectorRegistry(), CollectorRegistry()
    h_many = Histogram("lag_seconds", "lag", buckets=buckets, registry=many)
    h_one = Histogram("lag_seconds", "lag", buckets=buckets, registry=one)
    for amount, count in amounts:
        observe_many(h_many, amount, count)
        for _ in range(count):
            h_one.observe(amount)
    got, expected = _samples(many), _samples(one)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12), name


def _replayed_snapshots() -> list[StateSnapshot]:
    out = []
    for path in sorted((HERE / "replay_logs").glob("*.jsonl")):
        state = EngineState()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            rec = Record.from_dict(json.loads(line))
            if rec.kind != RecordKind.EVENT:
                continue
            apply_event(state, rec)
            inst = state.instances.get(rec.instance_id)
            if inst is not None:
                out.append(decode_state(encode_state(StateSnapshot.of(inst, rec.timestamp, n))))
    return out


def test_the_projections_row_is_the_one_the_whole_instance_state_gives() -> None:
    snapshots = _replayed_snapshots()
    assert len(snapshots) > 300
    statuses = set()
    for n, snap in enumerate(snapshots):
        row = instance_row(snap, n % 3, n)
        assert row == full_instance_row(snap, n % 3, n)
        statuses.add(row.status)
    # with an incident on an element, one on an element gone, and the status it gives
    base = next(s for s in snapshots if s.state["status"] == "ACTIVE" and s.state["elements"])
    key = next(iter(base.state["elements"]))
    state = {**base.state, "incidents": {
        "12": {"key": 12, "element_key": int(key), "error_type": "JOB_FAILED", "message": "m"},
        "3": {"key": 3, "element_key": 999_999, "error_type": "X", "message": "é",
              "job_key": 4, "stage": "job"}}}
    odd = dataclasses.replace(base, state=state)
    row = instance_row(odd, 0, 1)
    assert row == full_instance_row(odd, 0, 1)
    assert row.status == "INCIDENT"
    assert [i["key"] for i in row.incidents] == [3, 12]
    # elements written in another order than their keys': shown in the keys' order
    many = max(snapshots, key=lambda s: len(s.state["elements"]))
    assert len(many.state["elements"]) > 2
    backwards = dict(reversed(list(many.state["elements"].items())))
    turned = dataclasses.replace(many, state={**many.state, "elements": backwards})
    assert instance_row(turned, 0, 1) == full_instance_row(turned, 0, 1)
    assert instance_row(turned, 0, 1).active_elements == instance_row(many, 0, 1).active_elements
    # a field `from_dict` drops (an element's removed `waits`): read the full way, the same
    elements = {k: {**v, "waits": 1} for k, v in base.state["elements"].items()}
    dropped = dataclasses.replace(base, state={**base.state, "elements": elements})
    assert instance_row(dropped, 0, 1) == full_instance_row(dropped, 0, 1)
    assert {"ACTIVE", "COMPLETED"} <= statuses
