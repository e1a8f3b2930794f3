"""The API's documentation page (`/docs`, Swagger UI), served whole by this server: its script and
style come from the `fastapi-offline` package (Swagger UI 5, which reads OpenAPI 3.1) and are served
under `/docs/assets/`, so the page works on a machine with no internet (FastAPI's default page loads
them from a CDN, and Swagger UI would ask an online validator). There is no `/redoc`: ReDoc's page
loads its logo from its CDN."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
ASSETS = Path(fastapi_offline.__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Serve `/docs` from local files. The app must be made with `docs_url=None, redoc_url=None`
    (FastAPI's own routes would load the CDN's)."""
    title = f"{app.title} — API"
    openapi_url = app.openapi_url or "/openapi.json"

    async def docs_page() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no online validator badge
        )

    app.add_api_route(DOCS_URL, docs_page, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS)), name="docs-assets")
