"""``POST /v1/sql``: read-only SQL over the ledger (query/sql/readonly.py for the guard,
query/sql/pool.py for the worker processes and the copy of the ledger they read)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from provenance_ledger.query.api.deps import SqlServiceDep
from provenance_ledger.query.api.errors import ApiError
from provenance_ledger.query.sql import pool as sql_pool
from provenance_ledger.query.sql import readonly as sql

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


class AsOf(BaseModel):
    events: int = Field(description="events in the copy of the ledger the query read")
    dead_letters: int
    taken_at: str = Field(description="when that copy was taken (ISO 8601, UTC)")


class SqlAnswer(BaseModel):
    columns: list[str]
    rows: list[list[Any]] = Field(description="times in ISO 8601 (UTC), blobs in hex")
    truncated: bool = Field(
        description="true when the answer was cut at the row cap (PROVLEDGER_SQL_MAX_ROWS) "
        "or the size cap (PROVLEDGER_SQL_MAX_BYTES)"
    )
    as_of: AsOf | None = Field(
        None,
        description="the copy of the ledger the query read: SQL runs on a copy refreshed "
        "when asked, waiting up to PROVLEDGER_SQL_FRESHNESS_S for the latest writes",
    )


@router.post(
    "/v1/sql",
    response_model=SqlAnswer,
    responses={429: {"description": "every SQL worker is busy (PROVLEDGER_SQL_WORKERS)"}},
)
def post_sql(request: SqlRequest, service: SqlServiceDep) -> Any:
    """Run read-only SQL while ingestion goes on; refusals and timeouts answer 400."""
    try:
        answer = service.run(request.sql, request.params)
    except (sql.SqlRefused, sql.SqlTimeout) as exc:
        raise ApiError(400, str(exc)) from exc
    except sql_pool.SqlBusy as exc:
        raise ApiError(429, str(exc)) from exc
    except sql_pool.SqlUnavailable as exc:
        raise ApiError(503, str(exc)) from exc
    # The worker wrote the rows as JSON text (without recursion, however deep): not parsed
    # again here, nor re-validated.
    head = json.dumps({"columns": answer.columns})[:-1]
    tail = json.dumps({"truncated": answer.truncated, "as_of": answer.as_of})[1:]
    body = f'{head}, "rows": {answer.rows_json}, {tail}'
    return Response(body.encode(), media_type="application/json")
