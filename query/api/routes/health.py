"""``GET /healthz``: what the ledger holds and how far behind Kafka it is (CONTRACT §4)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from query.api.deps import State

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(description="`ok`, or `degraded` when the consumer is not running")
    events: int = Field(description="events stored in the ledger (dead letters not included)")
    dead_letters: int = Field(description="records refused, with their reason")
    lag: int = Field(description="records in Kafka not yet in the ledger, all partitions")
    lag_by_partition: dict[str, int] = Field(
        description="the same per partition this consumer owns (refreshed every second)"
    )
    consumer_running: bool
    consumer_error: str | None = Field(
        default=None, description="why the consumer stopped or is waiting (e.g. no broker)"
    )


@router.get("/healthz", response_model=Health)
def healthz(state: State) -> Health:
    events, dead = state.ledger.counts()
    consumer = state.consumer_status()
    return Health(
        status="ok" if consumer.running else "degraded",
        events=events,
        dead_letters=dead,
        lag=consumer.total_lag,
        lag_by_partition={str(p): lag for p, lag in sorted(consumer.lag.items())},
        consumer_running=consumer.running,
        consumer_error=consumer.last_error,
    )
