"""``GET /v1/metrics/change-failure-rate``: failed / deployments, by AI tool or by review."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from provenance_ledger.query.api.deps import Cursor
from provenance_ledger.query.api.errors import ApiError
from provenance_ledger.query.readmodels.metrics import GroupBy, change_failure_rate

router = APIRouter(tags=["metrics"])


class Group(BaseModel):
    group: str
    deployments: int
    failed: int
    rate: float


class FailureRate(BaseModel):
    by: GroupBy
    since: datetime | None
    until: datetime | None
    groups: list[Group]


@router.get("/v1/metrics/change-failure-rate", response_model=FailureRate)
def get_change_failure_rate(
    cur: Cursor,
    by: GroupBy = "ai_tool",
    since: Annotated[datetime | None, Query(description="inclusive, RFC 3339")] = None,
    until: Annotated[datetime | None, Query(description="exclusive, RFC 3339")] = None,
) -> dict[str, Any]:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ApiError(400, f"{name} must carry a UTC offset, e.g. 2026-01-01T00:00:00Z")
    groups = change_failure_rate(cur, by, since, until)
    return {"by": by, "since": since, "until": until, "groups": groups}
