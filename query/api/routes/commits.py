"""``GET /v1/commits/{sha}``: the provenance of one commit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from provenance_ledger.query.api.deps import Cursor
from provenance_ledger.query.api.errors import ApiError
from provenance_ledger.query.api.models import ORIGIN_DESCRIPTION, AiAssist, Review
from provenance_ledger.query.readmodels.provenance import commit_provenance

router = APIRouter(tags=["commits"])


class Authored(BaseModel):
    repo: str
    commit: str
    author: str
    author_name: str | None
    author_level: str | None
    files: list[str] | None
    lines_added: int | None
    lines_deleted: int | None
    message: str | None
    authored_at: datetime
    event_id: str
    origin: str | None = Field(None, description=ORIGIN_DESCRIPTION)


class RepoAiAssist(AiAssist):
    repo: str


class CommitReview(Review):
    repo: str
    event_id: str


class Merge(BaseModel):
    repo: str
    merge_commit: str
    merged_commit: str
    change: str | None
    target_branch: str | None
    merged_by: str | None
    merged_at: datetime
    event_id: str
    origin: str | None = Field(None, description=ORIGIN_DESCRIPTION)


class Artifact(BaseModel):
    artifact: str
    repo: str | None
    pipeline_run: str | None
    built_at: datetime
    event_id: str
    origin: str | None = Field(None, description=ORIGIN_DESCRIPTION)


class ShippedBy(BaseModel):
    event_id: str
    service: str
    environment: str
    region: str | None
    version: str
    deployed_at: datetime
    via: str
    origin: str | None = Field(None, description=ORIGIN_DESCRIPTION)


class Reverted(BaseModel):
    rollback_event_id: str
    deployment_event_id: str
    service: str
    environment: str
    from_version: str | None
    to_version: str
    reason: str | None
    rolled_back_at: datetime


class Attributed(BaseModel):
    incident: str
    verdict: str
    by: str
    target_kind: str
    deployment_event_id: str | None
    attributed_at: datetime
    event_id: str


class Provenance(BaseModel):
    commit: str
    repo: str | None
    authored: list[Authored]
    ai: list[RepoAiAssist]
    reviews: list[CommitReview]
    senior_approved: bool
    merges: list[Merge]
    artifacts: list[Artifact]
    deployments: list[ShippedBy]
    rollbacks: list[Reverted]
    incidents: list[Attributed]


@router.get("/v1/commits/{sha}", response_model=Provenance)
def get_commit(
    sha: Annotated[str, Path(pattern=r"^[0-9a-fA-F]{40}$")],
    cur: Cursor,
    repo: Annotated[str | None, Query(max_length=300, description="org/name")] = None,
) -> dict[str, Any]:
    found = commit_provenance(cur, sha, repo)
    if found is None:
        raise ApiError(404, f"unknown commit {sha}: no event in the ledger names it")
    return found
