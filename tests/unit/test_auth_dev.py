"""`laneway.auth.dev`: the development key pair and tokens signed with it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from laneway.auth import AuthError, AuthSettings, TokenVerifier
from laneway.auth.dev import ensure_dev_key, issue_secret_token, issue_token, load_signing_key
from laneway.records import PrincipalKind

SECRET = "k" * 32


def test_key_pair_created_once_with_private_mode(tmp_path: Path) -> None:
    directory = tmp_path / "var" / "dev" / "jwt"
    signing = ensure_dev_key(directory)
    assert signing == directory / "signing-key.json"
    assert stat.S_IMODE(signing.stat().st_mode) == 0o600
    private = json.loads(signing.read_text())
    public = json.loads((directory / "jwks.json").read_text())
    assert (private["kty"], private["crv"]) == ("EC", "P-256")
    assert "d" in private
    assert [k["kid"] for k in public["keys"]] == [private["kid"]]
    assert "d" not in public["keys"][0]

    # Again: the same key, so tokens issued before stay valid.
    ensure_dev_key(directory)
    assert json.loads(signing.read_text()) == private
    # A lost or stale jwks.json is written again from the signing key.
    (directory / "jwks.json").write_text('{"keys": []}')
    ensure_dev_key(directory)
    assert json.loads((directory / "jwks.json").read_text()) == public


def test_issued_token_verifies_against_the_jwks(tmp_path: Path) -> None:
    signing = ensure_dev_key(tmp_path)
    verifier = TokenVerifier(AuthSettings(jwks_file=tmp_path / "jwks.json"))
    token = issue_token(signing, user="ben", personas=["Case Worker"], roles=["reviewer"],
                        groups=["ops"], kind="agent", name="Ben")
    principal = verifier.verify(token)
    assert (principal.kind, principal.id, principal.roles) == (
        PrincipalKind.AGENT, "ben", ("reviewer",))
    assert (principal.personas, principal.groups) == (("Case Worker",), ("ops",))
    assert "name" not in principal.claims  # kept out of the events (docs/people.md)


def test_ttl_and_now(tmp_path: Path) -> None:
    signing = ensure_dev_key(tmp_path)
    now = 1_800_000_000
    verifier = TokenVerifier(AuthSettings(jwks_file=tmp_path / "jwks.json"),
                             clock=lambda: now + 200)
    assert verifier.verify(issue_token(signing, user="a", ttl_s=300, now=now)).id == "a"
    with pytest.raises(AuthError, match="token expired"):
        verifier.verify(issue_token(signing, user="a", ttl_s=100, now=now))


def test_other_issuer_and_audience(tmp_path: Path) -> None:
    signing = ensure_dev_key(tmp_path)
    verifier = TokenVerifier(AuthSettings(jwks_file=tmp_path / "jwks.json", issuer="idp",
                                          audience="api"))
    assert verifier.verify(issue_token(signing, user="a", issuer="idp", audience="api")).id == "a"
    with pytest.raises(AuthError, match="wrong audience"):
        verifier.verify(issue_token(signing, user="a", issuer="idp"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"user": " "}, "user id"),
    ({"user": "a", "kind": "system"}, "kind 'human' or 'agent'"),
    ({"user": "a", "ttl_s": 0}, "positive lifetime"),
])
def test_issue_token_refuses_bad_input(tmp_path: Path, kwargs: dict[str, object],
                                       message: str) -> None:
    signing = ensure_dev_key(tmp_path)
    with pytest.raises(ValueError, match=message):
        issue_token(signing, **kwargs)  # type: ignore[arg-type]


def test_signing_key_must_be_private(tmp_path: Path) -> None:
    ensure_dev_key(tmp_path)
    public_only = tmp_path / "public.json"
    public_only.write_text(json.dumps(json.loads((tmp_path / "jwks.json").read_text())["keys"][0]))
    with pytest.raises(ValueError, match="private EC JWK"):
        load_signing_key(public_only)
    with pytest.raises(FileNotFoundError):
        issue_token(tmp_path / "missing.json", user="a")


def test_secret_tokens() -> None:
    verifier = TokenVerifier(AuthSettings(secret=SECRET))
    assert verifier.verify(issue_secret_token(SECRET, user="c", roles=["admin"])).roles == (
        "admin",)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue_secret_token("short", user="c")


def test_test_helpers_sign_tokens_the_session_key_verifies() -> None:
    from tests.auth import ADMIN, auth_env, auth_header, jwks_file, token, verifier

    assert auth_env() == {"LANEWAY_JWT_JWKS_FILE": str(jwks_file())}
    check = TokenVerifier(AuthSettings(jwks_file=jwks_file()))
    admin = check.verify(ADMIN["Authorization"].removeprefix("Bearer "))
    assert (admin.id, admin.roles) == ("admin", ("admin",))
    carla = verifier().verify(token("carla", personas=["Case Worker"], groups=["ops"]))
    assert (carla.personas, carla.groups) == (("Case Worker",), ("ops",))
    header = auth_header("bot", roles=["operator"], kind="agent")
    bot = check.verify(header["Authorization"].removeprefix("Bearer "))
    assert (bot.kind, bot.roles) == (PrincipalKind.AGENT, ("operator",))
