from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from query.api.deps import Cursor
from query.api.errors import ApiError
from query.api.models import Change
from query.durations import parse_duration
from query.incidents import find_incident
from query.suspects import rank_suspects

router = APIRouter(tags=["incidents"])

IncidentId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[\w.:\-/]+$")]


class Incident(BaseModel):
    incident: str
    title: str | None
    severity: str
    services: list[str]
    environment: str | None
    impact_started_at: datetime
    opened_at: datetime
    resolved_at: datetime | None
    event_id: str
    region: str | None = Field(None, description="an emitter's extra `region` field, if sent")


class Reason(BaseModel):
    code: str = Field(description="machine-readable signal, see docs/ranking.md")
    detail: str


class ActionSummary(BaseModel):
    action: str | None
    tool: str | None
    session: str | None
    destructive: bool
    authorized_by: str | None
    authorized_level: str | None


class Suspect(BaseModel):
    rank: int
    score: float = Field(ge=0, le=1)
    kind: Literal["deployment", "agent_action"]
    event_id: str = Field(description="the id of the deployment or agent.action event")
    service: str | None
    environment: str | None
    time: datetime
    changes: list[Change]
    reasons: list[Reason]
    region: str | None = None
    fleet_percent: float | None = None
    action: ActionSummary | None = None


class Suspects(BaseModel):
    incident: Incident
    suspects: list[Suspect]


def _incident_or_404(cur: Cursor, incident: str) -> dict[str, Any]:
    found = find_incident(cur, incident)
    if found is None:
        raise ApiError(404, f"unknown incident {incident!r}")
    return found


@router.get("/v1/incidents/{incident}", response_model=Incident)
def get_incident(incident: IncidentId, cur: Cursor) -> dict[str, Any]:
    return _incident_or_404(cur, incident)


@router.get(
    "/v1/incidents/{incident}/suspects",
    response_model=Suspects,
    description="The deployments and agent actions most likely to have caused the incident, "
    "best first, each with what it shipped and why it is suspected (`reasons`). How each "
    "signal moves the score: docs/ranking.md.",
)
def get_suspects(
    incident: IncidentId,
    cur: Cursor,
    lookback: Annotated[str, Query(max_length=20, description="e.g. 30m, 24h, 7d")] = "24h",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    try:
        window = parse_duration(lookback)
    except ValueError as exc:
        raise ApiError(400, f"lookback: {exc}") from exc
    found = _incident_or_404(cur, incident)
    return {"incident": found, "suspects": rank_suspects(cur, found, window, limit)}
