from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, TypeAdapter
from starlette.concurrency import run_in_threadpool

from provenance_ledger.query.api.deps import Cursor, State
from provenance_ledger.query.api.errors import ApiError
from provenance_ledger.query.api.models import Change, ConfigSummary
from provenance_ledger.query.api.state import AppState
from provenance_ledger.query.durations import parse_duration
from provenance_ledger.query.policy.definitions import DEFAULT_LOOKBACK
from provenance_ledger.query.readmodels.incidents import find_incident
from provenance_ledger.query.suspects.finder import suspects_for

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
    kind: Literal["deployment", "agent_action", "config_change"]
    event_id: str = Field(
        description="the id of the deployment, agent.action or config.changed event"
    )
    service: str | None
    environment: str | None
    time: datetime
    changes: list[Change]
    reasons: list[Reason]
    region: str | None = None
    fleet_percent: float | None = None
    action: ActionSummary | None = None
    config: ConfigSummary | None = None
    path: list[str] | None = Field(
        None,
        description="for a change on a dependency: the chain of calls from the incident's "
        "service to it, as registered at impact start (e.g. [checkout, payments])",
    )


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


_SUSPECTS = TypeAdapter(Suspects)


@router.get(
    "/v1/incidents/{incident}/suspects",
    response_model=Suspects,
    description="The deployments, agent actions and configuration changes (on the incident's "
    "services and their registered dependencies) most likely to have caused the incident, "
    "best first, each with what it shipped and why it is suspected (`reasons`). How each "
    "signal moves the score: docs/ranking.md.",
)
async def get_suspects(
    incident: IncidentId,
    state: State,
    lookback: Annotated[
        str, Query(max_length=20, description="e.g. 30m, 24h, 7d")
    ] = DEFAULT_LOOKBACK,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    try:
        window = parse_duration(lookback)
    except ValueError as exc:
        raise ApiError(400, f"lookback: {exc}") from exc
    # The hot path of an incident: one worker-thread hop for the query, the response-model
    # check and the JSON encoding together (a sync route with sync dependencies costs a hop
    # each). response_model above still documents the body; _SUSPECTS enforces it.
    body = await run_in_threadpool(_suspects_json, state, incident, window, limit)
    return Response(body, media_type="application/json")


def _suspects_json(state: AppState, incident: str, window: timedelta, limit: int) -> bytes:
    cur = state.ledger.cursor()
    try:
        answer = suspects_for(cur, incident, window, limit, state.ledger.read_position())
    finally:
        cur.close()
    if answer is None:
        raise ApiError(404, f"unknown incident {incident!r}")
    found, suspects = answer
    return _SUSPECTS.dump_json(_SUSPECTS.validate_python({"incident": found, "suspects": suspects}))
