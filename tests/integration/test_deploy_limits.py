"""A deploy over the diagram limits, or with a DOCTYPE, is refused through the real API with
an error naming the limit; a deploy being checked does not hold other requests, and no more
deploys are checked at once than `LANEWAY_DEPLOY_CHECKS` allows.

The services run with small limits (`LANEWAY_MAX_DIAGRAM_*`) so the diagrams stay small.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

import laneway.diagram_check as check_module
from scripts.stack import Connections
from tests.integration.api_harness import Api, running_api
from tests.lifecycle import AUTHOR

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

XML = {"content-type": "application/xml"}
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'id="d" targetNamespace="http://laneway.dev/test">\n'
)


def _chain(pid: str, tasks: int) -> bytes:
    body = ['<bpmn:startEvent id="s"/>']
    prev = "s"
    for i in range(tasks):
        body.append(f'<bpmn:manualTask id="t{i}"/>'
                    f'<bpmn:sequenceFlow id="f{i}" sourceRef="{prev}" targetRef="t{i}"/>')
        prev = f"t{i}"
    body.append(f'<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="fe" sourceRef="{prev}" '
                'targetRef="e"/>')
    return (HEAD + f'<bpmn:process id="{pid}" isExecutable="true">\n' + "\n".join(body)
            + "\n</bpmn:process></bpmn:definitions>").encode()


def _pid() -> str:
    return f"p_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def api(stack: Connections) -> Iterator[Api]:
    with running_api(stack, "test.limits", Api, headers=AUTHOR,
                     LANEWAY_MAX_DIAGRAM_BYTES="6000", LANEWAY_MAX_DIAGRAM_ELEMENTS="40",
                     LANEWAY_MAX_DIAGRAM_DEPTH="8", LANEWAY_MAX_DIAGRAM_PROCESSES="2",
                     LANEWAY_DEPLOY_CHECKS="1") as api:
        yield api


def _error(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    return dict(error)


def test_a_diagram_within_the_limits_is_deployed(api: Api) -> None:
    response = api.client.post("/api/definitions", content=_chain(_pid(), 5), headers=XML)

    assert response.status_code == 201, response.text


def test_more_elements_than_the_limit_is_422_naming_it(api: Api) -> None:
    pid = _pid()

    error = _error(api.client.post("/api/definitions", content=_chain(pid, 30), headers=XML))

    assert error["message"].startswith("Expected at most 40 XML elements")
    assert api.sql("SELECT count(*) FROM definitions WHERE process_id = %s", pid) == [(0,)]


def test_nesting_deeper_than_the_limit_is_422_naming_it(api: Api) -> None:
    subs = "".join(f'<bpmn:subProcess id="s{i}">' for i in range(8))
    xml = (HEAD + f'<bpmn:process id="{_pid()}">' + subs + "</bpmn:subProcess>" * 8
           + "</bpmn:process></bpmn:definitions>").encode()

    error = _error(api.client.post("/api/definitions", content=xml, headers=XML))

    assert error["message"] == "Expected elements nested at most 8 deep, but this one is deeper"


def test_more_processes_than_the_limit_is_422_naming_it(api: Api) -> None:
    processes = "".join(f'<bpmn:process id="{_pid()}"/>' for _ in range(3))
    xml = (HEAD + processes + "</bpmn:definitions>").encode()

    error = _error(api.client.post("/api/definitions", content=xml, headers=XML))

    assert error["message"] == "Expected at most 2 processes in one file, but it has 3"


def test_a_body_over_the_byte_limit_is_413_naming_it(api: Api) -> None:
    xml = _chain(_pid(), 5).replace(b"<bpmn:startEvent", b" " * 6000 + b"<bpmn:startEvent")

    response = api.client.post("/api/definitions", content=xml, headers=XML)

    assert response.status_code == 413, response.text
    assert "at most 6000 bytes (LANEWAY_MAX_DIAGRAM_BYTES)" in response.text


def test_a_doctype_with_only_attribute_defaults_is_422(api: Api) -> None:
    pid = _pid()
    xml = _chain(pid, 2).replace(
        b"<bpmn:definitions",
        b'<!DOCTYPE bpmn:definitions [<!ATTLIST bpmn:manualTask laneway:type CDATA "x">]>\n'
        b"<bpmn:definitions", 1)

    error = _error(api.client.post("/api/definitions", content=xml, headers=XML))

    assert error["line"] == 2
    assert error["message"].startswith("Expected no DOCTYPE, but the document has one")
    assert api.sql("SELECT count(*) FROM definitions WHERE process_id = %s", pid) == [(0,)]


@contextmanager
def _held_deploy(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Future[Any]]:
    """A deploy whose check is held in the middle of parsing until the block ends; then it
    must succeed."""
    parsing = threading.Event()
    release = threading.Event()
    real_parse = check_module.parse

    def slow_parse(*args: Any, **kwargs: Any) -> Any:
        parsing.set()
        assert release.wait(60)
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(check_module, "parse", slow_parse)
    with ThreadPoolExecutor(1) as pool:
        deploy = pool.submit(api.client.post, "/api/definitions",
                             content=_chain(_pid(), 3), headers=XML)
        try:
            assert parsing.wait(30)
            yield deploy
        finally:
            release.set()
        assert deploy.result(timeout=60).status_code == 201
    monkeypatch.setattr(check_module, "parse", real_parse)


def test_a_deploy_being_checked_does_not_hold_other_requests(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _held_deploy(api, monkeypatch) as deploy:
        listed = api.client.get("/api/definitions")

        assert listed.status_code == 200
        assert not deploy.done()


def test_a_deploy_finding_every_check_busy_is_503_with_retry_after(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the module's services check one deploy at once (LANEWAY_DEPLOY_CHECKS=1)
    monkeypatch.setattr(api.deps, "deploy_wait_s", 0.2)
    pid = _pid()
    with _held_deploy(api, monkeypatch):
        busy = api.client.post("/api/definitions", content=_chain(pid, 3), headers=XML)

    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == "1"
    assert "LANEWAY_DEPLOY_CHECKS" in busy.json()["detail"]
    # the check is free again: the same upload goes through
    again = api.client.post("/api/definitions", content=_chain(pid, 3), headers=XML)
    assert again.status_code == 201, again.text
