from __future__ import annotations

import email.message
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from provenance_ledger.ledger import origin
from provenance_ledger.query.api.deps import State
from provenance_ledger.query.api.errors import ApiError
from provenance_ledger.query.api.state import AppState
from provenance_ledger.schemas import jsonsafe
from provenance_ledger.schemas.codec import DecodedEvent, DecodeError, validate_event

router = APIRouter(tags=["events"])

# The body is parsed here, not by FastAPI: Python's json recurses per nesting level and takes
# NaN, Infinity and lone surrogates. Parsed with the ledger's own checks, every event the API
# accepts is one the ledger can store, and a hostile body is a 422 with the reason.
_EVENT = {"type": "object", "description": "a CloudEvent (CONTRACT §1)"}
_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"oneOf": [_EVENT, {"type": "array", "items": _EVENT, "minItems": 1}]}
        }
    },
}


class Accepted(BaseModel):
    accepted: list[str]


@router.post(
    "/v1/events",
    status_code=202,
    response_model=Accepted,
    openapi_extra={"requestBody": _BODY},
)
async def post_events(state: State, request: Request) -> Accepted:
    """Validate one CloudEvent or an array of them, then produce all to Kafka (or none)."""
    if not _is_json(request.headers.get("content-type")):
        raise ApiError(415, "send the events as JSON (content-type application/json)")
    body = await request.body()
    # Set by the auth dependency; absent while no token is configured: nobody vouches then.
    token_name = getattr(request.state, "token_name", None)
    vouched = origin.api_token(token_name) if token_name is not None else None
    return await run_in_threadpool(_accept, state, body, vouched)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _accept(state: AppState, body: bytes, vouched: str | None) -> Accepted:
    try:
        # One level more than an event may have: the body may be an array of events.
        parsed = jsonsafe.loads(body, "the request body", jsonsafe.MAX_DEPTH + 1)
    except jsonsafe.JsonProblem as exc:
        raise ApiError(422, exc.detail, [{"reason": exc.code, "detail": exc.detail}]) from None
    items = parsed if isinstance(parsed, list) else [parsed]
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
        state.publish(decoded, vouched)
    except Exception as exc:
        raise ApiError(503, f"could not produce to Kafka: {exc}") from exc
    return Accepted(accepted=[item.event.id for item in decoded])
