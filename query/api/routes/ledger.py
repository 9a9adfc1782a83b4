"""``POST /v1/ledger/verify``: the Merkle log check for a ledger a running server holds open
(DuckDB lets no other process read the file then). Admin scope: it reads every event."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from provenance_ledger.ledger.checkpoint import CheckpointError, parse
from provenance_ledger.ledger.verify import verify
from provenance_ledger.query.api.deps import Cursor, SettingsDep, require
from provenance_ledger.query.api.errors import ApiError

router = APIRouter(tags=["ledger"])


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: str | None = Field(
        default=None,
        max_length=10_000,
        description="A C2SP checkpoint kept earlier (from `provledger verify --checkpoint`): "
        "the answer then carries an RFC 6962 consistency proof from it to the current head.",
    )


@router.post("/v1/ledger/verify", dependencies=[Depends(require("admin"))])
def verify_ledger(body: VerifyRequest, cursor: Cursor, settings: SettingsDep) -> dict[str, Any]:
    """Recompute the RFC 6962 tree over the stored events: `ok`, the size, root and C2SP
    checkpoint body, and the first changed, inserted or deleted row if any."""
    try:
        since = parse(body.since) if body.since is not None else None
    except CheckpointError as exc:
        raise ApiError(422, str(exc)) from exc
    return verify(cursor, settings.topic, since).to_json()
