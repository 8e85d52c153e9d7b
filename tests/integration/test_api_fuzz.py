"""The HTTP API fuzzed through the real stack: every operation of the three apps' OpenAPI
documents (definitions, worklist, audit) gets requests built from its schema, mixed with
hostile values (U+0000, integers past 2^63, NaN and infinities as text and as numbers, lone
surrogates, deep nesting, long strings, wrong types, bodies that are not JSON), with tokens of
several roles, a bad token, or none.

What must hold for every request (the issue's "clean answers"): no 5xx, every 4xx is an RFC
9457 problem body (`application/problem+json`), no answer names a topic or the JWKS file,
and each answer comes within `REQUEST_TIMEOUT_S` (a hang fails the test, it does not stall it).

Routes reach PostgreSQL, Kafka and Redis: an AUTHORIZED process with a public form, a draft
version, a stored form schema and an open task with a form are there, and the fuzz draws
their ids beside random ones, so it gets past the 404s into validation, storage and Kafka.

Each operation is fuzzed on its own. `LANEWAY_FUZZ_EXAMPLES` is the total over all of them
(`make fuzz` sets it for the long run); unset, each runs `DEFAULT_EXAMPLES` with a fixed seed,
within `make test`'s time. `pytest -s` prints what each operation's requests were answered
(with `LANEWAY_FUZZ_DETAIL=1`, why each 4xx was): one answered only 401 or 422 is tested
little.
"""

from __future__ import annotations

import functools
import json
import math
import os
import socket
import string
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from laneway.auth.dev import ensure_dev_key, issue_token
from laneway.health import HealthChecks
from laneway.publisher import Publisher
from laneway.response_tokens import ResponseToken, new_token_id
from laneway.response_tokens import sign as sign_link
from laneway.triggers import Declared
from laneway.web.problems import PROBLEM_JSON
from scripts.stack import Connections
from services.worklist.app import create_app as create_worklist_app
from services.worklist.deps import WorklistDeps
from tests.auth import ADMIN, auth_header, jwks_file, signing_key, token, verifier
from tests.integration.api_harness import (
    RESPONSE_SIGNING_KEY,
    RESPONSE_WEBHOOK_SECRET,
    Api,
    running_api,
)
from tests.service_apps import apps

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]

FAMILIES = ("definitions", "worklist", "audit", "triggers", "connectors")
ROUTES = sorted((family, method, path) for family, app in apps().items()
                for path, ops in app.openapi()["paths"].items() for method in map(str.upper, ops))
"""(service, method, path) of every operation: each is fuzzed on its own."""
DEFAULT_EXAMPLES = 40
REQUEST_TIMEOUT_S = 15.0
_TOTAL = int(os.environ.get("LANEWAY_FUZZ_EXAMPLES", "0") or 0)
EXAMPLES = max(1, _TOTAL // len(ROUTES)) if _TOTAL else DEFAULT_EXAMPLES
DETAIL = bool(os.environ.get("LANEWAY_FUZZ_DETAIL"))
"""Show why each 4xx was answered in the counts `pytest -s` prints."""

FORM_SCHEMA = {
    "type": "object",
    "required": ["applicant", "amount"],
    "properties": {
        "applicant": {"type": "object", "required": ["email"],
                      "properties": {"email": {"type": "string", "format": "email"},
                                     "name": {"type": "string", "pattern": "^[A-Za-z ]+$"}}},
        "amount": {"type": "integer", "minimum": 1},
        "when": {"type": "string", "format": "date"},
    },
}
SUBMISSION = {"applicant": {"email": "ada@example.org"}, "amount": 3}
"""Variables that fit FORM_SCHEMA: the start form's and the task's."""
BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" id="d_{pid}" targetNamespace="t">
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="start" laneway:form="{form}"/>
    <bpmn:userTask id="review" laneway:form="{form}"/>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>
"""


@dataclass
class World:
    """What the fuzz knows exists on the stack, and what no answer may name."""

    api: Api
    process_id: str
    draft_id: str
    form_id: str
    instance_id: str
    task_id: str
    secrets: tuple[str, ...]
    schedule_id: str = ""
    """A webhook schedule of the process (the reconciler does not run here: written)."""
    link: str = ""
    """A valid signed response link of the instance's task (the answer routes' `{token}`)."""
    ids: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def world(stack: Connections) -> Iterator[World]:
    # the development sign-in on, so the fuzz reaches past its 404 into the token route
    # the trace route reads a query service that is not there (a closed port): past its
    # refusals, it answers 503 (tests/integration/test_instance_trace_api.py reads a real one)
    # and a valid request's answer is that one 503
    with running_api(stack, "test.fuzz", Api, LANEWAY_FORM_RATE_LIMIT="1000000/minute",
                     LANEWAY_TASK_ANSWER_S="0.05", LANEWAY_DEV_SIGNIN="1",
                     LANEWAY_DEV_KEY_FILE=str(signing_key()),
                     LANEWAY_TRACES_QUERY_URL=f"http://127.0.0.1:{_closed_port()}") as api:
        suffix = uuid.uuid4().hex[:8]
        pid, draft, form = f"fuzz_{suffix}", f"fuzzdraft_{suffix}", f"fuzz-form-{suffix}"
        put = api.client.put(f"/api/form-schemas/{form}", json=FORM_SCHEMA, headers=ADMIN)
        assert put.status_code == 201, put.text
        for process, state in ((pid, "AUTHORIZED"), (draft, "DRAFT")):
            deployed = api.client.post(
                "/api/definitions", content=BPMN.format(pid=process, form=form).encode(),
                headers={**ADMIN, "content-type": "application/xml"})
            assert deployed.status_code == 201, deployed.text
            api.execute("UPDATE definitions SET state = %s WHERE process_id = %s",
                        state, process)
        instance = str(uuid.uuid4())
        task = f"{instance}:7"
        api.execute(
            "INSERT INTO tasks (task_id, instance_id, task_key, process_id, version, element_id,"
            " form, state, created_at, last_record_id, last_partition, last_offset)"
            " VALUES (%s, %s, 7, %s, 1, 'review', %s, 'open', %s, 'r', 0, 0)",
            task, instance, pid, form, datetime.now(UTC))
        secrets = (api.settings.topic_prefix, str(jwks_file()), str(signing_key()),
                   "Traceback")
        hook = Declared(pid, "s", "webhook", {}, {}, None, 1)
        api.triggers.store.sync_process(pid, 1, [hook], {"webhook": False})
        secrets = (*secrets, "fuzz-webhook-secret-0123456789")
        api.triggers.store.set_credentials(
            hook.schedule_id, api.triggers.vault.seal(hook.schedule_id,
                                                      {"secret": secrets[-1]}), ["secret"])
        link = sign_link(RESPONSE_SIGNING_KEY, ResponseToken(
            new_token_id(), instance, int(time.time()) + 3600, job_key=7, fields=("answer",)))
        secrets = (*secrets, RESPONSE_SIGNING_KEY, RESPONSE_WEBHOOK_SECRET)
        w = World(api, pid, draft, form, instance, task, secrets, schedule_id=hook.schedule_id,
                  link=link)
        # what a string parameter or field is drawn from, mostly: the process that starts
        # (its id is also a form's, a message's... name) more often than the rest
        w.ids = [pid, pid, pid, pid, draft, form, form, instance, task, task, hook.schedule_id,
                 link,
                 f"{instance}:1",
                 f"{instance}:\u00b2", f"{instance}:{2**64}", "1"]
        yield w


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- values ------------------------------------------------------------------------------------

_HUGE = [2**63, 2**63 - 1, -(2**63) - 1, 2**64, 10**30, 10**400, -1, 0]
_HOSTILE_TEXT = ["\x00", "a\x00b", "NaN", "Infinity", "-Infinity", "1e308", "1e999", "-0",
                 "\ud800", "x" * 70_000, "' OR 1=1 --", "%s%s%n", "../../../etc/passwd",
                 "{", "\u202e", "\U0001f600" * 10, "", " ", "null", "[]", "true",
                 *(str(n) for n in _HUGE)]
_HOSTILE_NUMBERS = [1e308, -1e308, 5e-324, -0.0, 1.7976931348623157e308, *_HUGE]


def _deep(depth: int, leaf: Any = 1) -> Any:
    value: Any = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


def hostile() -> st.SearchStrategy[Any]:
    """A JSON value chosen to break things (still encodable by `json.dumps`)."""
    return st.one_of(
        st.sampled_from(_HOSTILE_TEXT), st.sampled_from(_HOSTILE_NUMBERS),
        st.sampled_from([63, 65]).map(_deep),  # built when drawn: no repr of a deep value
        st.just({"$ref": "#/definitions/x"}), st.just([None, True, "\x00"]),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=50))


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(),
                        st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=30), hostile())
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
        max_leaves=12)


class Schemas:
    """Strategies for the values an OpenAPI schema describes, hostile values mixed in at
    every level."""

    def __init__(self, components: Mapping[str, Any], world: World) -> None:
        self.components = components
        self.world = world

    def fitting(self, schema: Mapping[str, Any], depth: int = 0, *,
                mixed: bool = False) -> st.SearchStrategy[Any]:
        """What fits the schema; `mixed`: with a hostile value instead at some places (one
        such value among fitting ones gets past the validation of the others, into the
        route)."""
        fits = self._fitting(schema, depth, mixed)
        return st.one_of(*[fits] * 6, hostile(), json_values()) if mixed else fits

    def _fitting(self, schema: Mapping[str, Any], depth: int,
                 mixed: bool) -> st.SearchStrategy[Any]:
        if "$ref" in schema:
            return self._fitting(self.components[schema["$ref"].rsplit("/", 1)[-1]], depth,
                                 mixed)
        if "anyOf" in schema or "oneOf" in schema:
            return st.one_of([self._fitting(s, depth, mixed) for s in
                              schema.get("anyOf", schema.get("oneOf", []))])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        kind = schema.get("type")
        if kind == "string":
            known = st.sampled_from(self.world.ids)
            return st.one_of(known, known, known, st.text(max_size=40))
        if kind == "integer":
            low, high = schema.get("minimum"), schema.get("maximum")
            low, high = (None if low is None else math.ceil(low),
                         None if high is None else math.floor(min(high, 2**63 - 1)))
            near_low = max(-5, low if low is not None else -5)
            near_high = min(5, high if high is not None else 5)
            if near_low > near_high:  # a range away from 0 (a lease of at least 1,000 ms)
                return st.integers(low, high)
            return st.one_of(st.integers(near_low, near_high), st.integers(low, high))
        if kind == "number":
            return st.floats(allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind == "array":
            return st.lists(self.fitting(schema.get("items", {}), depth + 1, mixed=mixed),
                            max_size=3)
        if kind == "object" or "properties" in schema:
            if depth > 3:
                return st.just({})
            props = schema.get("properties", {})
            required = set(schema.get("required", ()))
            return st.fixed_dictionaries(
                {k: self.fitting(v, depth + 1, mixed=mixed) for k, v in props.items()
                 if k in required},
                optional={k: self.fitting(v, depth + 1, mixed=mixed) for k, v in props.items()
                          if k not in required}).flatmap(
                lambda d: st.dictionaries(st.text(max_size=10), json_values(),
                                          max_size=3).map(lambda extra: {**extra, **d}))
        return json_values()


# --- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    parameters: tuple[Mapping[str, Any], ...]
    body: Mapping[str, Any] | None
    """content type -> schema, None when the operation takes no body."""

    def __repr__(self) -> str:
        return f"{self.method} {self.path}"


def operations(spec: Mapping[str, Any]) -> list[Operation]:
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content")
            out.append(Operation(method.upper(), path, tuple(op.get("parameters", ())),
                                 {k: v.get("schema", {}) for k, v in content.items()}
                                 if content else None))
    return out


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str]
    content: bytes | None

    def __repr__(self) -> str:  # what a failing example shows: cut long bodies
        body = self.content if self.content is None or len(self.content) < 400 else (
            self.content[:400] + b"...")
        # a token by its claims' start: enough to tell the role, short enough to read
        headers = {k: v[:12] + "..." + v[-60:-44] if k == "Authorization" and len(v) > 80
                   else v for k, v in self.headers.items()}
        return f"Request({self.method} {self.url[:400]} {headers} {body!r})"


@functools.cache
def _tokens() -> list[dict[str, str]]:
    # first what gets furthest: hypothesis draws the first choice most (and shrinks to it)
    return [ADMIN, {}, ADMIN, ADMIN, auth_header("fuzz-none"),
            auth_header("fuzz-mod", roles=["modeler"]),
            auth_header("fuzz-rev", roles=["reviewer", "authorizer"]),
            auth_header("fuzz-op", roles=["operator"]),
            auth_header("fuzz-aud", roles=["auditor"]),
            {"Authorization": f"Bearer {token('fuzz-old', roles=['admin'], ttl_s=0.001)}"},
            {"Authorization": "Bearer not.a.token"}, {"Authorization": "Basic Zm9vOmJhcg=="},
            # signed by a key the services do not trust (an unknown kid)
            {"Authorization": "Bearer " + issue_token(
                ensure_dev_key(Path(tempfile.mkdtemp(prefix="fuzz-key-"))), user="fuzz-x",
                roles=("admin",))},
            {"Authorization": "Bearer " + "A" * 9000}]


def _text_param(schema: Mapping[str, Any], schemas: Schemas,
                spoil: bool) -> st.SearchStrategy[list[str]]:
    """A parameter's values as text (an array's items are the parameter repeated)."""
    def as_text(value: Any) -> str:
        text = (value if isinstance(value, str) else str(value).lower()
                if isinstance(value, bool) else json.dumps(value) if isinstance(value, dict)
                else str(value))
        return text[:8000]  # what the edge takes in a request line (not the bodies' size)
    values = (st.one_of(hostile(), json_values(), schemas.fitting(schema, mixed=True))
              if spoil else schemas.fitting(schema))
    return values.map(lambda v: [as_text(i) for i in v] if isinstance(v, list) else [as_text(v)])


_RAW_BODIES = [b"", b"NaN", b'{"variables": {"a": NaN}}', b"[" * 100_000, b"{" * 5000,
               b'{"a": 1e999999}', b"\xff\xfe\x00", b'"\\ud800"', b'{"a": 1, "a": 2}',
               b"null", b"[]", b"0", b'{"variables": "\\u0000"}',
               b"[" * 100_000 + b"]" * 100_000, b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
               b'{"type": "object", "properties": {"a": ' * 1500 + b"{}" + b"}}" * 1500,
               b'{"variables": {"a": 1' + b"0" * 5000 + b"}}"]


def _quoted(text: str) -> str:
    # a lone surrogate becomes bytes that are not UTF-8: one more thing to send
    return quote(text, safe="", errors="surrogatepass")


@st.composite
def requests(draw: st.DrawFn, ops: list[Operation], schemas: Schemas) -> Request:
    # the operations that take a body twice: they have the most to get wrong
    op = draw(st.sampled_from([*ops, *(o for o in ops if o.body is not None)]))
    url = op.path
    query: list[tuple[str, str]] = []
    # at most one parameter hostile: the others fit, so the request gets to the route
    names = [p["name"] for p in op.parameters]
    spoiled = draw(st.one_of(st.none(), st.sampled_from(names))) if names else None
    for param in op.parameters:
        values = draw(_text_param(param.get("schema", {}), schemas, param["name"] == spoiled))
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", _quoted(",".join(values)))
        elif param["in"] == "query" and draw(st.booleans()):
            query.extend((param["name"], v) for v in values)
    if draw(st.integers(0, 9)) == 0:  # a parameter the route does not know
        query.append((draw(st.text(string.ascii_letters, min_size=1, max_size=8)),
                      draw(st.sampled_from(_HOSTILE_TEXT))[:8000]))
    if query:
        url += "?" + "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in query)
    headers = dict(draw(st.sampled_from(_tokens())))
    content = None
    if op.body is not None or draw(st.integers(0, 9)) == 0:
        kinds = list(op.body or {"application/json": {}})
        kind = draw(st.sampled_from([*kinds, *kinds, *kinds, "text/plain",
                                     "application/merge-patch+json", ""]))
        if kind:
            headers["content-type"] = kind
        schema = (op.body or {}).get(kind, {})
        if "json" in kind or not kind:
            mode = draw(st.sampled_from(["fits", "fits", "fits", "mixed", "mixed", "any",
                                         "raw"]))
            if mode == "raw":
                content = draw(st.sampled_from(_RAW_BODIES))
            else:
                value = draw(schemas.fitting(schema) if mode == "fits" else
                             schemas.fitting(schema, mixed=True) if mode == "mixed" else
                             st.one_of(hostile(), json_values()))
                content = json.dumps(value, ensure_ascii=draw(st.booleans()),
                                     allow_nan=True).encode("utf-8", "surrogatepass")
        else:
            content = draw(st.one_of(st.binary(max_size=200), st.sampled_from(
                [b"<a/>", b"<?xml version='1.0'?><bpmn:definitions/>", b"\x00"])))
    return Request(op.method, url, headers, content)


_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fuzz")


def send(world: World, request: Request) -> httpx.Response:
    """The answer, or a failed test when none comes within REQUEST_TIMEOUT_S."""
    future = _pool.submit(world.api.client.request, request.method, request.url,
                          headers=request.headers, content=request.content)
    try:
        answer: httpx.Response = future.result(timeout=REQUEST_TIMEOUT_S)
        return answer
    except FutureTimeout:
        pytest.fail(f"no answer within {REQUEST_TIMEOUT_S} s to {request!r}")


def check(world: World, request: Request, answer: httpx.Response) -> None:
    where = f"{request!r} -> {answer.status_code} {answer.text[:600]}"
    # the one 5xx a request may get: the worklist waited its time for the engine's answer
    # (there is no engine here) and says which command to look for
    waited = answer.status_code == 504 and "commandId" in answer.json()
    # and the trace route's, whose query service is not there (the world's closed port)
    no_jaeger = (answer.status_code == 503 and request.url.split("?")[0].endswith("/trace")
                 and "cannot be reached" in answer.json().get("detail", ""))
    assert answer.status_code < 500 or waited or no_jaeger, where
    page = answer.headers.get("content-type", "").startswith("text/html")
    if answer.status_code >= 400 and page and request.url.startswith("/respond/"):
        # the answer page of a response link is for a person's browser: a page that says why
        # (what the shared guards refuse before the route, a problem, is checked below)
        assert "<title>" in answer.text, where
    elif answer.status_code >= 400:
        assert answer.headers.get("content-type") == PROBLEM_JSON, where
        body = answer.json()
        assert body["status"] == answer.status_code, where
        assert isinstance(body["detail"], str), where
    for secret in world.secrets:
        assert secret not in answer.text, where


def _spec(world: World, family: str) -> dict[str, Any]:
    answer = world.api.client.get(f"/openapi/{family}.json")
    assert answer.status_code == 200
    spec: dict[str, Any] = answer.json()
    return spec


@pytest.mark.timeout(max(600, 2 * EXAMPLES))  # two seconds an input: far more than one takes
@pytest.mark.parametrize(("family", "method", "path"), ROUTES,
                         ids=[" ".join(r) for r in ROUTES])
def test_no_request_to_a_route_gets_a_server_error_or_a_body_that_is_not_a_problem(
        world: World, family: str, method: str, path: str) -> None:
    spec = _spec(world, family)
    schemas = Schemas(spec.get("components", {}).get("schemas", {}), world)
    ops = [o for o in operations(spec) if (o.method, o.path) == (method, path)]
    assert len(ops) == 1, (method, path)
    seen: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not _TOTAL, database=None,
              suppress_health_check=list(HealthCheck))
    @given(request=requests(ops, schemas))
    def one(request: Request) -> None:
        answer = send(world, request)
        why = f" {answer.text[90:170]}" if DETAIL and 400 <= answer.status_code < 500 else ""
        seen[f"{answer.status_code}{why}"] += 1
        check(world, request, answer)

    one()
    # what the fuzz reached, for `pytest -s`: a route answered only 401 or 422 is tested little
    print(f"\n{family} {method} {path}: {sum(seen.values())} requests",
          *sorted(seen.items()), sep="\n  ")


# --- every hostile value in every place, once ------------------------------------------------

SWEEP_TEXT = ["\x00", "\ud800", str(2**63), str(2**64), str(-(2**63) - 1), "9" * 5000,
              "1e308", "NaN", "-Infinity", "-1", "0", "\u00b2", "x" * 8000, "", "[]", "%"]
SWEEP_JSON: list[Any] = [2**63, 2**64, -(2**63) - 1, 10**400, 1e308, -1e308, 5e-324, -0.0,
                         "\ud800", "x" * 70_000, "\u00b2", "NaN", [], {}, None, True, "",
                         _deep(63)]
_PATH_VALUES = {"process_id": "pid", "version": "1", "form_id": "form", "task_id": "task",
                "schedule_id": "schedule",
                "incident_id": "incident", "instance_id": "instance", "job_key": "task",
                "token": "link", "batch_id": "batch", "command_id": "command"}


def _baseline(world: World, schema: Mapping[str, Any], components: Mapping[str, Any],
              op: Operation) -> Any:
    """A body that fits the operation (required members only), to put one hostile value in."""
    if op.path == "/api/form-schemas/{form_id}":
        return dict(FORM_SCHEMA)
    if op.path == "/api/forms/{process_id}":
        return dict(SUBMISSION)
    if op.path == "/api/dev/token":
        return {"user": "carla"}  # a development user: the route signs
    if "$ref" in schema:
        return _baseline(world, components[schema["$ref"].rsplit("/", 1)[-1]], components, op)
    if "anyOf" in schema:
        return _baseline(world, schema["anyOf"][0], components, op)
    if "enum" in schema:
        return schema["enum"][0]
    simple = {"string": world.process_id, "integer": 1, "number": 0, "boolean": True,
              "array": []}
    if schema.get("type") in simple:
        return simple[schema["type"]]
    return {k: _baseline(world, v, components, op) for k, v in
            schema.get("properties", {}).items() if k in schema.get("required", ())}


def _sweep(world: World, spec: Mapping[str, Any], op: Operation) -> Iterator[Request]:
    """The operation's request that fits, then each parameter and each body member in turn
    holding each hostile value (the rest as in the one that fits), then each hostile body."""
    known = {"pid": world.process_id, "form": world.form_id, "task": world.task_id,
             "schedule": world.schedule_id,
             "incident": f"{world.instance_id}:1", "instance": world.instance_id, "1": "1",
             "link": world.link, "batch": str(uuid.uuid4()), "command": str(uuid.uuid4())}
    path_values = {p["name"]: known[_PATH_VALUES[p["name"]]] for p in op.parameters
                   if p["in"] == "path"}
    components = spec.get("components", {}).get("schemas", {})
    kind = next(iter(op.body or {}), None)
    body = (_baseline(world, (op.body or {}).get(kind or "", {}), components, op)
            if kind == "application/json" else None)

    def request(path_values: Mapping[str, str], query: str = "", content: Any = None
                ) -> Request:
        url = op.path
        for name, value in path_values.items():
            url = url.replace("{" + name + "}", _quoted(value))
        headers = {**ADMIN, **({"content-type": kind} if kind else {})}
        data = None if content is None else json.dumps(content).encode("utf-8", "surrogatepass")
        return Request(op.method, url + query, headers, data)

    yield request(path_values, content=body)
    for param in op.parameters:
        for value in SWEEP_TEXT:
            if param["in"] == "path":
                yield request({**path_values, param["name"]: value}, content=body)
            else:
                yield request(path_values, f"?{param['name']}={_quoted(value)}", body)
    if isinstance(body, dict):
        for member in [*body, "unknownMember"]:
            for value in SWEEP_JSON:
                yield request(path_values, content={**body, member: value})
        schema = (op.body or {}).get(kind or "", {})
        if "$ref" in schema or "anyOf" in schema:  # a model: does it carry variables?
            ref = next((s["$ref"] for s in [schema, *schema.get("anyOf", ())] if "$ref" in s),
                       "")
            schema = components.get(ref.rsplit("/", 1)[-1], {})
        if "variables" in schema.get("properties", {}):
            # variables that fit the form, but for one value each: past the form's check
            for name in ("amount", "extra"):
                for value in SWEEP_JSON:
                    yield request(path_values,
                                  content={**body, "variables": {**SUBMISSION, name: value}})
    if body is not None:
        for value in SWEEP_JSON:
            yield request(path_values, content=value)
        # bodies no JSON encoder writes: NaN, 100,000 levels, 5,000 digits, not UTF-8
        for raw in _RAW_BODIES:
            sent = request(path_values)
            yield Request(sent.method, sent.url, sent.headers, raw)


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("family", "method", "path"), ROUTES,
                         ids=[" ".join(r) for r in ROUTES])
def test_each_hostile_value_in_each_parameter_and_member_gets_a_clean_answer(
        world: World, family: str, method: str, path: str) -> None:
    spec = _spec(world, family)
    op = next(o for o in operations(spec) if (o.method, o.path) == (method, path))
    seen: Counter[int] = Counter()
    for request in _sweep(world, spec, op):
        answer = send(world, request)
        seen[answer.status_code] += 1
        check(world, request, answer)
    print(f"\n{family} {method} {path}: {dict(sorted(seen.items()))}")


def test_the_fuzz_covers_every_route_of_the_running_services(world: World) -> None:
    """The routes are listed from the apps without parts (at collection); the running apps
    serve the same ones."""
    running = {(family, o.method, o.path) for family in FAMILIES
               for o in operations(_spec(world, family))}
    assert running == set(ROUTES)


def test_the_hostile_values_are_json_a_client_can_send() -> None:
    for value in [*_HOSTILE_TEXT, *_HOSTILE_NUMBERS]:
        json.dumps(value)
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in _HOSTILE_NUMBERS)


def test_a_task_command_kafka_does_not_take_is_503_naming_no_topic(world: World) -> None:
    # given the worklist over the same tables, with a producer whose broker is not there
    api = world.api
    dead = Publisher("127.0.0.1:1", api.topics, timeout_s=1.0)
    deps = WorklistDeps(pool=api.worklist.pool, publisher=dead, forms=api.worklist.forms,
                        answer_timeout_s=0.05)
    app = create_worklist_app(verifier(), HealthChecks("test"), CollectorRegistry(), deps)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            # when a task is claimed
            answer = client.post(f"/api/tasks/{_quoted(world.task_id)}/claim", headers=ADMIN)
    finally:
        dead.close(0.1)
    # then the caller is told to retry, and not where the command was to go
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.headers["retry-after"] == "5"
    assert api.settings.topic_prefix not in answer.text


@pytest.mark.parametrize(("where", "body", "anonymous"), [
    ("form", b"[" * 100_000 + b"]" * 100_000, True),
    ("form", b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, True),
    ("schema", b'{"type": "object", "properties": {"a": ' * 3000 + b"{}" + b"}}" * 3000, False),
    ("schema", b'{"type": "object", "properties": {"a": {"type": "number", "maximum": NaN}}}',
     False),
])
def test_the_issues_deep_and_nan_bodies_are_422_through_the_real_app(
        world: World, where: str, body: bytes, anonymous: bool) -> None:
    # the anonymous public form and a form schema, as the issue sent them (they were 500s)
    url = (f"/api/forms/{world.process_id}" if where == "form"
           else f"/api/form-schemas/{world.form_id}-deep")
    headers = {"content-type": "application/json", **({} if anonymous else ADMIN)}
    request = Request("POST" if where == "form" else "PUT", url, headers, body)
    answer = send(world, request)
    check(world, request, answer)
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("kind", ["text/plain", None])
@pytest.mark.parametrize(("where", "body", "why"), [
    ("form", b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    ("form", b'{"applicant": {"email": "a@b.org"}, "amount": NaN}', "not a finite number"),
    ("schema", b'{"type": "object", "title": "a\\u0000b"}', "U+0000"),
    ("schema", b'{"type": "object", "title": "\\ud800"}', "lone surrogate"),
])
def test_a_form_body_sent_as_another_type_is_held_to_what_a_json_one_is(
        world: World, kind: str | None, where: str, body: bytes, why: str) -> None:
    # the form routes read their body as JSON whatever its type says; the guard reads only
    # what says it is JSON (found by the long fuzz: a 100,000-deep array as no type, a 500)
    url = (f"/api/forms/{world.process_id}" if where == "form"
           else f"/api/form-schemas/{world.form_id}-typed")
    headers = {**ADMIN, **({"content-type": kind} if kind else {})}
    request = Request("POST" if where == "form" else "PUT", url, headers, body)
    answer = send(world, request)
    check(world, request, answer)
    assert answer.status_code == 422, answer.text
    assert why in answer.json()["detail"]
