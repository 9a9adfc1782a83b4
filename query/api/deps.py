"""FastAPI dependencies: the ledger, settings and producer live on ``app.state``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import duckdb
from fastapi import Depends, Request

from ledger.settings import Settings
from query.api.state import AppState


def get_state(request: Request) -> AppState:
    return request.app.state.provledger


def get_cursor(
    state: Annotated[AppState, Depends(get_state)],
) -> Iterator[duckdb.DuckDBPyConnection]:
    cursor = state.ledger.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def get_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    return state.settings


State = Annotated[AppState, Depends(get_state)]
Cursor = Annotated[duckdb.DuckDBPyConnection, Depends(get_cursor)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
