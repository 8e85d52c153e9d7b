"""Credentials per schedule: sealed with the deployment's key, bound to their schedule, never
readable without the key; and the webhook's signature check."""

from __future__ import annotations

import time

import pytest

from laneway.connectors import Secrets
from laneway.triggers.builtin.webhook import HookRefused, WebhookTrigger, sign
from services.triggers.credentials import CredentialsUnavailable, Vault, check_values

KEY = {"LANEWAY_SECRET_TRIGGERS_CREDENTIALS_KEY": "k" * 40, "LANEWAY_SECRETS_DIR": "/nonexistent"}
S1 = "2b1f0f62-7f3c-5d0e-9a4b-000000000001"
S2 = "2b1f0f62-7f3c-5d0e-9a4b-000000000002"


def test_sealed_credentials_open_only_for_their_schedule_and_key() -> None:
    vault = Vault(Secrets(KEY))
    sealed = vault.seal(S1, {"password": "hunter2-long-enough"})
    assert b"hunter2" not in sealed
    assert vault.open(S1, sealed) == {"password": "hunter2-long-enough"}
    with pytest.raises(CredentialsUnavailable):
        vault.open(S2, sealed)  # copied onto another schedule
    other = Vault(Secrets({**KEY, "LANEWAY_SECRET_TRIGGERS_CREDENTIALS_KEY": "x" * 40}))
    with pytest.raises(CredentialsUnavailable):
        other.open(S1, sealed)


def test_opened_values_are_redacted_from_what_is_logged() -> None:
    secrets = Secrets(KEY)
    vault = Vault(secrets)
    vault.open(S1, vault.seal(S1, {"password": "hunter2-long-enough"}))
    assert secrets.redact("login failed for hunter2-long-enough") == "login failed for ***"


def test_no_key_or_a_short_key_says_so() -> None:
    assert "not configured" in (Vault(Secrets({"LANEWAY_SECRETS_DIR": "/nonexistent"}))
                                .available() or "")
    short = Vault(Secrets({**KEY, "LANEWAY_SECRET_TRIGGERS_CREDENTIALS_KEY": "short"}))
    assert "at least 32" in (short.available() or "")


def test_values_are_checked() -> None:
    assert check_values({"user": "a"}) == {"user": "a"}
    for bad in ({"user": 1}, {"../x": "a"}, {f"k{i}": "v" for i in range(21)},
                {"big": "x" * 9000}):
        with pytest.raises(ValueError, match="Expected"):
            check_values(bad)


def _headers(secret: str, body: bytes, ts: float, delivery: str | None = "d1"
             ) -> dict[str, str]:
    stamp = str(int(ts))
    out = {"x-laneway-timestamp": stamp, "x-laneway-signature": sign(secret, stamp, body)}
    if delivery is not None:
        out["x-laneway-delivery"] = delivery
    return out


def test_a_webhook_call_is_accepted_only_signed_in_time_and_as_a_json_object() -> None:
    hook = WebhookTrigger()
    now = time.time()
    body = b'{"order": 7}'
    creds = {"secret": "s" * 20}
    item = hook.accept({}, creds, _headers("s" * 20, body, now), body, now)
    assert item.dedup_key == "delivery:d1"
    assert item.variables == {"order": 7}
    named = hook.accept({"variablesName": "payload"}, creds,
                        _headers("s" * 20, body, now, None), body, now)
    assert named.variables == {"payload": {"order": 7}}
    assert named.dedup_key.startswith("signature:sha256=")
    cases = [
        ({}, _headers("s" * 20, body, now), body, 503),  # no secret set
        (creds, _headers("wrong", body, now), body, 401),
        (creds, _headers("s" * 20, body, now - 301), body, 401),  # outside the window
        (creds, _headers("s" * 20, body, now), body + b" ", 401),  # body changed
        (creds, {}, body, 401),
        # a signature header of non-ASCII bytes (the server decodes headers as latin-1): a
        # 401 like any wrong signature, not a TypeError from comparing text (a 500)
        (creds, {**_headers("s" * 20, body, now), "x-laneway-signature": "sha256=\xe9\xff"},
         body, 401),
        (creds, {**_headers("s" * 20, body, now), "x-laneway-signature": "sha256=ü"}, body, 401),
        (creds, _headers("s" * 20, b"[1]", now), b"[1]", 422),
        (creds, _headers("s" * 20, b"{", now), b"{", 422),
    ]
    for credentials, headers, sent, status in cases:
        with pytest.raises(HookRefused) as refused:
            hook.accept({}, credentials, headers, sent, now)
        assert refused.value.status == status, (headers, sent)
        assert "s" * 20 not in refused.value.message


def test_webhook_settings_are_checked_at_deploy() -> None:
    assert list(WebhookTrigger().check({"toleranceSeconds": "60",
                                        "signatureHeader": "X-Hub-Signature-256"})) == []
    assert len(list(WebhookTrigger().check({"toleranceSeconds": "0",
                                            "signatureHeader": "bad header",
                                            "variablesName": "1x"}))) == 3
