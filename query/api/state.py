"""What the API needs from the process that hosts it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from provenance_ledger.ledger.health import ConsumerStatus
from provenance_ledger.ledger.settings import ApiSettings, Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.api.auth import TokenStore
from provenance_ledger.query.sql.readonly import SqlLimits, SqlServiceLimits
from provenance_ledger.schemas.codec import DecodedEvent


class Publish(Protocol):
    def __call__(self, events: list[DecodedEvent], origin: str | None = None) -> None:
        """Produce ``events`` to Kafka, signed with the origin the API vouches for
        (ledger/origin.py); None vouches for nothing, so the ledger stores them as kafka."""


@dataclass(frozen=True)
class Limits:
    """What one request may cost: the settings' (ledger/settings.py), as the API uses them."""

    sql: SqlLimits = field(default_factory=SqlLimits)
    sql_service: SqlServiceLimits = field(default_factory=SqlServiceLimits)
    max_body_bytes: int = ApiSettings.max_body_bytes
    max_batch_events: int = ApiSettings.max_batch_events
    cors_origins: tuple[str, ...] = ()  # empty: CORS off

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        sql = settings.sql
        return cls(
            sql=SqlLimits(sql.timeout_s, sql.max_rows, sql.max_bytes),
            sql_service=SqlServiceLimits(
                sql.workers, sql.memory_mb, sql.queue_wait_s, sql.freshness_wait_s
            ),
            max_body_bytes=settings.api.max_body_bytes,
            max_batch_events=settings.api.max_batch_events,
            cors_origins=settings.api.cors_origins,
        )


@dataclass(frozen=True)
class AppState:
    ledger: Ledger
    settings: Settings
    consumer_status: Callable[[], ConsumerStatus]
    publish: Publish
    limits: Limits = field(default_factory=Limits)
    tokens: TokenStore | None = None
    # Listening beyond loopback: with no token configured, refuse every request.
    auth_always: bool = False
    # The address served: a Host header naming it is ours (query/api/middleware.LocalOnly).
    bind_host: str = "127.0.0.1"

    def auth_required(self) -> bool:
        return self.auth_always or (self.tokens is not None and self.tokens.configured())
