"""The development sign-in (docs/console.md): the development users, and tokens for them
signed with the development key. Only when `LANEWAY_DEV_SIGNIN=1` (`make up` sets it, the Helm
chart never does); otherwise every route here is a 404, as if it did not exist."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import Field

from laneway.auth.dev import issue_token
from laneway.auth.dev_users import DevUser
from laneway.web.problems import problem
from services.definitions.console import DevSignIn
from services.definitions.deps import Console, read_capped
from services.definitions.models import ApiModel, Detail

router = APIRouter(prefix="/api/dev", tags=["development sign-in"])

_log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096
"""A sign-in request names one user."""


def dev_sign_in(console: Console) -> DevSignIn:
    """The development sign-in; 404 (what a path that does not exist answers) when it is off."""
    if console.dev_sign_in is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return console.dev_sign_in


DevSignInOn = Annotated[DevSignIn, Depends(dev_sign_in)]


class DevUserView(ApiModel):
    """A development user: who a token for them says they are."""

    id: str = Field(description="The principal id (the token's `sub`).")
    name: str = Field(description="A display name.")
    kind: str = Field(description="`human` or `agent`.")
    roles: list[str] = Field(description="The roles a token for them holds.")
    personas: list[str] = Field(description="The personas (lanes) they may work in.")
    groups: list[str] = Field(description="Their groups (candidate groups of tasks).")
    description: str = Field(description="What the user is for.")


class DevToken(ApiModel):
    """A token for a development user."""

    token: str = Field(description="The bearer token (an ES256 JWT).")
    expires_at: datetime = Field(description="When it stops being valid.")
    principal: DevUserView = Field(description="Who it names.")


def _view(user: DevUser) -> DevUserView:
    return DevUserView.model_validate(user.to_dict())


_UNKNOWN = {"description": "The development sign-in is off (`LANEWAY_DEV_SIGNIN`)."}


@router.get(
    "/users",
    response_model=list[DevUserView],
    summary="The development users",
    description="Public, and only with the development sign-in on (`LANEWAY_DEV_SIGNIN=1`; "
                "404 otherwise): the users a token can be asked for, with their roles, "
                "personas and groups.",
    responses={404: {"model": Detail, **_UNKNOWN}},
    openapi_extra={"security": []},
)
def dev_users(sign_in: DevSignInOn) -> list[DevUserView]:
    """Every development user."""
    return [_view(u) for u in sign_in.users]


async def _sign_in_body(request: Request) -> Any:
    # read here, after the switch: with the sign-in off, any body is the 404 of a path that
    # does not exist, never a 422 that says the route is there
    body = await read_capped(request, MAX_BODY_BYTES, lambda: HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"Expected a body of at most {MAX_BODY_BYTES} bytes naming one user"))
    try:
        return json.loads(body)
    except ValueError:
        return None  # said below, as any body without a user


@router.post(
    "/token",
    response_model=DevToken,
    summary="Sign in as a development user",
    description="Public, and only with the development sign-in on (`LANEWAY_DEV_SIGNIN=1`; "
                "404 otherwise): a token for one of the development users, signed with the "
                "development key (`LANEWAY_DEV_KEY_FILE`) and valid for 8 hours (less when "
                "`LANEWAY_JWT_MAX_LIFETIME_S` is less).",
    responses={
        404: {"model": Detail, **_UNKNOWN},
        413: {"model": Detail, "description": "The body is over 4 KiB."},
        422: {"model": Detail, "description": "`user` is missing or names no development "
                                              "user."},
        503: {"model": Detail, "description": "The development key is missing or unusable."},
    },
    openapi_extra={"security": [], "requestBody": {"required": True, "content": {
        "application/json": {"schema": {
            "type": "object", "required": ["user"],
            "properties": {"user": {"type": "string",
                                    "description": "A development user's id."}}}}}}},
)
def dev_token(sign_in: DevSignInOn, body: Annotated[Any, Depends(_sign_in_body)],
              response: Response) -> DevToken | JSONResponse:
    """A token for a development user."""
    user_id = body.get("user") if isinstance(body, dict) else None
    user = sign_in.user(user_id) if isinstance(user_id, str) else None
    if user is None:
        known = ", ".join(u.id for u in sign_in.users)
        message = (f"Expected the id of a development user ({known}), but got "
                   f"{_shown(user_id)}")
        return problem(status.HTTP_422_UNPROCESSABLE_CONTENT, message, errors=[
            {"loc": ["body", "user"], "msg": message, "type": "value_error"}])
    now = time.time()
    try:
        token = issue_token(sign_in.key_file, user=user.id, personas=user.personas,
                            roles=user.roles, groups=user.groups, kind=user.kind,
                            ttl_s=sign_in.ttl_s, issuer=sign_in.issuer,
                            audience=sign_in.audience, now=now, name=user.name)
    except (OSError, ValueError) as exc:
        # the path and the reason are the operators' to read
        _log.error("development sign-in refused: no usable signing key at %s: %s",
                   sign_in.key_file, exc)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "Expected the development signing key (LANEWAY_DEV_KEY_FILE), but "
                            "it is missing or unusable: `make up` creates it") from None
    _log.info("development sign-in as %s", user.id)
    # a token in an answer no cache may keep (RFC 6749 section 5.1)
    response.headers["Cache-Control"] = "no-store"
    expires = datetime.fromtimestamp(int(now) + sign_in.ttl_s, UTC)
    return DevToken(token=token, expires_at=expires, principal=_view(user))


def _shown(value: Any) -> str:
    if value is None:
        return "no user"
    text = value if isinstance(value, str) else json.dumps(value)[:60]
    return repr(text[:60])
