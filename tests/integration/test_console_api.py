"""The server side the browser console uses (docs/console.md), through the real services on
the stack: how to sign in, the development sign-in (and its 404 when off), "Check" of a
diagram with the messages of `laneway validate`, a version's start form, the public start form
to render, and the author of each version in the definitions list.

The module's services run with the development sign-in on, signing with the test session's key
(the one the services verify with) and an OpenID Connect client set; an app built over the same
parts with other settings answers where the sign-in is off or has no key.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from laneway.cli import main as laneway_cli
from laneway.web.problems import PROBLEM_JSON
from scripts.stack import Connections
from services.definitions.app import create_app
from tests.auth import ADMIN, auth_header, signing_key, verifier
from tests.integration.api_harness import Api, running_api, service_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ISSUER = "https://idp.example.org/realms/laneway"
TRACES = "http://jaeger.internal:16686"
XML = {"content-type": "application/xml"}
MODELER = auth_header("mia", roles=["modeler"])
READER = auth_header("rob")
DEV_USERS = {"ana", "ben", "rita", "carla", "sam", "ida", "olga", "admin"}

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"\n'
        '    xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" id="d" targetNamespace="t">\n')
FORMED = HEAD + """  <bpmn:process id="{pid}" name="{name}" isExecutable="true">
    <bpmn:startEvent id="start" {form}/>
    <bpmn:userTask id="review" name="{task}"/>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>
"""
# the validator objects to the gateway (line 6), the engine to the choreography task (line 8)
BROKEN = HEAD + """  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:exclusiveGateway id="Gw_Decide"/>
    <bpmn:endEvent id="a"/>
    <bpmn:choreographyTask id="Ct_Talk"/>
    <bpmn:sequenceFlow id="f" sourceRef="start" targetRef="Gw_Decide"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Gw_Decide" targetRef="a"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Gw_Decide" targetRef="Ct_Talk"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Ct_Talk" targetRef="a"/>
    <!-- next to a conditional flow, two unconditioned ones are ambiguous (a gateway with no
         condition at all is a decision job instead) -->
    <bpmn:sequenceFlow id="f4" sourceRef="Gw_Decide" targetRef="a">
      <bpmn:conditionExpression>=rush</bpmn:conditionExpression></bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>
"""
# deploys, but a token that enters the loop never waits: a warning
LOOP = HEAD + """  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:task id="a"/>
    <bpmn:task id="b"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="a"/>
    <bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="b"/>
    <bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="a"/>
  </bpmn:process>
</bpmn:definitions>
"""
SCHEMA = {"title": "Apply for a permit", "type": "object", "required": ["name"],
          "properties": {"name": {"type": "string"}}}


@pytest.fixture(scope="module")
def api(stack: Connections) -> Iterator[Api]:
    with running_api(stack, "test.console", Api, LANEWAY_PROJECTION="off",
                     LANEWAY_DEV_SIGNIN="1", LANEWAY_DEV_KEY_FILE=str(signing_key()),
                     LANEWAY_OIDC_ISSUER=ISSUER, LANEWAY_OIDC_CLIENT_ID="laneway-console",
                     LANEWAY_OIDC_SCOPES="openid profile email",
                     LANEWAY_JWT_AUDIENCE="laneway", LANEWAY_TRACES_URL=TRACES,
                     LANEWAY_TRACES_QUERY_URL="http://jaeger-query:16686") as api:
        yield api


@pytest.fixture(scope="module")
def off(api: Api) -> Iterator[TestClient]:
    """The definitions app over the same parts, with the service's default settings: no
    development sign-in, no OpenID Connect client."""
    settings = service_settings(api.conns, api.settings.topic_prefix, "unused")
    with TestClient(create_app(settings, api.deps, verifier())) as client:
        yield client


def new_id(prefix: str = "p") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def deploy(api: Api, pid: str, *, form: str | None = None, name: str = "Permit",
           task: str = "Review", headers: dict[str, str] = MODELER,
           state: str | None = None) -> int:
    xml = FORMED.format(pid=pid, name=name, task=task,
                        form=f'laneway:form="{form}"' if form else "")
    response = api.client.post("/api/definitions", content=xml.encode(),
                               headers={**headers, **XML})
    assert response.status_code == 201, response.text
    version = int(response.json()["deployed"][0]["version"])
    if state is not None:  # the lifecycle's own rules are test_lifecycle's
        api.execute("UPDATE definitions SET state = %s WHERE process_id = %s AND version = %s",
                    state, pid, version)
    return version


def upload(api: Api, form_id: str, schema: dict[str, Any] = SCHEMA) -> None:
    response = api.client.put(f"/api/form-schemas/{form_id}", json=schema, headers=MODELER)
    assert response.status_code == 201, response.text


def is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def sign_in(api: Api, user: str) -> dict[str, Any]:
    response = api.client.post("/api/dev/token", json={"user": user})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- GET /api/console/config -----------------------------------------------------------------


def test_the_console_config_names_the_oidc_client_and_the_dev_sign_in_without_a_token(
        api: Api) -> None:
    response = api.client.get("/api/console/config")

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "devSignIn": True,
        "oidc": {"issuer": ISSUER, "clientId": "laneway-console",
                 "scopes": ["openid", "profile", "email"], "apiAudience": "laneway"},
        "tracesUrl": TRACES, "traceView": True}


def test_without_settings_the_config_has_no_oidc_and_no_dev_sign_in(off: TestClient) -> None:
    response = off.get("/api/console/config")

    assert response.status_code == 200, response.text
    assert response.json() == {"devSignIn": False, "oidc": None, "tracesUrl": None,
                               "traceView": False}


# --- the development sign-in -------------------------------------------------------------------


def test_the_dev_users_cover_the_walkthrough_with_roles_and_personas(api: Api) -> None:
    response = api.client.get("/api/dev/users")

    assert response.status_code == 200, response.text
    users = {u["id"]: u for u in response.json()}
    assert set(users) == DEV_USERS
    assert users["carla"]["personas"] == ["Case Worker"]
    assert users["sam"]["personas"] == ["Supervisor"]
    assert users["ben"]["roles"] == ["reviewer", "authorizer"]
    assert set(users["ana"]) == {"id", "name", "kind", "roles", "personas", "groups",
                                 "description"}


def test_a_dev_token_is_accepted_by_the_other_services(api: Api) -> None:
    before = datetime.now(UTC)
    signed = sign_in(api, "carla")

    # then the worklist (another service, through the edge) takes it as carla's
    auth = {"Authorization": f"Bearer {signed['token']}"}
    tasks = api.client.get("/api/tasks", headers=auth)
    assert tasks.status_code == 200, tasks.text
    assert signed["principal"]["id"] == "carla"
    assert signed["principal"]["personas"] == ["Case Worker"]
    expires = datetime.fromisoformat(signed["expiresAt"])
    assert before + timedelta(hours=7) < expires <= before + timedelta(hours=8, seconds=5)
    # and its roles are the user's: carla is no modeler, ana is
    check = api.client.post("/api/definitions/check", content=LOOP.format(pid="x").encode(),
                            headers={**auth, **XML})
    is_problem(check, 403)
    ana = {"Authorization": f"Bearer {sign_in(api, 'ana')['token']}"}
    assert api.client.post("/api/definitions/check", content=LOOP.format(pid="x").encode(),
                           headers={**ana, **XML}).status_code == 200


def test_a_sign_in_is_logged_with_the_user_and_never_the_token(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="services.definitions.routes.dev"):
        signed = sign_in(api, "ida")

    assert "development sign-in as ida" in caplog.text
    assert signed["token"] not in caplog.text
    assert signed["token"].split(".")[2] not in caplog.text


@pytest.mark.parametrize(("body", "shown"), [
    ({"user": "mallory"}, "'mallory'"), ({}, "no user"), ({"user": 7}, "'7'"),
    (["carla"], "no user"), (None, "no user")])
def test_an_unknown_user_is_422_naming_the_field_and_the_known_users(
        api: Api, body: Any, shown: str) -> None:
    response = api.client.post("/api/dev/token", json=body)

    problem = is_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "user"]
    assert "ana, ben, rita, carla, sam, ida, olga, admin" in problem["detail"]
    assert problem["detail"].endswith(f"but got {shown}")


def test_a_body_that_is_not_json_or_too_large_is_refused(api: Api) -> None:
    not_json = api.client.post("/api/dev/token", content=b"user=carla",
                               headers={"content-type": "application/x-www-form-urlencoded"})
    too_large = api.client.post("/api/dev/token", content=b'{"user": "' + b"x" * 5000 + b'"}',
                                headers={"content-type": "application/json"})

    is_problem(not_json, 422)
    is_problem(too_large, 413)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/dev/users", None), ("POST", "/api/dev/token", b'{"user": "carla"}'),
    ("POST", "/api/dev/token", b"not json at all"), ("POST", "/api/dev/token", b"x" * 9000)])
def test_with_the_dev_sign_in_off_every_dev_route_is_a_404_as_if_it_did_not_exist(
        off: TestClient, method: str, path: str, body: bytes | None) -> None:
    response = off.request(method, path, content=body,
                           headers={"content-type": "application/json"})
    nowhere = off.request(method, "/api/dev/nowhere", content=body,
                          headers={"content-type": "application/json"})

    problem = is_problem(response, 404)
    assert problem == is_problem(nowhere, 404)


def test_a_missing_signing_key_is_503_saying_so_without_its_path(
        api: Api, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-key.json"
    settings = service_settings(api.conns, api.settings.topic_prefix, "unused",
                                LANEWAY_DEV_SIGNIN="1", LANEWAY_DEV_KEY_FILE=str(missing))
    with TestClient(create_app(settings, api.deps, verifier())) as client:
        users = client.get("/api/dev/users")
        response = client.post("/api/dev/token", json={"user": "carla"})

    assert users.status_code == 200  # the picker still shows who could sign in
    problem = is_problem(response, 503)
    assert "development signing key" in problem["detail"]
    assert "LANEWAY_DEV_KEY_FILE" in problem["detail"]
    assert str(tmp_path) not in response.text


def test_the_dev_users_file_replaces_the_set(api: Api, tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    users.write_text('[[user]]\nid = "zoe"\nroles = ["operator"]\ngroups = ["ops"]\n')
    settings = service_settings(api.conns, api.settings.topic_prefix, "unused",
                                LANEWAY_DEV_SIGNIN="1", LANEWAY_DEV_KEY_FILE=str(signing_key()),
                                LANEWAY_DEV_USERS_FILE=str(users))
    with TestClient(create_app(settings, api.deps, verifier())) as client:
        listed = client.get("/api/dev/users").json()
        signed = client.post("/api/dev/token", json={"user": "zoe"})
        carla = client.post("/api/dev/token", json={"user": "carla"})

    assert listed == [{"id": "zoe", "name": "zoe", "kind": "human", "roles": ["operator"],
                       "personas": [], "groups": ["ops"], "description": ""}]
    assert signed.status_code == 200, signed.text
    principal = verifier().verify(signed.json()["token"])
    assert (principal.id, principal.roles, principal.groups) == ("zoe", ("operator",), ("ops",))
    is_problem(carla, 422)


# --- POST /api/definitions/check ---------------------------------------------------------------


def test_check_of_a_broken_diagram_names_element_line_and_validates_messages(
        api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pid = new_id()
    xml = BROKEN.format(pid=pid)

    response = api.client.post("/api/definitions/check", content=xml.encode(),
                               headers={**MODELER, **XML})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False
    problems = body["problems"]
    assert [(p["element"], p["line"], p["severity"]) for p in problems] == [
        ("Gw_Decide", 6, "error"), ("Ct_Talk", 8, "error")]
    # the messages are `laneway validate`'s, one for one
    path = tmp_path / "broken.bpmn"
    path.write_text(xml)
    assert laneway_cli(["validate", str(path)]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed == [" ".join(f"{path}:{p['line']}: element '{p['element']}': {p['message']}"
                                .split()) for p in problems]
    # and nothing was stored
    assert api.client.get(f"/api/definitions?processId={pid}", headers=MODELER).json() == []


def test_check_of_a_runnable_diagram_is_ok_with_its_warnings(api: Api) -> None:
    clean = api.client.post("/api/definitions/check",
                            content=FORMED.format(pid=new_id(), name="n", task="t",
                                                  form="").encode(),
                            headers={**MODELER, **XML})
    looping = api.client.post("/api/definitions/check", content=LOOP.format(pid=new_id())
                              .encode(), headers={**MODELER, **XML})

    assert clean.json() == {"ok": True, "problems": []}
    assert looping.json()["ok"] is True
    [warning] = looping.json()["problems"]
    assert (warning["element"], warning["line"], warning["severity"]) == ("a", 6, "warning")
    assert "loop of elements that never wait" in warning["message"]


def test_check_of_malformed_xml_and_of_a_file_without_processes(api: Api) -> None:
    malformed = api.client.post("/api/definitions/check",
                                content=b'<?xml version="1.0"?>\n<a>\n<b>\n</a>',
                                headers={**MODELER, **XML})
    empty = api.client.post("/api/definitions/check", content=(HEAD + "</bpmn:definitions>")
                            .encode(), headers={**MODELER, **XML})

    [problem] = malformed.json()["problems"]
    assert malformed.json()["ok"] is False
    assert problem["element"] is None
    assert problem["line"] == 4
    assert problem["severity"] == "error"
    assert empty.json() == {"ok": False, "problems": [{
        "element": None, "line": None, "severity": "error",
        "message": "Expected at least one process, but the file has none"}]}


def test_check_takes_a_multipart_upload_and_only_modelers(api: Api) -> None:
    files = {"file": ("broken.bpmn", BROKEN.format(pid=new_id()).encode(), "application/xml")}
    checked = api.client.post("/api/definitions/check", files=files, headers=MODELER)
    reader = api.client.post("/api/definitions/check", files=files, headers=READER)
    anonymous = api.client.post("/api/definitions/check", files=files)

    assert checked.status_code == 200, checked.text
    assert len(checked.json()["problems"]) == 2
    is_problem(reader, 403)
    is_problem(anonymous, 401)


def test_check_is_bounded_as_a_deploy_is(api: Api) -> None:
    too_large = api.client.post("/api/definitions/check",
                                content=b"<a>" + b" " * (20 * 1024 * 1024) + b"</a>",
                                headers={**MODELER, **XML})
    wrong_type = api.client.post("/api/definitions/check", content=b"{}",
                                 headers={**MODELER, "content-type": "application/json"})
    assert is_problem(too_large, 413)["detail"].startswith("Expected a diagram of at most")
    is_problem(wrong_type, 415)

    # every deploy check taken: the check waits its bound, then says to retry
    deps = api.deps
    taken = [deps.checking.acquire(timeout=5) for _ in range(deps.deploy_checks)]
    wait = deps.deploy_wait_s
    deps.deploy_wait_s = 0.2
    try:
        busy = api.client.post("/api/definitions/check", content=LOOP.format(pid="x").encode(),
                               headers={**MODELER, **XML})
    finally:
        deps.deploy_wait_s = wait
        for got in taken:
            if got:
                deps.checking.release()
    assert all(taken)
    is_problem(busy, 503)
    assert busy.headers["retry-after"] == "1"


# --- GET /api/definitions/{p}/versions/{v}/start-form ----------------------------------------


def test_a_versions_start_form_in_any_state(api: Api) -> None:
    pid, form = new_id(), new_id("form")
    upload(api, form)
    version = deploy(api, pid, form=form)  # a DRAFT

    response = api.client.get(f"/api/definitions/{pid}/versions/{version}/start-form",
                              headers=READER)

    assert response.status_code == 200, response.text
    assert response.json() == {"processId": pid, "version": version, "formId": form,
                               "schema": SCHEMA}


def test_a_start_form_is_404_without_version_or_form_409_outside_the_registry(
        api: Api) -> None:
    no_form, unregistered = new_id(), new_id()
    deploy(api, no_form)
    deploy(api, unregistered, form="never-uploaded")

    def get(pid: str, version: int = 1, headers: dict[str, str] = READER) -> Any:
        return api.client.get(f"/api/definitions/{pid}/versions/{version}/start-form",
                              headers=headers)

    assert "names no form" in is_problem(get(no_form), 404)["detail"]
    assert is_problem(get(no_form, 2), 404)["detail"] == (
        f"Expected version 2 of process '{no_form}', but it has versions [1]")
    assert "Expected a deployed process" in is_problem(get(new_id()), 404)["detail"]
    assert "never-uploaded" in is_problem(get(unregistered), 409)["detail"]
    is_problem(get(no_form, headers={}), 401)


# --- GET /api/forms/{processId} ----------------------------------------------------------------


def test_the_public_form_is_the_newest_authorized_versions_without_a_token(api: Api) -> None:
    pid, old, new = new_id(), new_id("form"), new_id("form")
    upload(api, old, {**SCHEMA, "title": "The old one"})
    upload(api, new)
    deploy(api, pid, form=old, state="AUTHORIZED")
    authorized = deploy(api, pid, form=new, task="v2", state="AUTHORIZED")
    deploy(api, pid, form=old, task="v3")  # newer, but a DRAFT

    response = api.client.get(f"/api/forms/{pid}")

    assert response.status_code == 200, response.text
    assert response.json() == {"processId": pid, "version": authorized, "formId": new,
                               "schema": SCHEMA, "title": "Apply for a permit"}


def test_the_public_forms_title_falls_back_to_the_process_name(api: Api) -> None:
    pid, form = new_id(), new_id("form")
    upload(api, form, {"type": "object"})
    deploy(api, pid, form=form, name="Building permit", state="AUTHORIZED")

    response = api.client.get(f"/api/forms/{pid}")

    assert response.json()["title"] == "Building permit"


def test_the_public_form_is_404_or_409_as_its_submission_is(api: Api) -> None:
    drafted, no_form, unregistered = new_id(), new_id(), new_id()
    deploy(api, drafted, form="f")
    deploy(api, no_form, state="AUTHORIZED")
    deploy(api, unregistered, form="never-uploaded", state="AUTHORIZED")

    for pid, status in ((drafted, 404), (no_form, 404), (unregistered, 409)):
        shown = is_problem(api.client.get(f"/api/forms/{pid}"), status)
        posted = is_problem(api.client.post(f"/api/forms/{pid}", json={}), status)
        assert shown["detail"] == posted["detail"]


# --- GET /api/definitions: the author ----------------------------------------------------------


def test_each_listed_version_names_its_author(api: Api) -> None:
    pid = new_id()
    deploy(api, pid, headers=auth_header("ana", roles=["modeler"]))
    deploy(api, pid, task="v2", headers=ADMIN)

    listed = api.client.get(f"/api/definitions?processId={pid}", headers=READER).json()

    assert [(d["version"], d["author"]) for d in listed] == [(2, "admin"), (1, "ana")]
    assert {"processId", "version", "name", "deployedAt", "digest", "state"} <= set(listed[0])

