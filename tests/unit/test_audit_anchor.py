"""The signed head of an audit chain: a cut tail and a recomputed chain fail without a
database (services/audit/anchor.py); against PostgreSQL in
tests/integration/test_audit_append_only.py."""

from __future__ import annotations

import dataclasses

import pytest

from services.audit.anchor import Checkpoint, HeadSigner, check_head
from services.audit.chain import ChainRow, link, verify_chain

IID = "4c1f7a52-0000-4000-8000-000000000002"
SIGNER = HeadSigner(b"k" * 32)
OTHER = HeadSigner(b"o" * 32)


def _rows(n: int = 5, amount: int = 10) -> list[ChainRow]:
    return link(ChainRow(IID, i, f"r-{i}", "EVENT", "ELEMENT_ACTIVATED", f"e{i}", "task", i, 1,
                         {"kind": "system", "id": "engine", "roles": []},
                         {"amount": amount if i == 3 else i}, 1_767_225_600_000 + i, "")
                for i in range(1, n + 1))


def _check(rows: list[ChainRow], checkpoint: Checkpoint | None) -> tuple[bool, str | None,
                                                                            int | None]:
    result = check_head(verify_chain(rows), rows[-1] if rows else None, checkpoint, SIGNER)
    return result.ok, result.check, result.first_bad_seq


def _head(rows: list[ChainRow]) -> Checkpoint:
    return SIGNER.sign(IID, rows[-1].seq, rows[-1].hash)


def test_a_chain_ending_at_its_signed_head_verifies() -> None:
    rows = _rows()
    assert _check(rows, _head(rows)) == (True, None, None)


def test_a_cut_tail_is_named_with_the_first_missing_seq() -> None:
    rows = _rows()
    head = _head(rows)
    assert _check(rows[:-1], head) == (False, "cut", 5)
    assert _check(rows[:2], head)[1:] == ("cut", 3)
    # every row gone, the head still there
    assert _check([], head) == (False, "cut", 1)


def test_a_chain_recomputed_after_a_change_fails_against_the_head() -> None:
    rows = _rows()
    head = _head(rows)
    rewritten = _rows(amount=10_000)  # a changed row, every hash after it recomputed
    assert verify_chain(rewritten).ok  # the chain alone cannot tell
    assert _check(rewritten, head) == (False, "head", 5)


def test_a_head_rewritten_to_match_without_the_key_fails_its_signature() -> None:
    rewritten = _rows(amount=10_000)
    forged = OTHER.sign(IID, 5, rewritten[-1].hash)
    assert _check(rewritten, forged)[:2] == (False, "signature")
    # a signed head of one instance does not sign another's
    moved = dataclasses.replace(_head(rewritten), instance_id="another")
    assert _check(rewritten, moved)[:2] == (False, "signature")


def test_rows_past_the_head_and_a_missing_head_are_named() -> None:
    rows = _rows()
    assert _check(rows, SIGNER.sign(IID, 4, rows[3].hash)) == (False, "unanchored", 5)
    assert _check(rows, None)[:2] == (False, "checkpoint")


def test_a_broken_chain_is_reported_before_its_head() -> None:
    rows = _rows()
    head = _head(rows)
    del rows[1]
    assert _check(rows, head) == (False, "sequence", 2)


def test_a_short_key_is_refused_and_never_shown() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        HeadSigner(b"short")
    assert "k" * 32 not in repr(SIGNER)
