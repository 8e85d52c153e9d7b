"""The audit log's hash chain without a database: every kind of tampering is named by seq."""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

import pytest

from laneway.jsonb import jsonb_safe
from services.audit.chain import (
    ZERO_HASH,
    ChainRow,
    canonical,
    json_texts,
    link,
    row_hash,
    verify_chain,
)

IID = "4c1f7a52-0000-4000-8000-000000000001"


def _rows(n: int = 6) -> list[ChainRow]:
    unlinked = [
        ChainRow(
            instance_id=IID, seq=i, record_id=f"run-{i}.0", kind="EVENT",
            intent="ELEMENT_ACTIVATED", element_id=f"e{i}", element_type="serviceTask",
            token_id=i, scope_id=1,
            principal={"kind": "human", "id": "ana", "roles": ["clerk"],
                       "claims": {"mfa": True, "exp": 1.5}},
            value={"key": i, "variables": {"amount": 10.25, "lines": [1, "two", None]}},
            timestamp=1_767_225_600_000 + i, prev_hash="",
        )
        for i in range(1, n + 1)
    ]
    return link(unlinked)


def test_given_a_linked_chain_when_verified_then_it_passes() -> None:
    rows = _rows()
    result = verify_chain(rows)
    assert result.ok
    assert result.rows == 6
    assert rows[0].prev_hash == ZERO_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert result.to_dict() == {"ok": True, "rows": 6, "firstBadSeq": None, "reason": None,
                                "check": None}


def test_an_empty_chain_verifies_with_no_rows() -> None:
    assert verify_chain([]).to_dict() == {"ok": True, "rows": 0, "firstBadSeq": None,
                                          "reason": None, "check": None}


_TAMPERED: dict[str, Any] = {
    "instance_id": "another-instance",
    "record_id": "forged",
    "kind": "REJECTION",
    "intent": "ELEMENT_COMPLETED",
    "element_id": "other",
    "element_type": "userTask",
    "token_id": 99,
    "scope_id": 2,
    "principal": {"kind": "human", "id": "mallory", "roles": ["clerk"],
                  "claims": {"mfa": True, "exp": 1.5}},
    "value": {"key": 3, "variables": {"amount": 10_000.25, "lines": [1, "two", None]}},
    "timestamp": 1_767_225_600_999,
}


@pytest.mark.parametrize("field", sorted(_TAMPERED))
def test_given_one_field_of_a_row_changed_when_verified_then_that_seq_is_named(
    field: str,
) -> None:
    rows = _rows()
    rows[2] = dataclasses.replace(rows[2], **{field: _TAMPERED[field]})
    result = verify_chain(rows)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.rows == 3


def test_a_nested_claim_or_role_change_is_detected() -> None:
    rows = _rows()
    principal = dict(rows[1].principal)
    principal["roles"] = ["clerk", "approver"]
    rows[1] = dataclasses.replace(rows[1], principal=principal)
    assert verify_chain(rows).first_bad_seq == 2


def test_given_a_changed_row_with_its_hash_recomputed_then_the_next_link_breaks() -> None:
    rows = _rows()
    forged = dataclasses.replace(rows[2], value={"key": 3, "forged": True})
    rows[2] = dataclasses.replace(forged, hash=row_hash(forged))
    result = verify_chain(rows)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "does not link" in (result.reason or "")


def test_a_changed_hash_or_previous_hash_is_detected() -> None:
    rows = _rows()
    bad_hash = [*rows[:4], dataclasses.replace(rows[4], hash="f" * 64), *rows[5:]]
    assert verify_chain(bad_hash).first_bad_seq == 5
    bad_link = [*rows[:4], dataclasses.replace(rows[4], prev_hash=ZERO_HASH), *rows[5:]]
    assert verify_chain(bad_link).first_bad_seq == 5


def test_given_a_deleted_row_when_verified_then_the_missing_seq_is_named() -> None:
    rows = _rows()
    del rows[3]
    result = verify_chain(rows)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "seq 4 missing" in (result.reason or "")


def test_given_several_deleted_rows_then_the_first_missing_seq_is_named() -> None:
    rows = _rows()
    result = verify_chain([rows[0], rows[4], rows[5]])
    assert result.first_bad_seq == 2
    assert "seqs 2 to 4 missing" in (result.reason or "")


def test_given_the_first_row_deleted_then_seq_1_is_named() -> None:
    assert verify_chain(_rows()[1:]).first_bad_seq == 1


def test_given_two_rows_swapped_when_verified_then_the_first_out_of_place_seq_is_named() -> None:
    rows = _rows()
    rows[1], rows[2] = rows[2], rows[1]
    result = verify_chain(rows)
    assert (result.ok, result.first_bad_seq) == (False, 2)


def test_given_rows_renumbered_after_a_swap_then_the_broken_link_is_named() -> None:
    rows = _rows()
    swapped = [rows[0], dataclasses.replace(rows[2], seq=2), dataclasses.replace(rows[1], seq=3),
               *rows[3:]]
    result = verify_chain(swapped)
    assert (result.ok, result.first_bad_seq) == (False, 2)


def test_given_a_duplicated_row_when_verified_then_the_repeated_seq_is_named() -> None:
    rows = _rows()
    result = verify_chain([*rows[:3], rows[2], *rows[3:]])
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert "appears again" in (result.reason or "")


def test_given_a_row_inserted_and_the_rest_renumbered_then_the_insertion_is_named() -> None:
    rows = _rows()
    extra = dataclasses.replace(rows[2], record_id="inserted", seq=3)
    extra = dataclasses.replace(extra, hash=row_hash(extra))
    renumbered = [dataclasses.replace(r, seq=r.seq + 1) for r in rows[2:]]
    result = verify_chain([*rows[:2], extra, *renumbered])
    # the inserted row links correctly and hashes correctly; the old seq 3, now 4, does not
    assert (result.ok, result.first_bad_seq) == (False, 4)


def test_given_a_row_appended_with_a_wrong_link_then_it_is_named() -> None:
    rows = _rows()
    extra = dataclasses.replace(rows[5], seq=7, record_id="appended", prev_hash=ZERO_HASH)
    extra = dataclasses.replace(extra, hash=row_hash(extra))
    assert verify_chain([*rows, extra]).first_bad_seq == 7


def test_the_canonical_form_is_sorted_compact_ascii_json_of_every_field() -> None:
    row = _rows(1)[0]
    text = canonical(row).decode("ascii")
    assert text.startswith('{"elementId":"e1","elementType":"serviceTask","instanceId":')
    assert ", " not in text
    assert ": " not in text
    for key in ("seq", "recordId", "kind", "intent", "tokenId", "scopeId", "principal",
                "value", "timestamp", "prevHash"):
        assert f'"{key}":' in text


def test_numbers_are_hashed_by_value_as_jsonb_gives_them_back() -> None:
    row = _rows(1)[0]
    as_float = dataclasses.replace(row, value={"n": 1e16, "m": 2.0, "x": 0.1})
    as_numeric = dataclasses.replace(row, value={"n": 10_000_000_000_000_000, "m": 2, "x": 0.1})
    assert row_hash(as_float) == row_hash(as_numeric)
    assert row_hash(as_float) != row_hash(dataclasses.replace(row, value={"n": 1e16, "m": 2.5,
                                                                          "x": 0.1}))


def test_jsonb_safe_replaces_only_what_jsonb_refuses() -> None:
    value = {"a": float("nan"), "b": [float("inf"), -float("inf")], "c": "x\x00y",
             "d": {"e": 1.5, "f": True, "g": None, "h": 7}}
    assert jsonb_safe(value) == {"a": "NaN", "b": ["Infinity", "-Infinity"], "c": "x\ufffdy",
                                 "d": {"e": 1.5, "f": True, "g": None, "h": 7}}


_AWKWARD: list[Any] = [
    {},
    {"s": "ünïcode ✓ \U0001f600", "q": 'quote " and \\ backslash', "n": None},
    {"f": 2.0, "g": -0.0, "h": 1e16, "i": 1.5e300, "j": 0.1, "k": 2.05, "l": 1e-7},
    {"text": "version 1.0, then 2.0e+3", "nested": {"b": [1.0, {"c": 3}], "a": True}},
    {"z": 1, "a": [3, 2, 1], "m": {"y": "x"}},
]


@pytest.mark.parametrize("value", _AWKWARD)
def test_the_fast_canonical_form_equals_sorted_compact_json_with_numbers_by_value(
    value: Any,
) -> None:
    row = dataclasses.replace(_rows(1)[0], value=value)
    reference = json.dumps(
        {"instanceId": row.instance_id, "seq": row.seq, "recordId": row.record_id,
         "kind": row.kind, "intent": row.intent, "elementId": row.element_id,
         "elementType": row.element_type, "tokenId": row.token_id, "scopeId": row.scope_id,
         "principal": row.principal, "value": _by_value(value), "timestamp": row.timestamp,
         "prevHash": row.prev_hash},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert canonical(row) == reference.encode()


def _by_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _by_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_by_value(v) for v in value]
    return value


def test_json_texts_store_what_jsonb_accepts_and_hash_numbers_by_value() -> None:
    stored, hashed = json_texts({"a": float("nan"), "b": "x\x00", "c": 3.0})
    assert stored == '{"a":"NaN","b":"x\\ufffd","c":3.0}'
    assert hashed == '{"a":"NaN","b":"x\\ufffd","c":3}'
    assert json_texts({"a": 1, "b": [0.5]}) == ('{"a":1,"b":[0.5]}', '{"a":1,"b":[0.5]}')
