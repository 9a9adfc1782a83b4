"""Response models shared by the incident, commit and deployment routes (for /openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ORIGIN_DESCRIPTION = (
    "how the fact's event reached the ledger and who vouched for it: webhook:<provider>, "
    "api-token:<token name> or kafka (nobody)"
)


class AiAssist(BaseModel):
    tool: str
    model: str | None = None
    mode: str | None = None
    lines: int | None = None
    session: str | None = None


class Review(BaseModel):
    reviewer: str
    reviewer_name: str | None = None
    reviewer_level: str | None = Field(None, description="level at review time; null if unknown")
    decision: str
    change: str | None = None
    reviewed_at: datetime
    origin: str | None = Field(None, description=ORIGIN_DESCRIPTION)


class Change(BaseModel):
    repo: str | None
    commit: str
    author: str | None = Field(None, description="author id; null if never authored here")
    author_name: str | None = None
    author_level: str | None = Field(None, description="level at authoring time")
    message: str | None = None
    lines_added: int | None = None
    lines_deleted: int | None = None
    files: list[str] = []
    ai: list[AiAssist]
    reviews: list[Review]
    senior_approved: bool = Field(
        description="approved, as this revision, by someone else senior/principal at review time"
    )


class ConfigActor(BaseModel):
    id: str | None = None
    name: str | None = None
    kind: str | None = Field(None, description="human | automation | ai_agent")


class ConfigSummary(BaseModel):
    """A ``config_change`` suspect's change, as its ``config.changed`` event says it."""

    # "from" is a Python keyword: the field is from_, named "from" in and out.
    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )
    kind: str = Field(description="feature_flag | config | infrastructure | schema | secret | …")
    key: str | None = Field(None, description="flag key, config path or resource address")
    action: str | None = Field(None, description="the emitter's action, e.g. Terraform delete")
    resource: str | None = None
    from_: Any = Field(None, alias="from", description="the value before (never a secret's)")
    to: Any = Field(None, description="the value after (never a secret's)")
    actor: ConfigActor | None = None
    ai: list[AiAssist] = Field(description="the AI tools that made the change directly")
    change_ref: str | None = None
    repo: str | None = Field(None, description="applied from this repo's commit, if named")
    commit: str | None = None
