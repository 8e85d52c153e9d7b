"""The console is served by the edge, with its CSP, and its shell runs in Chromium."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.harness import Laneway


def test_the_edge_serves_the_console_with_a_csp_without_eval(console: Laneway) -> None:
    for path in ("/", "/tasks", "/instances/1234", "/forms/permit"):
        r = httpx.get(console.public_url + path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp, csp
        assert "unsafe-eval" not in csp, csp
        assert r.headers["x-content-type-options"] == "nosniff"
    assert "/assets/console-" in httpx.get(console.public_url + "/").text
    assert "/assets/form-" in httpx.get(console.public_url + "/forms/permit").text
    # the bundle goes compressed, and is cached for good (its name changes with its content)
    script = re.search(r'src="(/assets/console-[^"]+\.js)"',
                       httpx.get(console.public_url + "/").text)
    assert script is not None
    r = httpx.get(console.public_url + script.group(1), headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["content-type"].startswith("text/javascript")
    assert "immutable" in r.headers["cache-control"]
    # the API keeps its own answers: an unknown API path is a problem, not the console's page
    r = httpx.get(console.public_url + "/api/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_a_console_page_without_a_session_asks_to_sign_in(console: Laneway, page: Page) -> None:
    page.goto(console.public_url + "/tasks")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert "next=%2Ftasks" in page.url
