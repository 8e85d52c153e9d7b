"""`laneway token`: a development token on stdout, nothing else; errors on stderr with exit 2."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from laneway.auth import AuthSettings, TokenVerifier
from laneway.auth.dev import ensure_dev_key
from laneway.cli import main
from laneway.records import PrincipalKind


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "var" / "dev" / "jwt"
    ensure_dev_key(directory)
    return directory


def verifier(key_dir: Path, issuer: str = "laneway-dev", audience: str = "laneway",
             ) -> TokenVerifier:
    return TokenVerifier(AuthSettings(jwks_file=key_dir / "jwks.json", issuer=issuer,
                                      audience=audience))


def payload(token: str) -> dict[str, Any]:
    """The token's claims as signed (the principal keeps only personas and groups)."""
    part = token.split(".")[1]
    loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return loaded


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_prints_only_the_token(key_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["token", "--user", "carla", "--persona", "Case Worker",
                          "--persona", "Clerk", "--role", "reviewer", "--group", "ops",
                          "--key", str(key_dir / "signing-key.json")], capsys)
    assert (code, err) == (0, "")
    assert out.endswith("\n")
    assert out.count("\n") == 1
    principal = verifier(key_dir).verify(out.strip())
    assert (principal.kind, principal.id, principal.roles) == (
        PrincipalKind.HUMAN, "carla", ("reviewer",))
    assert (principal.personas, principal.groups) == (("Case Worker", "Clerk"), ("ops",))
    # the default lifetime: 8 hours
    claims = payload(out.strip())
    assert claims["exp"] - claims["iat"] == 8 * 3600


def test_default_key_under_the_current_directory(key_dir: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LANEWAY_DEV_KEY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["token", "--user", "sla-bot", "--kind", "agent", "--ttl", "30m"],
                       capsys)
    assert code == 0
    principal = verifier(key_dir).verify(out.strip())
    assert principal.kind is PrincipalKind.AGENT
    claims = payload(out.strip())
    assert claims["exp"] - claims["iat"] == 1800


def test_key_from_the_environment_and_issuer_audience(key_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LANEWAY_DEV_KEY_FILE", str(key_dir / "signing-key.json"))
    monkeypatch.setenv("LANEWAY_JWT_ISSUER", "idp")
    monkeypatch.setenv("LANEWAY_JWT_AUDIENCE", "api")
    code, out, _ = run(["token", "--user", "ben", "--ttl", "90"], capsys)
    assert code == 0
    principal = verifier(key_dir, issuer="idp", audience="api").verify(out.strip())
    assert principal.id == "ben"
    claims = payload(out.strip())
    assert claims["exp"] - claims["iat"] == 90
    assert claims["exp"] > time.time()


def test_ttl_beyond_the_services_maximum_is_refused(key_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # the services refuse a token valid for more than LANEWAY_JWT_MAX_LIFETIME_S (24 h):
    # signing one would only move the error to the first call
    monkeypatch.setenv("LANEWAY_DEV_KEY_FILE", str(key_dir / "signing-key.json"))
    monkeypatch.delenv("LANEWAY_JWT_MAX_LIFETIME_S", raising=False)
    assert run(["token", "--user", "ben", "--ttl", "1d"], capsys)[0] == 0
    code, out, err = run(["token", "--user", "ben", "--ttl", "2d"], capsys)
    assert (code, out) == (2, "")
    assert "at most 86400 s" in err
    assert "LANEWAY_JWT_MAX_LIFETIME_S" in err
    monkeypatch.setenv("LANEWAY_JWT_MAX_LIFETIME_S", str(3 * 86400))
    assert run(["token", "--user", "ben", "--ttl", "2d"], capsys)[0] == 0


def test_missing_key_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LANEWAY_DEV_KEY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["token", "--user", "carla"], capsys)
    assert (code, out) == (2, "")
    assert "var/dev/jwt/signing-key.json" in err
    assert "make up" in err
    assert "LANEWAY_DEV_KEY_FILE" in err


def test_unusable_key_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "key.json"
    bad.write_text("{}")
    code, out, err = run(["token", "--user", "carla", "--key", str(bad)], capsys)
    assert (code, out) == (2, "")
    assert "private EC JWK" in err


@pytest.mark.parametrize("argv", [
    ["token"],
    ["token", "--user", "a", "--ttl", "0"],
    ["token", "--user", "a", "--ttl", "8 hours"],
    ["token", "--user", "a", "--kind", "system"],
])
def test_bad_usage_is_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert "usage: laneway token" in err
