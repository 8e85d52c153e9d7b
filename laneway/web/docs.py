"""Each service's OpenAPI page (Swagger UI) with its script, stylesheet and icon served by
the service itself, not by a CDN: FastAPI's own page loads them from the internet and is
blank on an isolated network.

    app = FastAPI(..., docs_url=None, redoc_url=None)
    docs.install(app, "/docs/worklist")

The files come from the pinned `fastapi-offline` package (its `static/` folder: a
Swagger UI build). They are served at `ASSETS` (`/docs/assets/<name>`) by every service, so
the page works on a service's own port, and the edge sends that path to one of them
(edge/routes.toml). ReDoc is not served (`redoc_url=None` in every app).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from laneway.web.problems import problem

__all__ = ["ASSETS", "FILES", "install"]

ASSETS = "/docs/assets"
"""Where every service serves Swagger UI's files."""

FILES = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
         "swagger-ui.css": "text/css; charset=utf-8",
         "favicon.png": "image/png"}
"""The files the page loads, with their content types: nothing else is served."""

# the files do not change within a release: a browser may keep them a day
_CACHE = "public, max-age=86400"


@cache
def _read(name: str) -> bytes:
    return files("fastapi_offline").joinpath("static", name).read_bytes()


def install(app: FastAPI, docs_url: str) -> None:
    """Serve the page at `docs_url` (for the app's OpenAPI document) and its files at
    `ASSETS`; sets `app.docs_url`, which FastAPI leaves unserved when it was None."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("Expected an app with an OpenAPI document, but openapi_url is None")
    title = f"{app.title} API"

    @app.get(docs_url, include_in_schema=False)
    def page() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=title,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png")

    @app.get(ASSETS + "/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        content_type = FILES.get(name)
        if content_type is None:
            return problem(404, f"Expected one of {', '.join(sorted(FILES))}, but got "
                                f"{name[:100]!r}")
        return Response(_read(name), media_type=content_type,
                        headers={"Cache-Control": _CACHE})

    app.docs_url = docs_url
