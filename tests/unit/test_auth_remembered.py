"""`TokenVerifier` remembers tokens verified with local keys (laneway/auth/_verify.py): the
same text is not checked again until it expires or the key set is read again; bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from joserfc import jws, jwt
from joserfc.jwk import OctKey

from laneway.auth import AuthError, AuthSettings, TokenVerifier
from laneway.auth import _verify as verify_module
from tests.unit.test_auth import NOW, SECRET, claims, ec_key, sign, write_jwks


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)
        self.mono = 0.0


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many signatures the verifier checked."""
    seen: list[int] = []
    real = jws.validate_compact

    def counting(*args: Any, **kwargs: Any) -> bool:
        seen.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(verify_module.jws, "validate_compact", counting)
    return seen


def _file_verifier(tmp_path: Path, clock: Clock, *keys: Any) -> tuple[TokenVerifier, Path]:
    path = write_jwks(tmp_path / "jwks.json", *keys)
    return TokenVerifier(AuthSettings(jwks_file=path), clock=lambda: clock.now,
                         monotonic=lambda: clock.mono), path


def test_a_token_is_checked_once_then_remembered(tmp_path: Path, checks: list[int]) -> None:
    key, clock = ec_key(), Clock()
    verifier, _ = _file_verifier(tmp_path, clock, key)
    token = sign(key, claims())
    first = verifier.verify(token)
    assert verifier.verify(token) == first
    assert verifier.verify(token).id == "carla"
    assert len(checks) == 1


def test_a_remembered_token_still_expires(tmp_path: Path) -> None:
    key, clock = ec_key(), Clock()
    verifier, _ = _file_verifier(tmp_path, clock, key)
    token = sign(key, claims(exp=NOW + 100))
    assert verifier.verify(token).id == "carla"
    clock.now = NOW + 100 + verifier.settings.leeway_s - 1
    assert verifier.verify(token).id == "carla"  # within the leeway, as joserfc has it
    clock.now = NOW + 100 + verifier.settings.leeway_s
    with pytest.raises(AuthError, match="token expired"):
        verifier.verify(token)


def test_a_remembered_token_is_refused_once_its_key_left_the_file(tmp_path: Path) -> None:
    old, new, clock = ec_key("old"), ec_key("new"), Clock()
    verifier, path = _file_verifier(tmp_path, clock, old)
    token = sign(old, claims())
    assert verifier.verify(token).id == "carla"
    write_jwks(path, new)  # the provider rotated: a token of the new key reads the file again
    clock.mono += 11
    assert verifier.verify(sign(new, claims())).id == "carla"
    with pytest.raises(AuthError, match="unknown key id 'old'"):
        verifier.verify(token)


def test_a_secret_verifier_remembers_too_and_a_url_one_does_not(checks: list[int]) -> None:
    secret = TokenVerifier(AuthSettings(secret=SECRET), clock=lambda: NOW)
    token = jwt.encode({"alg": "HS256"}, claims(), OctKey.import_key(SECRET.encode()),
                       algorithms=["HS256"])
    secret.verify(token)
    secret.verify(token)
    assert len(checks) == 1
    assert not secret.fetches
    remote = TokenVerifier(AuthSettings(jwks_url="https://idp.example/jwks.json"))
    assert remote.fetches  # verified in full every time (its keys' refresh rules stand)


def test_remembered_tokens_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       checks: list[int]) -> None:
    monkeypatch.setattr(verify_module, "VERIFIED_TOKENS", 3)
    key, clock = ec_key(), Clock()
    verifier, _ = _file_verifier(tmp_path, clock, key)
    tokens = [sign(key, claims(sub=f"user-{n}")) for n in range(5)]
    for token in tokens:
        verifier.verify(token)
    assert len(verifier._verified) == 3
    verifier.verify(tokens[-1])  # still remembered
    assert len(checks) == 5
    verifier.verify(tokens[0])  # the oldest was forgotten: checked again
    assert len(checks) == 6
