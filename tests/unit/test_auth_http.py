"""`laneway.auth.http`: bearer tokens at a FastAPI edge (401, 403, 503 and the principal)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from laneway.auth import AuthSettings, TokenVerifier
from laneway.auth.dev import ensure_dev_key, issue_token
from laneway.auth.http import Authenticated, MaybeAuthenticated, require_role
from laneway.records import Principal


def build_app(verifier: object) -> FastAPI:
    app = FastAPI()
    app.state.verifier = verifier

    @app.get("/me")
    def me(principal: Authenticated) -> dict[str, Any]:
        return principal.to_dict()

    @app.get("/maybe")
    def maybe(principal: MaybeAuthenticated) -> dict[str, Any]:
        return {"id": principal.id if principal else None}

    @app.get("/review")
    def review(principal: Annotated[Principal, Depends(require_role("reviewer", "operator"))],
               ) -> dict[str, str]:
        return {"id": principal.id}

    return app


@pytest.fixture
def signing(tmp_path: Path) -> Path:
    return ensure_dev_key(tmp_path)


@pytest.fixture
def client(tmp_path: Path, signing: Path) -> TestClient:
    verifier = TokenVerifier(AuthSettings(jwks_file=tmp_path / "jwks.json"))
    return TestClient(build_app(verifier))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_valid_token_gives_the_principal(client: TestClient, signing: Path) -> None:
    token = issue_token(signing, user="carla", personas=["Case Worker"], roles=["modeler"])
    response = client.get("/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["id"], body["roles"]) == ("human", "carla", ["modeler"])
    assert body["claims"]["personas"] == ["Case Worker"]
    assert token not in response.text


def test_no_token_is_401_with_a_plain_challenge(client: TestClient) -> None:
    response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["detail"]


def test_bad_token_is_401_with_the_reason(client: TestClient, signing: Path) -> None:
    expired = issue_token(signing, user="carla", now=1_000_000_000, ttl_s=60)
    response = client.get("/me", headers=bearer(expired))
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="token expired')
    assert response.json()["detail"].startswith("Invalid bearer token: token expired at 2001")


def test_other_scheme_is_401_without_echoing_the_credential(client: TestClient) -> None:
    response = client.get("/me", headers={"Authorization": "Basic c2VjcmV0OnBhc3N3b3Jk"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_request"')
    assert "c2VjcmV0" not in response.text
    assert client.get("/me", headers={"Authorization": "Bearer "}).status_code == 401


def test_optional_principal(client: TestClient, signing: Path) -> None:
    assert client.get("/maybe").json() == {"id": None}
    token = issue_token(signing, user="ben")
    assert client.get("/maybe", headers=bearer(token)).json() == {"id": "ben"}
    bad = client.get("/maybe", headers=bearer("not-a-token"))
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_require_role(client: TestClient, signing: Path) -> None:
    modeler = issue_token(signing, user="carla", roles=["modeler"])
    response = client.get("/review", headers=bearer(modeler))
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Expected one of the roles reviewer, operator, but carla holds modeler")
    nobody = issue_token(signing, user="dan")
    assert client.get("/review", headers=bearer(nobody)).json()["detail"].endswith(
        "dan holds no role")
    for roles in (["operator"], ["admin"]):
        ok = client.get("/review", headers=bearer(issue_token(signing, user="eve", roles=roles)))
        assert (ok.status_code, ok.json()) == (200, {"id": "eve"})
    assert client.get("/review").status_code == 401


def test_unreachable_key_source_is_503(signing: Path) -> None:
    # Port 9 (discard) on the loopback refuses connections: the IdP is down, not the caller.
    verifier = TokenVerifier(AuthSettings(jwks_url="http://127.0.0.1:9/jwks.json"))
    response = TestClient(build_app(verifier)).get(
        "/me", headers=bearer(issue_token(signing, user="carla")))
    assert response.status_code == 503
    assert response.json()["detail"].startswith("Expected to verify the token with the "
                                                "identity provider's keys, but they cannot")
    assert "127.0.0.1:9" not in response.text  # where the keys come from is not the caller's


def test_a_token_of_a_key_not_trusted_is_401_without_naming_where_the_keys_are(
        tmp_path: Path, client: TestClient) -> None:
    stranger = ensure_dev_key(tmp_path / "elsewhere")  # another key id
    response = client.get("/me", headers=bearer(issue_token(stranger, user="carla")))
    assert response.status_code == 401
    assert "no such key in the trusted key set" in response.json()["detail"]
    assert str(tmp_path) not in response.text
    assert str(tmp_path) not in response.headers["www-authenticate"]


def test_app_without_a_verifier_is_a_server_error(signing: Path) -> None:
    client = TestClient(build_app(None), raise_server_exceptions=False)
    response = client.get("/me", headers=bearer(issue_token(signing, user="carla")))
    assert response.status_code == 500


def test_require_role_needs_a_role() -> None:
    with pytest.raises(ValueError, match="at least one role"):
        require_role()
