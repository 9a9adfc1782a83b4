"""Response models shared by the incident, commit and deployment routes (for /openapi.json)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


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
