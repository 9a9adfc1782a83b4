from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from pydantic import BaseModel

from query.api.deps import State
from query.api.errors import ApiError
from schemas.codec import DecodedEvent, DecodeError, validate_event

router = APIRouter(tags=["events"])


class Accepted(BaseModel):
    accepted: list[str]


@router.post("/v1/events", status_code=202, response_model=Accepted)
def post_events(state: State, body: Any = Body(...)) -> Accepted:
    """Validate one CloudEvent or an array of them, then produce all to Kafka (or none)."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise ApiError(422, "no events in the request")
    cap = state.limits.max_batch_events
    if len(items) > cap:
        raise ApiError(
            413, f"{len(items)} events in one request; at most {cap} (PROVLEDGER_MAX_BATCH_EVENTS)"
        )
    decoded: list[DecodedEvent] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        result = validate_event(item)
        if isinstance(result, DecodeError):
            problems.append({"index": index, "reason": result.code, "detail": result.detail})
        else:
            decoded.append(result)
    if problems:
        raise ApiError(422, f"{len(problems)} of {len(items)} events are invalid", problems)
    try:
        state.publish(decoded)
    except Exception as exc:
        raise ApiError(503, f"could not produce to Kafka: {exc}") from exc
    return Accepted(accepted=[item.event.id for item in decoded])
