"""Every service's OpenAPI page (Swagger UI) loads only files the service serves itself
(laneway/web/docs.py), so /docs works on a network without the internet; through the edge
too (edge/routes.toml)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from laneway.web.docs import ASSETS, FILES
from scripts.edge import load, owner
from tests.service_apps import apps

APPS = apps()


@pytest.mark.parametrize("family", sorted(APPS))
def test_the_docs_page_loads_only_local_files_of_the_right_type(family: str) -> None:
    app = APPS[family]
    assert app.docs_url == f"/docs/{family}"
    client = TestClient(app)

    page = client.get(app.docs_url)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "https://" not in html
    assert "http://" not in html
    assert "cdn" not in html.lower()
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)  # the OpenAPI document
    assert {f"{ASSETS}/{name}" for name in FILES} | {app.openapi_url} == set(urls)
    for url in urls:
        answer = client.get(url)
        assert answer.status_code == 200, url
        expected = FILES.get(url.rsplit("/", 1)[1], "application/json")
        assert answer.headers["content-type"] == expected, url
        assert len(answer.content) > 1000, url  # the file itself, not an empty answer
    assert "SwaggerUIBundle" in client.get(f"{ASSETS}/swagger-ui-bundle.js").text
    assert client.get("/redoc").status_code == 404


def test_only_the_pages_files_are_served() -> None:
    client = TestClient(APPS["worklist"])
    for name in ("redoc.standalone.js", "..%2Fcore.py", "x" * 5000, "swagger-ui.css.map"):
        answer = client.get(f"{ASSETS}/{name}")
        assert answer.status_code == 404, name
        assert answer.headers["content-type"] == "application/problem+json"


def test_the_edge_sends_the_pages_files_to_a_service_that_serves_them() -> None:
    routes = load()
    for name in FILES:
        route = owner(routes, f"{ASSETS}/{name}")
        assert route is not None, name
        app = APPS[route.service]
        assert TestClient(app).get(f"{ASSETS}/{name}").status_code == 200
    for family, app in APPS.items():
        route = owner(routes, app.docs_url or "")
        assert route is not None
        assert route.service == family
