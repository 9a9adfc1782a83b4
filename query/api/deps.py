"""FastAPI dependencies: the ledger, settings and producer live on ``app.state``.

:func:`require` is the auth dependency; ``create_app`` applies it per router.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated

import duckdb
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.query.api.auth import SCOPES, TokensUnavailable, grants
from provenance_ledger.query.api.errors import ApiError
from provenance_ledger.query.api.state import AppState
from provenance_ledger.query.sql.pool import SqlService


# These dependencies are async because they never block (a cursor is cheap, the token check is
# a stat at most): a sync dependency costs each request a hop to a worker thread and back.
async def get_state(request: Request) -> AppState:
    return request.app.state.provledger


async def get_cursor(
    state: Annotated[AppState, Depends(get_state)],
) -> AsyncIterator[duckdb.DuckDBPyConnection]:
    cursor = state.ledger.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


async def get_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    return state.settings


_SQL_START = threading.Lock()


async def get_sql_service(request: Request) -> SqlService:
    """The SQL workers and the ledger copies they read, made on the first query (a server
    whose SQL nobody uses never copies its ledger); closed with the app (create_app)."""
    holder = request.app.state
    with _SQL_START:
        if getattr(holder, "sql_service", None) is None:
            state: AppState = holder.provledger
            holder.sql_service = SqlService(
                state.ledger, state.settings, state.limits.sql, state.limits.sql_service
            )
    return holder.sql_service


State = Annotated[AppState, Depends(get_state)]
Cursor = Annotated[duckdb.DuckDBPyConnection, Depends(get_cursor)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SqlServiceDep = Annotated[SqlService, Depends(get_sql_service)]


bearer = HTTPBearer(
    auto_error=False,
    description="A token from `provledger token create --scope read|ingest|admin`; "
    "`admin` implies the other scopes. Not needed while no token is configured "
    "(the server then listens on loopback only).",
)
# What a token from `provledger token create` can look like (with room for other issuers).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9._~+/=-]{16,512}")


def _unauthorized(message: str) -> ApiError:
    error = ApiError(401, message)
    error.headers = {"WWW-Authenticate": "Bearer"}
    return error


def require(scope: str) -> Callable[..., Coroutine[None, None, None]]:
    """A dependency that lets a request through only with a token granting ``scope``."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def check_token(
        request: Request,
        state: State,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if not state.auth_required():
            return
        if "authorization" not in request.headers:
            raise _unauthorized(f"this endpoint needs a bearer token with the {scope!r} scope")
        token = credentials.credentials if credentials is not None else ""
        if not TOKEN_SHAPE.fullmatch(token):
            raise _unauthorized("malformed Authorization header: expected 'Bearer <token>'")
        try:
            entry = state.tokens.entry_of(token) if state.tokens is not None else None
        except TokensUnavailable as exc:  # fail closed, and say why
            raise ApiError(503, str(exc)) from exc
        if entry is None:
            raise _unauthorized("unknown or revoked token")
        if not grants(entry.scope, scope):
            raise ApiError(403, f"this token has the {entry.scope!r} scope; this needs {scope!r}")
        # What the API vouches for when it publishes this request's events (ledger/origin.py).
        request.state.token_name = entry.name

    check_token.__name__ = f"require_{scope}"
    return check_token
