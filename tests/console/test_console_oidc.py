"""Signing in with OpenID Connect: authorization code with PKCE against a real issuer on a
local port (tests/console/oidc_provider.py), the services verifying its tokens by its JWKS
URL, the token refreshed before it expires, and the development picker off (404)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from scripts.stack import Connections
from scripts.stack.testing import wait_until
from tests.console.oidc_provider import Provider, serve
from tests.e2e.harness import Laneway


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    # short-lived access tokens, so the console refreshes one during the test (a minute
    # before expiry, at least 5 s after it got it)
    p = Provider(access_ttl_s=66)
    server, _ = serve(p)
    yield p
    server.shutdown()


@pytest.fixture(scope="module")
def oidc_laneway(stack: Connections, provider: Provider,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Laneway]:
    lw = Laneway(bootstrap=stack.kafka_bootstrap_servers, database_url=stack.database_url,
                 redis_url=stack.redis_url, workdir=tmp_path_factory.mktemp("oidc"),
                 services=("definitions", "worklist", "audit"),
                 env_overrides={"LANEWAY_OIDC_ISSUER": provider.issuer,
                                "LANEWAY_OIDC_CLIENT_ID": provider.client_id,
                                "LANEWAY_JWT_ISSUER": provider.issuer,
                                "LANEWAY_JWT_JWKS_FILE": "",
                                "LANEWAY_JWT_JWKS_URL": f"{provider.issuer}/jwks"})
    lw.start()
    provider.allowed_origin = lw.public_url
    yield lw
    lw.close()


def test_sign_in_with_pkce_then_the_token_is_refreshed(oidc_laneway: Laneway,
                                                      provider: Provider, page: Page) -> None:
    base = oidc_laneway.public_url
    csp = httpx.get(base + "/").headers["content-security-policy"]
    assert f"connect-src 'self' {provider.issuer};" in csp
    # development sign-in is off here: its routes do not exist
    assert httpx.get(base + "/api/dev/users").status_code == 404

    page.goto(base + "/tasks")
    page.get_by_role("button", name="Sign in with").click()
    # the issuer's own login page (another origin), then back to the console
    expect(page.get_by_role("heading", name="Test issuer: sign in")).to_be_visible()
    page.get_by_label("User").select_option("olivia")
    page.get_by_role("button", name="Sign in").click()
    who = page.get_by_test_id("who")
    expect(who).to_contain_text("olivia")
    expect(who).to_contain_text("operator")
    expect(who).to_contain_text("Case Worker")
    page.wait_for_url(base + "/tasks")
    assert provider.grants == ["authorization_code"]
    # the worklist asked the API with the issuer's token and got an answer, not a 401
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    expect(page.locator(".notice.error")).to_have_count(0)

    wait_until(lambda: "refresh_token" in provider.grants, 30, 0.2, "a refresh_token grant")
    page.get_by_role("link", name="Instances").click()
    expect(page.get_by_test_id("who")).to_contain_text("olivia")
    expect(page.locator(".notice.error")).to_have_count(0)


def test_a_callback_this_page_did_not_start_is_refused(oidc_laneway: Laneway,
                                                      page: Page) -> None:
    page.goto(oidc_laneway.public_url + "/sign-in/callback?code=stolen&state=forged")
    expect(page.get_by_role("heading", name="Sign-in failed")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("state")


def test_the_issuer_refuses_a_code_without_its_verifier(provider: Provider,
                                                       browser: Browser) -> None:
    # the provider itself must hold PKCE, or the test above proves nothing about it
    r = httpx.post(f"{provider.issuer}/token", data={
        "grant_type": "authorization_code", "client_id": provider.client_id,
        "code": "nothing", "redirect_uri": "http://x/", "code_verifier": "v"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"
