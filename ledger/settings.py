"""Settings read once at the edge (CLI, server start) and passed inward frozen."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from provenance_ledger.schemas.limits import DEFAULT_MAX_EVENT_BYTES

DEFAULT_TOPIC = "provenance.events"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
# A size as DuckDB's memory_limit takes it: 512MB, 1.5GB, 2GiB.
MEMORY_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


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
    group_id: str | None = None
    """The consumer group; None derives one from the ledger file's id (ledger/identity.py)."""
    topic_partitions: int = 1
    """Partitions of the topic when the ledger creates it; one keeps a total order."""
    topic_replication: int | None = None
    """Replicas of the topic when the ledger creates it; None takes the cluster's default."""
    stall_after_s: float = 30.0
    """Behind Kafka with nothing committed this long: /healthz degraded, consumer recreated."""
    batch_max_records: int = 5000
    batch_max_latency_s: float = 1.0
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    duckdb_memory_limit: str | None = None
    """DuckDB's memory_limit for the ledger; None keeps DuckDB's default (80% of RAM)."""

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
            group_id=env.get("PROVLEDGER_GROUP") or base.group_id,
            topic_partitions=_positive(
                env, "PROVLEDGER_TOPIC_PARTITIONS", base.topic_partitions, int
            ),
            topic_replication=_positive(env, "PROVLEDGER_TOPIC_REPLICATION", None, int),
            stall_after_s=_positive(env, "PROVLEDGER_STALL_S", base.stall_after_s, float),
            batch_max_records=_number(env, "PROVLEDGER_BATCH_MAX", base.batch_max_records, int),
            batch_max_latency_s=_number(
                env, "PROVLEDGER_BATCH_LATENCY_S", base.batch_max_latency_s, float
            ),
            max_event_bytes=_number(env, "PROVLEDGER_MAX_EVENT_BYTES", base.max_event_bytes, int),
            duckdb_memory_limit=_memory_size(env, "PROVLEDGER_DUCKDB_MEMORY_LIMIT"),
        )


Number = TypeVar("Number", int, float)


def _number(
    env: Mapping[str, str], name: str, default: Number, kind: Callable[[str], Number]
) -> Number:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None


def _positive(
    env: Mapping[str, str], name: str, default: Number | None, kind: Callable[[str], Number]
) -> Number | None:
    value = _number(env, name, default, kind)
    if value is not None and value <= 0:
        raise ValueError(f"{name} must be greater than 0, not {env[name]!r}")
    return value


def _memory_size(env: Mapping[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not MEMORY_SIZE.match(raw):
        raise ValueError(f"{name} must be a size such as 512MB or 2GB, not {raw!r}")
    return raw
