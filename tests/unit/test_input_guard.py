"""What no store can keep is refused with 422 before any route runs (laneway/web/guard.py):
U+0000 in a path or query, and U+0000, NaN, infinities or hostile nesting in a JSON body.

The services' apps are built with nothing behind their routes (`tests/service_apps.py`): a
request the guard lets through would reach a route with no parts and fail with a 500, so a
422 here is the guard's answer, not a route's."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from laneway.web import guard, problems
from laneway.web.guard import InputGuard
from tests.service_apps import apps, served

JSON = {"Content-Type": "application/json"}


def _every_route() -> list[tuple[str, str, str]]:
    return [(name, method, path) for name, app in apps().items()
            for method, path in served(app)]


@pytest.mark.parametrize(("name", "method", "path"), _every_route())
def test_every_route_of_every_service_refuses_u0000_in_its_path_or_query(
        name: str, method: str, path: str) -> None:
    with TestClient(apps()[name], raise_server_exceptions=False) as client:
        for url in (f"{path}%00", f"{path}?q=a%00b"):
            answer = client.request(method, url)
            assert answer.status_code == 422, (url, answer.text)
            assert answer.headers["content-type"] == problems.PROBLEM_JSON
            assert "U+0000" in answer.json()["detail"]


BODIES = [
    ('{"variables": {"name": "a\\u0000b"}}', "variables.name holds the character U+0000"),
    ('{"variables": {"amount": NaN}}', "variables.amount is nan, not a finite number"),
    ('{"variables": {"name": "a\\ud800"}}', "variables.name holds a lone surrogate"),
    ('{"variables": {"\\udfff": 1}}', "a key in variables holds a lone surrogate"),
    ('{"variables": {"a": {"x": ["\\udc00\\ud800"]}}}', "variables.a.x[0] holds a lone"),
    ('{"variables": {"amount": -Infinity}}', "variables.amount is -inf, not a finite number"),
    ('{"variables": {"amount": 1e400}}', "variables.amount is inf, not a finite number"),
    ('{"variables": ' + "[" * 65 + "]" * 65 + "}", "nests deeper than 64 levels"),
    ("[" * 100_000 + "]" * 100_000, "it nests too deeply to read"),
]


@pytest.mark.parametrize(("name", "method", "path"),
                         [r for r in _every_route() if r[1] in ("POST", "PUT", "PATCH")])
@pytest.mark.parametrize(("body", "why"), BODIES)
def test_every_route_taking_a_body_refuses_json_no_store_can_keep(
        name: str, method: str, path: str, body: str, why: str) -> None:
    with TestClient(apps()[name], raise_server_exceptions=False) as client:
        answer = client.request(method, path, content=body.encode(), headers=JSON)
    assert answer.status_code == 422, answer.text
    assert why in answer.json()["detail"]


def _echo_app(max_body: int | None = None) -> tuple[FastAPI, list[bytes]]:
    seen: list[bytes] = []
    app = FastAPI()
    problems.install(app)
    if max_body is None:
        guard.install(app)
    else:
        app.add_middleware(InputGuard, max_body=max_body)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        body = await request.body()
        seen.append(body)
        return {"length": len(body)}

    return app, seen


def test_a_storable_body_reaches_the_route_unchanged() -> None:
    app, seen = _echo_app()
    # a surrogate pair is one character (U+1F600), not a lone surrogate
    body = ('{"variables": {"name": "Ada \\u00e9 \\ud83d\\ude00", '
            '"n": [1, 2.5, null, {"deep": true}]}}')
    with TestClient(app) as client:
        answer = client.post("/echo", content=body.encode(), headers=JSON)
    assert answer.status_code == 200
    assert seen == [body.encode()]


@pytest.mark.parametrize(("body", "headers"), [
    (b'{"broken": ', JSON),  # not JSON: the route's own answer
    (b"a\x00b NaN", {"Content-Type": "text/plain"}),  # not JSON: not the guard's to read
])
def test_a_body_that_is_not_json_is_left_to_the_route(body: bytes,
                                                      headers: dict[str, str]) -> None:
    app, seen = _echo_app()
    with TestClient(app) as client:
        answer = client.post("/echo", content=body, headers=headers)
    assert answer.status_code == 200
    assert seen == [body]


def test_a_json_body_over_the_limit_is_413_and_never_reaches_the_route() -> None:
    app, seen = _echo_app(max_body=64)
    with TestClient(app) as client:
        fits = client.post("/echo", content=b'{"a": "' + b"x" * 40 + b'"}', headers=JSON)
        over = client.post("/echo", content=b'{"a": "' + b"x" * 80 + b'"}', headers=JSON)
    assert fits.status_code == 200
    assert over.status_code == 413
    assert "at most 64 bytes" in over.json()["detail"]
    assert len(seen) == 1


def test_an_error_that_quotes_a_lone_surrogate_is_still_a_problem_document() -> None:
    # a route may echo what it was sent: U+D800 cannot be encoded as UTF-8, yet the answer
    # is the route's 404, not a 500 while writing it
    app = FastAPI()
    problems.install(app)

    @app.get("/things/{name}")
    async def thing(name: str) -> None:
        raise HTTPException(404, f"Expected a thing '{name}\ud800', but there is none")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/things/a")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == problems.PROBLEM_JSON
    # JSON's own escape for it: a client reads back what it sent
    assert b"'a\\ud800'" in answer.content
    assert answer.json()["detail"] == "Expected a thing 'a\ud800', but there is none"
