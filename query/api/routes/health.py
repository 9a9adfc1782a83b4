from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from query.api.deps import State

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    events: int
    dead_letters: int
    lag: int
    lag_by_partition: dict[str, int]
    consumer_running: bool
    consumer_error: str | None = None


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
