"""Every number a client sends is bounded where the route declares it (laneway/web/bounds.py):
past 2^63 - 1 PostgreSQL's `bigint` and Avro's `long` fail far from the request, a 500.

The apps are built with nothing behind their routes (`tests/service_apps.py`): a request that
passes validation reaches a route without parts and fails, so a 422 here is the validation's."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from laneway.web.bounds import MAX_INT, MAX_TTL_S, keyed_id
from laneway.web.problems import PROBLEM_JSON
from services.audit import deps as audit_deps
from services.definitions import deps as definitions_deps
from services.worklist import deps as worklist_deps
from services.worklist.projection import parse_task_id
from tests.auth import ADMIN
from tests.service_apps import apps


def _numbers(schema: Mapping[str, Any], components: Mapping[str, Any], where: str
             ) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, schema) of every integer and number a schema holds."""
    if "$ref" in schema:
        yield from _numbers(components[schema["$ref"].rsplit("/", 1)[-1]], components, where)
        return
    for alternative in schema.get("anyOf", ()):
        yield from _numbers(alternative, components, where)
    if schema.get("type") in ("integer", "number"):
        yield where, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _numbers(sub, components, f"{where}.{name}")
    if isinstance(schema.get("items"), Mapping):
        yield from _numbers(schema["items"], components, f"{where}[]")


def _every_number() -> list[tuple[str, Mapping[str, Any]]]:
    found = []
    for name, app in apps().items():
        spec = app.openapi()
        components = spec.get("components", {}).get("schemas", {})
        for path, operations in spec["paths"].items():
            for method, op in operations.items():
                at = f"{name} {method.upper()} {path}"
                for param in op.get("parameters", ()):
                    found += _numbers(param.get("schema", {}), components,
                                      f"{at} {param['in']} {param['name']}")
                for content in op.get("requestBody", {}).get("content", {}).values():
                    found += _numbers(content.get("schema", {}), components, f"{at} body")
    return found


def test_the_routes_take_numbers():
    assert len(_every_number()) >= 10  # the walk finds them: offsets, versions, retries, ttl


@pytest.mark.parametrize(("where", "schema"), _every_number(), ids=lambda v: str(v)[:80])
def test_every_number_a_route_takes_is_bounded_within_what_the_stores_hold(
        where: str, schema: Mapping[str, Any]) -> None:
    for bound in ("minimum", "maximum"):
        assert bound in schema, f"{where} has no {bound}"
    # OpenAPI renders the bounds as floats: float(MAX_INT) is 2^63
    assert -float(MAX_INT) <= schema["minimum"] <= schema["maximum"] <= float(MAX_INT), where


OUT_OF_RANGE = [
    ("audit", "GET", f"/api/instances?offset={2**63}", None),
    ("audit", "GET", f"/api/instances?offset={10**30}", None),
    ("audit", "GET", f"/api/instances/i1/history?after={2**63}", None),
    ("audit", "GET", f"/api/instances/i1/replay?upTo={2**64}", None),
    ("worklist", "GET", f"/api/tasks?offset={2**63}", None),
    ("definitions", "GET", f"/api/definitions/p/versions/{2**63}/xml", None),
    ("definitions", "GET", f"/api/definitions/p/versions/{2**63}/history", None),
    ("definitions", "POST", f"/api/definitions/p/versions/{2**63}/transitions", {"to": "REVIEW"}),
    ("definitions", "POST", "/api/instances", {"processId": "p", "version": 2**63}),
    ("definitions", "POST", "/api/incidents/i:1/resolve", {"retries": 10**30}),
    ("definitions", "POST", "/api/messages",
     {"name": "m", "correlationKey": "k", "ttlSeconds": 1e308}),
    ("definitions", "POST", "/api/messages",
     {"name": "m", "correlationKey": "k", "ttlSeconds": MAX_TTL_S + 1}),
]


class _Unreached:
    """A service's parts that fail when a route uses them (as a store would, given a value
    out of its range): a request must be refused before."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the route used its parts ({name}): the value was let through")


def _unreached(name: str) -> FastAPI:
    app = apps()[name]
    for get_deps in (audit_deps.get_deps, definitions_deps.get_deps, worklist_deps.get_deps):
        app.dependency_overrides[get_deps] = _Unreached
    return app


@pytest.mark.parametrize(("name", "method", "url", "body"), OUT_OF_RANGE)
def test_a_number_past_what_the_stores_hold_is_a_422_naming_the_field(
        name: str, method: str, url: str, body: Any) -> None:
    with TestClient(_unreached(name), raise_server_exceptions=False) as client:
        answer = client.request(method, url, json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert "less than or equal to" in answer.json()["detail"]


@pytest.mark.parametrize("value", ["i:\u00b2", "i:\u0663", "i:9223372036854775808",
                                   "i:" + "9" * 5000, "i:", ":1", "i:-1", "i:1.0", "i"])
def test_a_keyed_id_is_ascii_digits_within_a_bigint_or_none(value: str) -> None:
    assert keyed_id(value) is None
    assert parse_task_id(value) is None


def test_a_keyed_id_within_a_bigint_is_read() -> None:
    assert keyed_id(f"a:b:{MAX_INT}") == ("a:b", MAX_INT)
    assert keyed_id("i:007") == ("i", 7)


@pytest.mark.parametrize("incident", ["i:\u00b2", "i:99999999999999999999"])
def test_an_incident_id_whose_key_is_not_a_bigint_is_404(incident: str) -> None:
    with TestClient(_unreached("definitions"), raise_server_exceptions=False) as client:
        answer = client.post(f"/api/incidents/{incident}/resolve", headers=ADMIN)
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
