"""``GET /v1/deployments``: deployments in time order, with the changes they shipped."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from provenance_ledger.query.api.deps import Cursor
from provenance_ledger.query.api.models import Change
from provenance_ledger.query.readmodels.provenance import list_deployments

router = APIRouter(tags=["deployments"])


class Deployment(BaseModel):
    event_id: str
    source: str
    service: str
    environment: str
    region: str | None
    version: str
    repo: str | None
    commit: str | None
    artifact: str | None
    deployer: str | None
    deployer_kind: str | None
    fleet_percent: float | None
    deployed_at: datetime
    changes: list[Change]
    rolled_back_by: list[str]


class Deployments(BaseModel):
    deployments: list[Deployment]


@router.get(
    "/v1/deployments",
    response_model=Deployments,
    description="The latest `limit` deployments matching the filters, in time order (oldest "
    "first), each with the changes it shipped and the rollbacks that reverted it.",
)
def get_deployments(
    cur: Cursor,
    service: Annotated[str | None, Query(max_length=200)] = None,
    environment: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[datetime | None, Query(description="inclusive, RFC 3339")] = None,
    until: Annotated[datetime | None, Query(description="exclusive, RFC 3339")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    rows = list_deployments(cur, service, environment, since, until, limit)
    return {"deployments": rows}
