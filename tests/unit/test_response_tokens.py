"""The `response` connector's one-time links: signing, verifying, expiry, tampering."""

from __future__ import annotations

import base64
import json

import pytest

from laneway.response_tokens import (
    MAX_TOKEN,
    ResponseToken,
    TokenRefused,
    check_fields,
    new_token_id,
    sign,
    verify,
)

KEY = "k" * 40
NOW = 1_800_000_000


def _token(**kw: object) -> ResponseToken:
    values: dict[str, object] = {
        "token_id": new_token_id(), "instance_id": "4a5b6c7d-1111-4222-8333-944455566677",
        "expires_s": NOW + 60, "job_key": 7, "fields": ("decision", "comment"),
        "title": "Approve the permit?"}
    values.update(kw)
    return ResponseToken(**values)  # type: ignore[arg-type]


def _reason(text: str, now: float = NOW, key: str = KEY) -> str:
    with pytest.raises(TokenRefused) as refused:
        verify(key, text, now)
    return refused.value.reason


def test_a_signed_token_verifies_to_what_was_signed() -> None:
    token = _token()
    text = sign(KEY, token)
    assert verify(KEY, text, NOW) == token
    assert token.mode == "task"
    message = _token(job_key=None, message="answer-received", webhook_secret="partner",
                     result="answer")
    assert verify(KEY, sign(KEY, message), NOW) == message
    assert message.mode == "message"
    # url-safe: nothing to escape in a path
    assert all(c.isalnum() or c in "-_." for c in text)


def test_an_expired_token_is_refused_as_expired() -> None:
    text = sign(KEY, _token(expires_s=NOW + 60))
    assert verify(KEY, text, NOW + 59).token_id
    assert _reason(text, NOW + 60) == "expired"


def test_a_tampered_payload_or_mac_or_another_key_is_invalid() -> None:
    token = _token(expires_s=NOW + 60)
    text = sign(KEY, token)
    body, mac = text.split(".")
    # a later expiry, another job: the payload changes, the mac does not match
    forged = dict(token.payload(), e=NOW + 10**6, j=8)
    forged_body = base64.urlsafe_b64encode(
        json.dumps(forged, separators=(",", ":")).encode()).rstrip(b"=").decode()
    assert _reason(f"{forged_body}.{mac}") == "invalid"
    assert _reason(f"{body}.{mac[:-2]}AA") == "invalid"
    assert _reason(text, key="x" * 40) == "invalid"
    for junk in ("", ".", "a.b.c", "no-dot", "é.é", "x" * (MAX_TOKEN + 1)):
        assert _reason(junk) == "invalid"


def test_a_well_signed_payload_that_is_malformed_is_invalid() -> None:
    # signed with the key, but not a token's shape: still refused, never an exception
    from laneway.response_tokens import _b64, _mac
    for payload in ({"v": 2}, {"v": 1, "id": "x", "i": "y", "e": NOW + 9},
                    {"v": 1, "id": "x", "i": "y", "e": NOW + 9, "j": 1, "m": "both"},
                    {"v": 1, "id": "x", "i": "y", "e": "soon", "j": 1},
                    {"v": 1, "id": "x", "i": "y", "e": NOW + 9, "j": 1, "f": ["a b"]},
                    [1, 2]):
        body = _b64(json.dumps(payload).encode())
        assert _reason(f"{body}.{_mac(KEY, body)}") == "invalid"


def test_sizes_and_keys_are_bounded() -> None:
    with pytest.raises(ValueError, match="signing key"):
        sign("short", _token())
    with pytest.raises(ValueError, match="at most"):
        sign(KEY, _token(title="t" * 5000))
    assert check_fields(["a"] * 2) is not None
    assert check_fields([f"f{i}" for i in range(21)]) is not None
    assert check_fields(["has space"]) is not None
    assert check_fields(["decision", "comment"]) is None
