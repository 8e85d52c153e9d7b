"""The HTTP client of the operator commands (`laneway deploy`, `start`, `tasks`, ...): one
public URL (`--url`, `LANEWAY_URL`), one bearer token (`--token`, `LANEWAY_TOKEN`), answers
read within a bound, and the three ways a call ends that are not an answer (docs/cli.md,
"Operating Laneway from a terminal").

The token is sent, never printed: no message built here holds a header.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "DEFAULT_URL",
    "MAX_ANSWER_BYTES",
    "MAX_XML_BYTES",
    "ApiClient",
    "ApiRefused",
    "Unreachable",
    "parse_value",
]

DEFAULT_URL = "http://127.0.0.1:8080"
MAX_ANSWER_BYTES = 32 * 1024 * 1024
"""A JSON answer read whole: a page of 1000 instances with large variables fits."""
MAX_XML_BYTES = 80 * 1024 * 1024
"""An exported diagram (the services take at most 64 MiB)."""
_MAX_DETAIL_CHARS = 2000


class ApiRefused(Exception):
    """The API answered with an error (4xx, 5xx): exit 1 with its problem's title and detail."""

    def __init__(self, status: int, title: str, detail: str, body: Any = None) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail
        self.body = body


class Unreachable(Exception):
    """No answer from the URL (refused, no such host, timed out, the answer too large to
    read): exit 3, the message names the URL."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        if not self.content:
            return None
        try:
            return json.loads(self.content)
        except ValueError as exc:
            raise Unreachable(f"Expected a JSON answer, but got {len(self.content)} bytes that "
                              f"do not parse ({exc})") from exc


class ApiClient:
    """Calls to the public URL with the bearer token; each answer read within a bound."""

    def __init__(self, url: str, token: str | None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"Accept": "application/json, application/problem+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout,
                                  transport=transport, follow_redirects=False)
        self._timeout = timeout

    @classmethod
    def from_options(cls, url: str | None, token: str | None, timeout: float,
                     environ: Mapping[str, str] | None = None) -> ApiClient:
        env = os.environ if environ is None else environ
        return cls(url or env.get("LANEWAY_URL", "").strip() or DEFAULT_URL,
                   token or env.get("LANEWAY_TOKEN", "").strip() or None, timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls --------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None,
            limit: int = MAX_ANSWER_BYTES) -> Answer:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return self.request("GET", path, params=clean, limit=limit)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        if body is not None:
            kwargs["json"] = body
        return self.request("POST", path, **kwargs)

    def request(self, method: str, path: str, limit: int = MAX_ANSWER_BYTES,
                **kwargs: Any) -> Answer:
        """The answer to one call; `ApiRefused` for a status of 400 or more, `Unreachable`
        when there is no answer to read."""
        target = f"{self.url}{path}"
        try:
            with self._http.stream(method, path, **kwargs) as response:
                content = _read_at_most(response, limit)
                status, headers = response.status_code, response.headers
        except httpx.TimeoutException as exc:
            raise Unreachable(f"Expected an answer from {target} within {self._timeout:g} s, "
                              f"but none came ({type(exc).__name__}); is Laneway up? "
                              "(--timeout waits longer)") from exc
        except httpx.HTTPError as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise Unreachable(f"Expected Laneway's API at {self.url}, but it cannot be "
                              f"reached: {reason}. Start it (make up) or give --url / "
                              "LANEWAY_URL") from exc
        if content is None:
            raise Unreachable(f"Expected an answer from {target} of at most {limit} bytes, but "
                              "it is larger; narrow the query (--limit)")
        answer = Answer(status, headers, content)
        if status >= 400:
            raise _refusal(answer)
        return answer


def _read_at_most(response: httpx.Response, limit: int) -> bytes | None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _refusal(answer: Answer) -> ApiRefused:
    """The problem document's title and detail (RFC 9457), and its field errors."""
    try:
        body = json.loads(answer.content) if answer.content else None
    except ValueError:
        body = None
    title = _phrase(answer.status)
    detail = ""
    if isinstance(body, dict):
        title = str(body.get("title") or title)
        raw = body.get("detail")
        detail = raw if isinstance(raw, str) else (json.dumps(raw) if raw is not None else "")
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            detail = "; ".join(filter(None, [detail, *(_error_line(e) for e in errors[:20])]))
    elif answer.content:
        # not ours (a proxy's page): its first line, as text
        detail = answer.content[:300].decode("utf-8", "replace").strip().splitlines()[0]
    if answer.status == 401 and "WWW-Authenticate" in answer.headers:
        detail = (detail or "no token") + " (give --token or LANEWAY_TOKEN; `laneway token` " \
                                          "signs one for the local stack)"
    detail = " ".join(detail.split())
    if len(detail) > _MAX_DETAIL_CHARS:
        detail = detail[:_MAX_DETAIL_CHARS - 1] + "…"
    return ApiRefused(answer.status, title, detail, body)


def _error_line(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    where = error.get("file") and error.get("line") and f"{error['file']}:{error['line']}"
    where = where or error.get("field") or ".".join(str(p) for p in error.get("loc") or [])
    element = f"element '{error['elementId']}': " if error.get("elementId") else ""
    message = error.get("message") or error.get("msg") or ""
    return f"{where}: {element}{message}" if where else f"{element}{message}"


def _phrase(status: int) -> str:
    try:
        from http import HTTPStatus
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def parse_value(text: str) -> Any:
    """A variable's value: JSON when it parses (`5`, `true`, `{"a": 1}`, `"quoted"`), else the
    text as a string (`Ada`)."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return text


def _no_constant(name: str) -> Any:
    # NaN and Infinity are no JSON a service accepts: `--var x=NaN` is the string
    raise ValueError(name)
