"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from query.api import errors
from query.api.routes import events, health, incidents
from query.api.state import AppState


def create_app(state: AppState) -> FastAPI:
    app = FastAPI(
        title="provledger",
        summary="Which changes shipped before this outage, who wrote them with which AI tool, "
        "and who signed them off.",
        version="0.1.0",
    )
    app.state.provledger = state
    errors.install(app)
    for router in (health.router, events.router, incidents.router):
        app.include_router(router)
    return app
