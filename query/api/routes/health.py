"""``GET /healthz``: what the ledger holds and how far behind Kafka it is (CONTRACT §4).

``ok`` only while the consumer makes progress: behind Kafka with nothing committed for
PROVLEDGER_STALL_S seconds, a consumer that stopped, or a ledger that refused its topic or
group is ``degraded``, answered with HTTP 503 (load balancers and probes act on the code)
and the reason.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from provenance_ledger.ledger.health import problem
from provenance_ledger.query.api.deps import State

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(
        description="`ok`, or `degraded` (HTTP 503) when the consumer is not making progress"
    )
    events: int = Field(description="events stored in the ledger (dead letters not included)")
    dead_letters: int = Field(description="records refused, with their reason")
    lag: int = Field(description="records in Kafka not yet in the ledger, all partitions")
    lag_by_partition: dict[str, int] = Field(
        description="the same per partition this consumer owns (refreshed every second)"
    )
    reason: str | None = Field(default=None, description="why the status is `degraded`")
    consumer_running: bool
    consumer_error: str | None = Field(
        default=None, description="the consumer's last error (e.g. no broker), even if it recovered"
    )
    consumer_recreated: int = Field(
        default=0, description="times a stuck consumer was closed and made again"
    )


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "degraded: see `reason`"}},
)
def healthz(state: State, response: Response) -> Health:
    events, dead = state.ledger.counts()
    consumer = state.consumer_status()
    reason = problem(consumer, time.monotonic(), state.settings.stall_after_s)
    if reason is not None:
        response.status_code = 503
    return Health(
        status="ok" if reason is None else "degraded",
        events=events,
        dead_letters=dead,
        lag=consumer.total_lag,
        lag_by_partition={str(p): lag for p, lag in sorted(consumer.lag.items())},
        reason=reason,
        consumer_running=consumer.running,
        consumer_error=consumer.last_error,
        consumer_recreated=consumer.recreated,
    )
