"""One error body for every service: RFC 9457 problem details (`application/problem+json`).

    {"type": "about:blank", "title": "Conflict", "status": 409, "detail": "Expected ...",
     "rejectionType": "ALREADY_CLAIMED"}

`type`, `title`, `status` and `detail` are the RFC's members; what a route said besides its
`detail` before (the engine's `rejectionType`, the field `errors` of a 422, a `commandId`)
stays as an extension member, so clients that read those keep working. `install(app)` makes
every error of an app one: an `HTTPException` raised anywhere (headers such as
`WWW-Authenticate` and `Retry-After` kept), a request FastAPI cannot validate (its field
errors under `errors`), a route that is not there, a value or record over its size limit
(`laneway.limits.TooLarge`, 413), a database that cannot be reached (PostgreSQL restarting, the
pool out of connections: 503 with `Retry-After`, since the same request succeeds later), and
anything unexpected (a 500 that says no more than that). A route that answers an error itself
returns `problem(...)`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException

from laneway.limits import TooLarge

__all__ = ["PROBLEM_JSON", "install", "problem"]

PROBLEM_JSON = "application/problem+json"
_RESERVED = frozenset({"type", "title", "status", "detail"})
_log = logging.getLogger(__name__)


def problem(status: int, detail: str, /, *, headers: Mapping[str, str] | None = None,
            **extensions: Any) -> JSONResponse:
    """A problem-details response: `status`, `detail`, and `extensions` as extra members
    (camelCase names, as the rest of the API)."""
    clash = _RESERVED & set(extensions)
    if clash:
        raise ValueError(f"Expected extension members, but {sorted(clash)} are the RFC's own")
    body: dict[str, Any] = {"type": "about:blank", "title": _title(status), "status": status,
                            "detail": detail, **extensions}
    return _ProblemResponse(jsonable_encoder(body), status_code=status,
                            headers=dict(headers) if headers else None, media_type=PROBLEM_JSON)


class _ProblemResponse(JSONResponse):
    """A problem document that can always be sent: a detail that quotes what the client sent
    may hold a lone surrogate (JSON's `"\\ud800"` reads as one), which UTF-8 cannot encode;
    it is written as JSON's escape `\\ud800` (what the client sent) instead of failing the
    answer with a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("utf-8", "backslashreplace")


def install(app: FastAPI) -> None:
    """Answer every error of `app` with problem details."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(TooLarge, _too_large)
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
    return problem(exc.status_code, detail, headers=exc.headers)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
               "type": str(e.get("type", ""))} for e in exc.errors()]
    where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return problem(422, f"Expected a request that fits the route, but {len(errors)} value(s) "
                        f"do not: {where}{more}", errors=errors)


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    # what a client sent is larger than a record or a command may be: the same request
    # fails again, so 413 and not the 503 of a Kafka that did not answer
    return problem(413, str(exc))


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # a connection lost or refused (a restart, a failover, the pool exhausted): not the
    # client's fault, and the same request succeeds once the database is back
    _log.warning("%s %s: the database is unavailable: %s", request.method, request.url.path,
                 exc)
    return problem(503, "The database is not available right now; retry shortly.",
                   headers={"Retry-After": "1"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem(500, "The service failed to answer this request; it is logged. Retry "
                        "later, and tell the operators if it persists.")


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
