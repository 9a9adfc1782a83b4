"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from provenance_ledger.query import ui
from provenance_ledger.query.api import errors
from provenance_ledger.query.api.deps import require
from provenance_ledger.query.api.middleware import BodyLimit, LocalOnly
from provenance_ledger.query.api.routes import (
    commits,
    deployments,
    events,
    health,
    incidents,
    metrics,
    policy,
    snapshot,
    sql,
    webhooks,
)
from provenance_ledger.query.api.routes import ledger as ledger_routes
from provenance_ledger.query.api.state import AppState

ERROR_SCHEMA = {
    "type": "object",
    "required": ["ok", "error", "status"],
    "properties": {
        "ok": {"type": "boolean", "const": False},
        "error": {"type": "string"},
        "status": {"type": "integer"},
        "errors": {"type": "array"},
    },
}
# Documented for every operation, so clients (and schemathesis) know the one error shape.
ERROR_RESPONSES: dict[int | str, dict] = {
    "4XX": {
        "description": "refused: bad input (400/422), missing or bad token (401), token without "
        "the scope (403), unknown (404), body too large (413)",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    },
    503: {
        "description": "a dependency (Kafka, disk) is unavailable",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    },
}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    service = getattr(app.state, "sql_service", None)
    if service is not None:  # made on the first SQL query (query/api/deps.py)
        service.close()


def create_app(state: AppState) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="provledger",
        summary="Which changes shipped before this outage, who wrote them with which AI tool, "
        "and who signed them off.",
        version="0.1.0",
        responses=ERROR_RESPONSES,
        # /docs is served by query.ui from packaged assets (FastAPI's loads them from a CDN);
        # ReDoc has no packaged assets, so it is off.
        docs_url=None,
        redoc_url=None,
    )
    app.state.provledger = state
    errors.install(app)
    ui.install(app)  # /ui/… pages (cookie login, see query/ui/session.py) and /docs
    # Auth is per router, by scope. /healthz, /openapi.json and /docs stay open; every other
    # router is `read` unless listed under a stricter scope (a route may add its own, e.g.
    # Depends(require("admin"))). A new router goes in the `read` tuple at least. The webhooks
    # take no token: each delivery's signature is checked against the provider's secret.
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(events.router, dependencies=[Depends(require("ingest"))])
    app.include_router(snapshot.router, dependencies=[Depends(require("admin"))])
    for router in (
        incidents.router,
        commits.router,
        deployments.router,
        metrics.router,
        policy.router,
        ledger_routes.router,
        sql.router,
    ):
        app.include_router(router, dependencies=[Depends(require("read"))])
    app.add_middleware(BodyLimit, max_bytes=state.limits.max_body_bytes)
    if state.limits.cors_origins:  # off unless PROVLEDGER_CORS_ORIGINS lists origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(state.limits.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    # Outermost: a foreign Host or Origin is refused before anything reads the request.
    app.add_middleware(
        LocalOnly,
        open_to_all=lambda: not state.auth_required(),
        bind_host=getattr(state, "bind_host", "127.0.0.1"),
        origins=state.limits.cors_origins,
    )
    return app
