"""FastAPI dependencies that turn `Authorization: Bearer <JWT>` into a `Principal`.

A service puts one `TokenVerifier` on `app.state.verifier` at start; routes then declare

    def route(principal: Authenticated): ...                    # 401 without a valid token
    def route(principal: MaybeAuthenticated): ...               # None without a header
    def route(principal: Annotated[Principal, Depends(require_role("modeler"))]): ...

The dependencies are plain functions, so FastAPI runs them in its thread pool: fetching a
JWKS URL never blocks the event loop. `AuthenticatedInline` is `Authenticated` without that
hop when the keys are local (a secret or a JWKS file: verifying is CPU only, a fraction of a
millisecond), for routes where the hop to the thread pool and back is a measurable share of
the request (the worklist's task commands, docs/e2e.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from laneway.auth._errors import AuthError, KeySourceError
from laneway.auth._settings import AuthSettings
from laneway.auth._verify import TokenVerifier
from laneway.records import Principal
from laneway.settings import SettingsError

__all__ = [
    "TOKEN_REQUIRED",
    "Authenticated",
    "AuthenticatedInline",
    "MaybeAuthenticated",
    "bearer_principal",
    "bearer_principal_inline",
    "optional_principal",
    "require_role",
    "verifier_at_start",
]

_log = logging.getLogger(__name__)

# RFC 6750 section 3: error_description is a quoted-string of printable ASCII without `"`
# and `\`.
_UNQUOTABLE = re.compile(r'[^\x20-\x21\x23-\x5b\x5d-\x7e]')


# Only so OpenAPI documents the scheme (and /docs offers "Authorize"): it never refuses; the
# header is read and answered below, with the RFC 6750 challenges.
_DOCUMENTED_SCHEME = HTTPBearer(
    auto_error=False, bearerFormat="JWT",
    description="A JWT from your identity provider; locally: `laneway token --user ...`.")


def bearer_principal(
    request: Request,
    _documented: Annotated[HTTPAuthorizationCredentials | None, Depends(_DOCUMENTED_SCHEME)],
) -> Principal:
    """The principal of the request's bearer token; 401 without one or with a bad one."""
    principal = optional_principal(request)
    if principal is None:
        raise _unauthorized("Expected an 'Authorization: Bearer <token>' header, but the "
                            "request has none", challenge="Bearer")
    return principal


async def bearer_principal_inline(
    request: Request,
    documented: Annotated[HTTPAuthorizationCredentials | None, Depends(_DOCUMENTED_SCHEME)],
) -> Principal:
    """`bearer_principal`, run on the event loop when verifying needs no network (the same
    answers: 401, 503); in the thread pool when the keys come from a JWKS URL."""
    if _verifier(request).fetches:
        return await run_in_threadpool(bearer_principal, request, documented)
    return bearer_principal(request, documented)


def optional_principal(request: Request) -> Principal | None:
    """The principal of the request's bearer token, None without an Authorization header;
    401 when a token is sent but is not valid."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized(f"Expected 'Authorization: Bearer <token>', but got a "
                            f"{_describe_scheme(scheme)} credential", error="invalid_request")
    try:
        return _verifier(request).verify(token.strip())
    except KeySourceError as exc:
        # the reason names the JWKS file or URL: the operators' to read, not the caller's
        _log.error("cannot verify tokens: %s", exc.reason)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="Expected to verify the token with the identity provider's keys, but they "
                   "cannot be loaded now. Retry later.",
            headers={"Retry-After": "5"},
        ) from exc
    except AuthError as exc:
        raise _unauthorized(f"Invalid bearer token: {exc.reason}",
                            error="invalid_token", description=exc.reason) from exc


def require_role(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency answering 403 unless the principal holds one of `roles` (or `admin`)."""
    if not roles:
        raise ValueError("Expected at least one role")

    def dependency(principal: Annotated[Principal, Depends(bearer_principal)]) -> Principal:
        if not principal.has_role(*roles):
            held = ", ".join(principal.roles) or "no role"
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"Expected one of the roles {', '.join(roles)}, but {principal.id} "
                       f"holds {held}",
            )
        return principal

    dependency.__name__ = f"require_role_{'_'.join(roles)}"
    return dependency


Authenticated = Annotated[Principal, Depends(bearer_principal)]
"""A route parameter holding the verified principal (401 otherwise)."""
AuthenticatedInline = Annotated[Principal, Depends(bearer_principal_inline)]
"""`Authenticated`, verified on the event loop when that needs no network."""
MaybeAuthenticated = Annotated[Principal | None, Depends(optional_principal)]
"""A route parameter holding the verified principal, or None when no token was sent."""
TOKEN_REQUIRED = [Depends(bearer_principal)]
"""Router dependencies: every route of the router needs a valid bearer token (401 otherwise)."""


def _verifier(request: Request) -> TokenVerifier:
    verifier = getattr(request.app.state, "verifier", None)
    if not isinstance(verifier, TokenVerifier):
        # A wiring mistake in the service, not the caller's: FastAPI answers 500.
        raise RuntimeError("Expected app.state.verifier to be a laneway.auth.TokenVerifier, "
                           f"but got {type(verifier).__name__}: set it when building the app")
    return verifier


def _unauthorized(detail: str, *, error: str | None = None, challenge: str | None = None,
                  description: str | None = None) -> HTTPException:
    if challenge is None:
        text = _UNQUOTABLE.sub("?", description or detail)
        challenge = f'Bearer error="{error}", error_description="{text}"'
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail,
                         headers={"WWW-Authenticate": challenge})


def _describe_scheme(scheme: str) -> str:
    if not scheme or scheme.lower() == "bearer":
        return "empty Bearer"
    # Only the scheme name, never the credential that follows it.
    return repr(_UNQUOTABLE.sub("?", scheme[:20]))


def verifier_at_start(settings: AuthSettings | None = None) -> TokenVerifier:
    """The process's verifier, from `settings` (default: `LANEWAY_JWT_*` of the environment).
    A JWKS file or URL is read now: keys that cannot be loaded stop the start as bad
    settings do (`SettingsError`, exit status 2), not the first request."""
    try:
        return TokenVerifier(settings if settings is not None else AuthSettings.from_env())
    except KeySourceError as error:
        raise SettingsError(str(error)) from error
