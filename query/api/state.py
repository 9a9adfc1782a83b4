"""What the API needs from the process that hosts it."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from provenance_ledger.ledger.health import ConsumerStatus
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.api.auth import TokenStore
from provenance_ledger.query.sql.readonly import SqlLimits, SqlServiceLimits
from provenance_ledger.schemas.codec import DecodedEvent
from provenance_ledger.schemas.errors import UsageProblem


class LimitsError(ValueError, UsageProblem):
    """A PROVLEDGER_* limit setting is not a valid number."""


def _number(env: Mapping[str, str], name: str, default: float, kind: type = int) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise LimitsError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if value <= 0:
        raise LimitsError(f"{name}={raw!r} must be greater than 0")
    return value


@dataclass(frozen=True)
class Limits:
    """What one request may cost. Each is a named, documented setting."""

    sql: SqlLimits = field(default_factory=SqlLimits)
    sql_service: SqlServiceLimits = field(default_factory=SqlServiceLimits)
    max_body_bytes: int = 10 * 1024 * 1024  # PROVLEDGER_MAX_BODY_BYTES
    max_batch_events: int = 1000  # PROVLEDGER_MAX_BATCH_EVENTS
    cors_origins: tuple[str, ...] = ()  # PROVLEDGER_CORS_ORIGINS; empty: CORS off

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if environ is None else environ
        base, sql, service = cls(), SqlLimits(), SqlServiceLimits()
        return cls(
            sql=SqlLimits(
                timeout_s=_number(env, "PROVLEDGER_SQL_TIMEOUT_S", sql.timeout_s, float),
                max_rows=int(_number(env, "PROVLEDGER_SQL_MAX_ROWS", sql.max_rows)),
                max_bytes=int(_number(env, "PROVLEDGER_SQL_MAX_BYTES", sql.max_bytes)),
            ),
            sql_service=SqlServiceLimits(
                workers=int(_number(env, "PROVLEDGER_SQL_WORKERS", service.workers)),
                memory_mb=int(_number(env, "PROVLEDGER_SQL_MEMORY_MB", service.memory_mb)),
                queue_wait_s=_number(env, "PROVLEDGER_SQL_QUEUE_S", service.queue_wait_s, float),
                freshness_wait_s=_number(
                    env, "PROVLEDGER_SQL_FRESHNESS_S", service.freshness_wait_s, float
                ),
            ),
            max_body_bytes=int(_number(env, "PROVLEDGER_MAX_BODY_BYTES", base.max_body_bytes)),
            max_batch_events=int(
                _number(env, "PROVLEDGER_MAX_BATCH_EVENTS", base.max_batch_events)
            ),
            cors_origins=tuple(
                origin.strip()
                for origin in env.get("PROVLEDGER_CORS_ORIGINS", "").split(",")
                if origin.strip()
            ),
        )


@dataclass(frozen=True)
class AppState:
    ledger: Ledger
    settings: Settings
    consumer_status: Callable[[], ConsumerStatus]
    publish: Callable[[list[DecodedEvent]], None]
    limits: Limits = field(default_factory=Limits)
    tokens: TokenStore | None = None
    # Listening beyond loopback: with no token configured, refuse every request.
    auth_always: bool = False
    # The address served: a Host header naming it is ours (query/api/middleware.LocalOnly).
    bind_host: str = "127.0.0.1"

    def auth_required(self) -> bool:
        return self.auth_always or (self.tokens is not None and self.tokens.configured())
