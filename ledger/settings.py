"""Settings read once at the edge (CLI, server start) and passed inward frozen."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from schemas.codec import DEFAULT_MAX_EVENT_BYTES

DEFAULT_TOPIC = "provenance.events"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


def default_db_path() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "provledger" / "ledger.duckdb"


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = DEFAULT_BOOTSTRAP
    bootstrap_from_env: bool = False
    topic: str = DEFAULT_TOPIC
    db_path: Path = field(default_factory=default_db_path)
    api_url: str = "http://127.0.0.1:8000"
    token: str | None = None
    group_id: str = "provledger-ledger"
    batch_max_records: int = 5000
    batch_max_latency_s: float = 1.0
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        base = cls()
        return replace(
            base,
            kafka_bootstrap=env.get("PROVLEDGER_KAFKA_BOOTSTRAP", base.kafka_bootstrap),
            bootstrap_from_env="PROVLEDGER_KAFKA_BOOTSTRAP" in env,
            topic=env.get("PROVLEDGER_TOPIC", base.topic),
            db_path=Path(env["PROVLEDGER_DB"]) if "PROVLEDGER_DB" in env else base.db_path,
            api_url=env.get("PROVLEDGER_API", base.api_url).rstrip("/"),
            token=env.get("PROVLEDGER_TOKEN") or None,
            group_id=env.get("PROVLEDGER_GROUP", base.group_id),
            batch_max_records=int(env.get("PROVLEDGER_BATCH_MAX", base.batch_max_records)),
            batch_max_latency_s=float(
                env.get("PROVLEDGER_BATCH_LATENCY_S", base.batch_max_latency_s)
            ),
            max_event_bytes=int(env.get("PROVLEDGER_MAX_EVENT_BYTES", base.max_event_bytes)),
        )
