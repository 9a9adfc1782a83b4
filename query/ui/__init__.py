"""The web pages (``/ui/``) and the offline API docs (``/docs``), served by the API process.

Nothing is fetched from elsewhere: the pages' CSS and JS are in ``static/``; Swagger UI's
assets come from the pinned ``swagger-ui-bundle-v2`` package (Apache-2.0, its licence
ships with it).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from provenance_ledger.query.ui.routes import router

STATIC = Path(__file__).parent / "static"
SWAGGER_ASSETS = "/docs/assets"


def install(app: FastAPI) -> None:
    """Mount the pages, their assets and ``/docs`` (create the app with ``docs_url=None``)."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.mount(SWAGGER_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_ASSETS}/favicon-32x32.png",
            # The default validator badge calls an outside service.
            swagger_ui_parameters={"validatorUrl": None},
        )
