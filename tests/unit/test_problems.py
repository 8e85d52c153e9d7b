"""Every error of every service's app is RFC 9457 problem details, with what the route said
besides its detail kept as extension members (laneway/web/problems.py)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from laneway.health import HealthChecks
from laneway.web import problems
from services.audit.app import create_app as audit_app
from services.definitions.app import create_app as definitions_app
from services.definitions.settings import load_settings as definitions_settings
from services.worklist.app import create_app as worklist_app
from tests.auth import auth_env, verifier


class Body(BaseModel):
    amount: int


def app() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/refused")
    def refused() -> None:
        raise HTTPException(401, "Expected a token, but there is none",
                            headers={"WWW-Authenticate": "Bearer"})

    @app.get("/rejected")
    def rejected() -> Any:
        return problems.problem(409, "claimed by ana", rejectionType="ALREADY_CLAIMED")

    @app.post("/body")
    def body(value: Body) -> int:
        return value.amount

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("a bug")

    @app.get("/database")
    def database() -> None:
        # a real refused connection: nothing listens on port 1
        psycopg.connect("postgresql://laneway@127.0.0.1:1/laneway", connect_timeout=2)

    @app.get("/pool")
    def pool() -> None:
        with ConnectionPool("postgresql://laneway@127.0.0.1:1/laneway", min_size=0,
                            max_size=1, timeout=0.2, open=True) as busy:
            busy.getconn(timeout=0.2)

    return app


def test_an_http_exception_is_a_problem_with_its_headers_kept() -> None:
    response = TestClient(app()).get("/refused")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"type": "about:blank", "title": "Unauthorized", "status": 401,
                               "detail": "Expected a token, but there is none"}


def test_a_route_answering_an_error_keeps_its_fields_as_extension_members() -> None:
    response = TestClient(app()).get("/rejected")

    assert response.json() == {"type": "about:blank", "title": "Conflict", "status": 409,
                               "detail": "claimed by ana", "rejectionType": "ALREADY_CLAIMED"}


def test_an_invalid_request_is_a_422_problem_with_its_field_errors() -> None:
    response = TestClient(app()).post("/body", json={"amount": "many"})

    body = response.json()
    assert (response.status_code, body["status"], body["title"]) == (
        422, 422, "Unprocessable Entity")
    assert body["detail"].startswith("Expected a request that fits the route, but 1 value(s) "
                                     "do not: body.amount: ")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["body", "amount"],
                                                                "int_parsing")]


def test_an_unknown_path_and_an_unexpected_failure_are_problems_too() -> None:
    client = TestClient(app(), raise_server_exceptions=False)

    missing = client.get("/nowhere")
    failed = client.get("/broken")

    assert (missing.status_code, missing.json()["title"]) == (404, "Not Found")
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    assert "a bug" not in failed.text  # the cause is logged, not shown


@pytest.mark.parametrize("path", ["/database", "/pool"])
def test_a_database_out_of_reach_is_a_503_to_retry_not_a_500(path: str) -> None:
    client = TestClient(app(), raise_server_exceptions=False)

    answer = client.get(path)

    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "1"
    assert "127.0.0.1" not in answer.text  # where the database is stays in the log


def test_a_reserved_member_cannot_be_an_extension() -> None:
    with pytest.raises(ValueError, match="the RFC's own"):
        problems.problem(400, "x", status=500)


@pytest.mark.parametrize("name", ["definitions", "worklist", "audit"])
def test_every_service_app_answers_problems(name: str) -> None:
    parts: Any = None
    apps = {"definitions": lambda: definitions_app(definitions_settings(auth_env()), parts,
                                                   verifier()),
            "worklist": lambda: worklist_app(verifier(), HealthChecks(name), CollectorRegistry()),
            "audit": lambda: audit_app(verifier(), HealthChecks(name), CollectorRegistry())}
    client = TestClient(apps[name]())

    response = client.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
