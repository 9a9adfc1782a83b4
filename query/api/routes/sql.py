"""``POST /v1/sql``: read-only SQL over the live ledger (see query/sql.py for the guard)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from query import sql
from query.api.deps import Cursor, State
from query.api.errors import ApiError

router = APIRouter(tags=["sql"])


class SqlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(
        min_length=1,
        max_length=100_000,
        description="SELECT / WITH / EXPLAIN / DESCRIBE / SHOW / SUMMARIZE; several statements "
        "separated by `;` run in order and the last one answers.",
        examples=["SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY n DESC"],
    )
    params: dict[str, JsonValue] = Field(
        default_factory=dict,
        max_length=100,
        description="Values for named parameters: `$service` in the SQL takes params.service.",
        examples=[{"service": "checkout"}],
    )


class SqlAnswer(BaseModel):
    columns: list[str]
    rows: list[list[Any]] = Field(description="times in ISO 8601 (UTC), blobs in hex")
    truncated: bool = Field(
        description="true when the answer was cut at the row cap (PROVLEDGER_SQL_MAX_ROWS) "
        "or the size cap (PROVLEDGER_SQL_MAX_BYTES)"
    )


@router.post("/v1/sql", response_model=SqlAnswer)
def post_sql(request: SqlRequest, state: State, cur: Cursor) -> Any:
    """Run read-only SQL while ingestion goes on; refusals and timeouts answer 400."""
    try:
        result = sql.run(cur, request.sql, request.params, state.limits.sql)
    except (sql.SqlRefused, sql.SqlTimeout) as exc:
        raise ApiError(400, str(exc)) from exc
    # Values are plain JSON already (query.sql.jsonable): skip re-validating 10k rows.
    return JSONResponse(
        {"columns": result.columns, "rows": result.rows, "truncated": result.truncated}
    )
