"""The operator commands' client side without a Laneway: variables, usage errors, problem
details, bounded answers and the token kept out of every message, against a local HTTP server
(the whole flow runs against the real services in tests/e2e/test_cli_ops_e2e.py)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from laneway.cli import main
from laneway.cli._api import parse_value
from tests.local_http import serve

SECRET = "eyJ.secret-token.sig"


class Api(BaseHTTPRequestHandler):
    """Answers as the services do: a problem document, a huge page, or the body it got."""

    seen: ClassVar[list[tuple[str, str, dict[str, object]]]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/api/instances"):
            # over the 32 MiB a JSON answer may have
            self._answer(200, b'{"count": 1, "items": [' + b'"x",' * 9_000_000 + b'"x"]}')
        else:
            self._answer(403, json.dumps({
                "type": "about:blank", "title": "Forbidden", "status": 403,
                "detail": "Expected the role operator, but 'ana' holds none"}).encode(),
                "application/problem+json")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        Api.seen.append((self.path, self.headers.get("Authorization", ""), body))
        if self.path == "/api/instances":
            self._answer(201, b'{"instanceId": "6de7a3c2-0000-4000-8000-000000000001"}')
        elif self.path == "/api/conditions":
            self._answer(202, b'{"commandId": "0c0c0c0c-0000-4000-8000-000000000002"}')
        else:
            self._answer(422, json.dumps({
                "title": "Unprocessable Entity", "status": 422, "detail": "Expected a form",
                "errors": [{"field": "amount", "message": "is required"}]}).encode(),
                "application/problem+json")


def test_a_value_is_json_when_it_parses_else_a_string() -> None:
    assert parse_value("5") == 5
    assert parse_value("true") is True
    assert parse_value('{"a": [1]}') == {"a": [1]}
    assert parse_value('"5"') == "5"
    assert parse_value("Ada Lovelace") == "Ada Lovelace"
    assert parse_value("NaN") == "NaN"  # no JSON a service takes
    assert parse_value("") == ""


def test_start_sends_the_variables_and_prints_only_the_id(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Api.seen.clear()
    file = tmp_path / "vars.json"
    file.write_text('{"amount": 1, "who": "file"}')
    with serve(Api) as url:
        code = main(["start", "order", "--vars-file", str(file), "--var", "amount=7",
                     "--var", "name=Ada", "--url", url, "--token", SECRET])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == "6de7a3c2-0000-4000-8000-000000000001\n"
    assert Api.seen == [("/api/instances", f"Bearer {SECRET}", {
        "processId": "order", "variables": {"amount": 7, "who": "file", "name": "Ada"}})]


def test_conditions_evaluate_sends_the_variables_and_the_process(
        capsys: pytest.CaptureFixture[str]) -> None:
    Api.seen.clear()
    with serve(Api) as url:
        code = main(["conditions", "evaluate", "--var", "amount=500", "--process", "order",
                     "--url", url, "--token", SECRET])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out == "0c0c0c0c-0000-4000-8000-000000000002\n"
        code = main(["conditions", "evaluate", "--var", "x=1", "--url", url, "--token", SECRET])
        assert code == 0
    assert Api.seen == [
        ("/api/conditions", f"Bearer {SECRET}",
         {"variables": {"amount": 500}, "processId": "order"}),
        ("/api/conditions", f"Bearer {SECRET}", {"variables": {"x": 1}})]


def test_a_refusal_prints_the_problem_and_its_field_errors(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with serve(Api) as url:
        monkeypatch.setenv("LANEWAY_URL", url)
        monkeypatch.setenv("LANEWAY_TOKEN", SECRET)
        assert main(["tasks", "complete", "i:1", "--var", "x=1"]) == 1
        assert main(["definitions", "list"]) == 1
    err = capsys.readouterr().err
    assert "laneway tasks: 422 Unprocessable Entity: Expected a form; amount: is required" in err
    assert "laneway definitions: 403 Forbidden: Expected the role operator" in err
    assert SECRET not in err


def test_an_answer_over_the_bound_is_not_read(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(Api) as url:
        assert main(["instances", "list", "--url", url, "--token", SECRET]) == 3
    err = capsys.readouterr().err
    assert "larger" in err
    assert SECRET not in err


def test_nobody_answering_is_exit_3_naming_the_url(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(Api) as url:
        pass  # the port is free again
    assert main(["incidents", "list", "--url", url, "--token", SECRET]) == 3
    err = capsys.readouterr().err
    assert url in err
    assert SECRET not in err


@pytest.mark.parametrize("argv", [
    ["start", "order", "--var", "no-equals"],
    ["tasks", "list", "--instance", "not-a-uuid"],
    ["lifecycle", "order", "1", "publish"],
    ["start", "order", "--vars-file", "/nonexistent/vars.json", "--url", "http://127.0.0.1:9"],
])
def test_bad_usage_is_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err
