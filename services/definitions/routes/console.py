"""What the browser console reads before anyone signs in: how to sign in, and where an
instance's trace is (docs/console.md)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import Field

from services.definitions.deps import Console
from services.definitions.models import ApiModel

router = APIRouter(prefix="/api/console", tags=["console"])


class OidcConfig(ApiModel):
    """The console's OpenID Connect client."""

    issuer: str = Field(description="The issuer; the console reads "
                                    "`<issuer>/.well-known/openid-configuration` itself.")
    client_id: str = Field(description="The public client id (authorization code with PKCE).")
    scopes: list[str] = Field(description="The scopes to ask for (`openid` among them).")
    api_audience: str = Field(description="The `aud` the API verifies, for providers that "
                                          "want it named in the authorization request.")


class ConsoleConfig(ApiModel):
    """How the console signs people in."""

    dev_sign_in: bool = Field(description="True when the development sign-in is on "
                                          "(`GET /api/dev/users`, `POST /api/dev/token`).")
    oidc: OidcConfig | None = Field(description="The OpenID Connect client, null when none "
                                                "is set up.")
    traces_url: str | None = Field(
        default=None,
        description="A tracing UI (Jaeger, `LANEWAY_TRACES_URL`): an instance's trace is "
                    "`<tracesUrl>/trace/<the instance id's 32 hex digits>`; null when none is "
                    "set.")
    trace_view: bool = Field(
        default=False,
        description="Whether the console shows an instance's trace itself "
                    "(`GET /api/instances/{id}/trace`; `LANEWAY_TRACES_QUERY_URL` is set).")


@router.get(
    "/config",
    response_model=ConsoleConfig,
    summary="How the console signs in",
    description="Public: no token needed. Whether the development sign-in is on, and the "
                "OpenID Connect client the console signs in with (`LANEWAY_OIDC_ISSUER`, "
                "`LANEWAY_OIDC_CLIENT_ID`, `LANEWAY_OIDC_SCOPES`), null when none is set; "
                "the tracing UI an instance's trace is linked in (`LANEWAY_TRACES_URL`) "
                "and whether the console shows traces itself (`LANEWAY_TRACES_QUERY_URL`).",
    openapi_extra={"security": []},
)
def console_config(console: Console, response: Response) -> ConsoleConfig:
    """The console's sign-in settings."""
    # read at every start of the console, never from a cache: a changed setting shows at once
    response.headers["Cache-Control"] = "no-store"
    oidc = console.oidc
    return ConsoleConfig(
        dev_sign_in=console.dev_sign_in is not None,
        oidc=None if oidc is None else OidcConfig(
            issuer=oidc.issuer, client_id=oidc.client_id, scopes=list(oidc.scopes),
            api_audience=oidc.audience),
        traces_url=console.traces_url, trace_view=console.trace_view)
