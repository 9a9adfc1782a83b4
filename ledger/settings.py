"""Settings: one frozen tree, built once at the edge from the ``PROVLEDGER_*`` variables in
:data:`VARIABLES` and passed inward. The edge is the CLI's root group for every command but
``provledger hook``, which builds only its own section (:meth:`ProducerSettings.from_env`) so
that no other variable can fail the AI tool that runs it. Nothing else reads a
``PROVLEDGER_*`` variable (tests/unit/test_settings_documented.py checks, and that README.md
documents each).

A value of the wrong form raises :class:`SettingError`, naming the variable and the form
expected: a UsageProblem, so the CLI exits 2 with it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from provenance_ledger.ledger import units
from provenance_ledger.schemas.errors import UsageProblem
from provenance_ledger.schemas.limits import DEFAULT_MAX_EVENT_BYTES

if TYPE_CHECKING:
    from pydantic import SecretStr

DEFAULT_TOPIC = "provenance.events"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
# A size as DuckDB's memory_limit takes it: 512MB, 1.5GB, 2GiB.
MEMORY_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
HOOK_DELIVERIES = ("background", "spool")
WEBHOOK_PROVIDERS = ("github", "gitlab", "pagerduty", "incident-io", "alertmanager")


class SettingError(UsageProblem, ValueError):
    """A ``PROVLEDGER_*`` variable holds a value of the wrong form: a usage problem (exit 2).
    Also a ValueError, as the parsers' refusals it carries are."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


def data_home(env: Mapping[str, str]) -> Path:
    return Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def default_db_path(env: Mapping[str, str] = os.environ) -> Path:
    return data_home(env) / "provledger" / "ledger.duckdb"


def default_spool_dir(env: Mapping[str, str] = os.environ) -> Path:
    return data_home(env) / "provledger" / "spool"


def default_tokens_path(env: Mapping[str, str] = os.environ) -> Path:
    config_home = env.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config_home) / "provledger" / "tokens.json"


@dataclass(frozen=True)
class SqlSettings:
    """``POST /v1/sql``: the limits of one query and of the worker processes that run them."""

    timeout_s: float = 5.0
    max_rows: int = 10_000
    max_bytes: int = 32 * 1024 * 1024
    workers: int = 2
    memory_mb: int = 1024
    queue_wait_s: float = 5.0
    freshness_wait_s: float = 5.0


@dataclass(frozen=True)
class ApiSettings:
    """What ``serve`` needs beyond the ledger: tokens, request limits, the pages, the policy."""

    tokens_file: Path = field(default_factory=default_tokens_path)
    max_body_bytes: int = 10 * 1024 * 1024
    max_batch_events: int = 1000
    cors_origins: tuple[str, ...] = ()
    """Empty: CORS off."""
    forge_url: str = "https://github.com"
    policy_file: Path | None = None
    """None: the packaged query/policy/policy.yaml."""
    webhook_mapping: Path | None = None
    """The webhook mapping file (query/api/webhooks/mapping.py); None maps nothing."""
    signing_key_file: Path | None = None
    """The checkpoint signing key (``provledger keys create``); None: checkpoints unsigned."""


@dataclass(frozen=True)
class ProducerSettings:
    """What emit, flush, backfill and the hook need besides Kafka."""

    spool_dir: Path = field(default_factory=default_spool_dir)
    hook_log: Path = field(default_factory=lambda: default_spool_dir().parent / "hooks.log")
    hook_delivery: str = "background"
    """``background``: the hook starts a flush; ``spool``: it leaves events for the next."""
    ai_rules: Path | None = None
    ai_model: str | None = None
    """The model a hook reports when neither --model nor the tool's payload names one."""
    environment: str | None = None
    service: str | None = None
    """The target of an agent action when its command does not name one."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProducerSettings:
        env = os.environ if environ is None else environ
        return _producer(env, read_variables(env, "producer")["producer"])


@dataclass(frozen=True)
class LocalKafkaSettings:
    """The jar-based broker of ``provledger kafka`` and ``up``."""

    data_dir: Path = field(
        default_factory=lambda: Path.home() / ".local" / "share" / "provledger" / "kafka"
    )
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "provledger")


class Secrets:
    """The secret settings, each a pydantic ``SecretStr``: masked in repr, str and logs.

    Each is made when read: importing pydantic would cost ``provledger hook`` (run after every
    edit an AI tool makes, and in need of no secret) about 40 ms of its ~80 ms start-up.
    """

    __slots__ = ("_raw",)
    _raw: tuple[str | None, ...]

    def __init__(
        self,
        token: str | None = None,
        token_hashes: str | None = None,
        webhook_github: str | None = None,
        webhook_gitlab: str | None = None,
        webhook_pagerduty: str | None = None,
        webhook_incident_io: str | None = None,
        webhook_alertmanager: str | None = None,
        origin_key: str | None = None,
    ) -> None:
        webhooks = (
            webhook_github,
            webhook_gitlab,
            webhook_pagerduty,
            webhook_incident_io,
            webhook_alertmanager,
        )
        raw = (token, token_hashes, *webhooks, origin_key)
        object.__setattr__(self, "_raw", tuple(value or None for value in raw))

    @property
    def token(self) -> SecretStr | None:
        """``PROVLEDGER_TOKEN``: the CLI's bearer token."""
        return _secret(self._raw[0])

    @property
    def token_hashes(self) -> SecretStr | None:
        """``PROVLEDGER_TOKEN_HASHES``: ``scope:sha256hex`` pairs the API accepts."""
        return _secret(self._raw[1])

    def webhook(self, provider: str) -> SecretStr | None:
        """``PROVLEDGER_WEBHOOK_<PROVIDER>_SECRET``: what signs (or, for Alertmanager,
        authorizes) that provider's webhook deliveries; None keeps its webhook off."""
        return _secret(self._raw[2 + WEBHOOK_PROVIDERS.index(provider)])

    @property
    def origin_key(self) -> SecretStr | None:
        """``PROVLEDGER_ORIGIN_KEY``: what the API's origin headers are signed with and the
        ledger checks them with (ledger/origin.py); None keeps a key file by the ledger."""
        return _secret(self._raw[-1])

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[type[Secrets], tuple[str | None, ...]]:
        return (Secrets, self._raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secrets) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        names = (
            "token",
            "token_hashes",
            *(f"webhook_{p.replace('-', '_')}" for p in WEBHOOK_PROVIDERS),
            "origin_key",
        )
        shown = ("'**********'" if value else "None" for value in self._raw)
        pairs = (f"{name}={value}" for name, value in zip(names, shown, strict=True))
        return f"Secrets({', '.join(pairs)})"


def _secret(value: str | None) -> SecretStr | None:
    from pydantic import SecretStr

    return SecretStr(value) if value else None


@dataclass(frozen=True)
class Settings:
    """The ledger's and the Kafka client's settings, with a section for each other part."""

    kafka_bootstrap: str = DEFAULT_BOOTSTRAP
    bootstrap_from_env: bool = False
    topic: str = DEFAULT_TOPIC
    db_path: Path = field(default_factory=default_db_path)
    api_url: str = "http://127.0.0.1:8000"
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
    prepare_worker: bool = field(default_factory=lambda: (os.cpu_count() or 1) > 1)
    """Decode, hash and project each batch in a worker process beside the writer
    (ledger/prepare.py); off, serve does it in its own process. On where there are 2+ cores."""
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    duckdb_memory_limit: str | None = None
    """DuckDB's memory_limit for the ledger (``<bytes>B``); None keeps DuckDB's (80% of RAM)."""
    cdevents_schemas: Path | None = None
    """A folder of the official CDEvents JSON Schemas to check CDEvents against."""
    verifier_key: str | None = None
    """The log's verifier key that ``verify --since`` checks a kept checkpoint's signature with."""
    api: ApiSettings = field(default_factory=ApiSettings)
    sql: SqlSettings = field(default_factory=SqlSettings)
    producer: ProducerSettings = field(default_factory=ProducerSettings)
    local_kafka: LocalKafkaSettings = field(default_factory=LocalKafkaSettings)
    secrets: Secrets = field(default_factory=Secrets)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        found = read_variables(env)
        top = found["settings"]
        return cls(
            **{"db_path": default_db_path(env), **top},
            bootstrap_from_env="kafka_bootstrap" in top,
            api=ApiSettings(**{"tokens_file": default_tokens_path(env), **found["api"]}),
            sql=SqlSettings(**found["sql"]),
            producer=_producer(env, found["producer"]),
            local_kafka=LocalKafkaSettings(**found["local_kafka"]),
            secrets=Secrets(**found["secrets"]),
        )


def _producer(env: Mapping[str, str], found: dict[str, Any]) -> ProducerSettings:
    spool_dir = found.get("spool_dir") or default_spool_dir(env)
    # The hook's log sits beside the spool unless it is given a place of its own.
    defaults = {"spool_dir": spool_dir, "hook_log": spool_dir.parent / "hooks.log"}
    return ProducerSettings(**{**defaults, **found})


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, not {raw!r}")
        return raw

    return parse


def _origins(raw: str) -> tuple[str, ...]:
    return tuple(origin.strip() for origin in raw.split(",") if origin.strip())


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


def _switch(raw: str) -> bool:
    words = {"on": True, "off": False, "1": True, "0": False, "true": True, "false": False}
    if raw.lower() not in words:
        raise ValueError(f"expected on or off, not {raw!r}")
    return words[raw.lower()]


def _text(raw: str) -> str:
    return raw


def _url(raw: str) -> str:
    return raw.rstrip("/")


def _latency(raw: str) -> float:
    return units.parse_seconds(raw, positive=False)


def _memory_limit(raw: str) -> str:
    return f"{units.parse_size(raw, unitless=False)}B"


# Every variable the code reads: the section and attribute it sets, and how it is parsed.
VARIABLES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "PROVLEDGER_KAFKA_BOOTSTRAP": ("settings.kafka_bootstrap", _text),
    "PROVLEDGER_TOPIC": ("settings.topic", _text),
    "PROVLEDGER_TOPIC_PARTITIONS": ("settings.topic_partitions", units.parse_count),
    "PROVLEDGER_TOPIC_REPLICATION": ("settings.topic_replication", units.parse_count),
    "PROVLEDGER_DB": ("settings.db_path", _path),
    "PROVLEDGER_API": ("settings.api_url", _url),
    "PROVLEDGER_GROUP": ("settings.group_id", _text),
    "PROVLEDGER_STALL_S": ("settings.stall_after_s", units.parse_seconds),
    "PROVLEDGER_BATCH_MAX": ("settings.batch_max_records", units.parse_count),
    "PROVLEDGER_BATCH_LATENCY_S": ("settings.batch_max_latency_s", _latency),
    "PROVLEDGER_PREPARE_WORKER": ("settings.prepare_worker", _switch),
    "PROVLEDGER_MAX_EVENT_BYTES": ("settings.max_event_bytes", units.parse_size),
    "PROVLEDGER_DUCKDB_MEMORY_LIMIT": ("settings.duckdb_memory_limit", _memory_limit),
    "PROVLEDGER_CDEVENTS_SCHEMAS": ("settings.cdevents_schemas", _path),
    "PROVLEDGER_VERIFIER_KEY": ("settings.verifier_key", _text),
    "PROVLEDGER_TOKENS_FILE": ("api.tokens_file", _path),
    "PROVLEDGER_MAX_BODY_BYTES": ("api.max_body_bytes", units.parse_size),
    "PROVLEDGER_MAX_BATCH_EVENTS": ("api.max_batch_events", units.parse_count),
    "PROVLEDGER_CORS_ORIGINS": ("api.cors_origins", _origins),
    "PROVLEDGER_FORGE_URL": ("api.forge_url", _url),
    "PROVLEDGER_POLICY": ("api.policy_file", _path),
    "PROVLEDGER_WEBHOOK_MAPPING": ("api.webhook_mapping", _path),
    "PROVLEDGER_SIGNING_KEY_FILE": ("api.signing_key_file", _path),
    "PROVLEDGER_SQL_TIMEOUT_S": ("sql.timeout_s", units.parse_seconds),
    "PROVLEDGER_SQL_MAX_ROWS": ("sql.max_rows", units.parse_count),
    "PROVLEDGER_SQL_MAX_BYTES": ("sql.max_bytes", units.parse_size),
    "PROVLEDGER_SQL_WORKERS": ("sql.workers", units.parse_count),
    "PROVLEDGER_SQL_MEMORY_MB": ("sql.memory_mb", units.parse_count),
    "PROVLEDGER_SQL_QUEUE_S": ("sql.queue_wait_s", units.parse_seconds),
    "PROVLEDGER_SQL_FRESHNESS_S": ("sql.freshness_wait_s", units.parse_seconds),
    "PROVLEDGER_SPOOL_DIR": ("producer.spool_dir", _path),
    "PROVLEDGER_HOOK_LOG": ("producer.hook_log", _path),
    "PROVLEDGER_HOOK_DELIVERY": ("producer.hook_delivery", _choice(*HOOK_DELIVERIES)),
    "PROVLEDGER_AI_RULES": ("producer.ai_rules", _path),
    "PROVLEDGER_AI_MODEL": ("producer.ai_model", _text),
    "PROVLEDGER_ENVIRONMENT": ("producer.environment", _text),
    "PROVLEDGER_SERVICE": ("producer.service", _text),
    "PROVLEDGER_KAFKA_DATA_DIR": ("local_kafka.data_dir", _path),
    "PROVLEDGER_CACHE_DIR": ("local_kafka.cache_dir", _path),
    "PROVLEDGER_TOKEN": ("secrets.token", _text),
    "PROVLEDGER_TOKEN_HASHES": ("secrets.token_hashes", _text),
    "PROVLEDGER_WEBHOOK_GITHUB_SECRET": ("secrets.webhook_github", _text),
    "PROVLEDGER_WEBHOOK_GITLAB_SECRET": ("secrets.webhook_gitlab", _text),
    "PROVLEDGER_WEBHOOK_PAGERDUTY_SECRET": ("secrets.webhook_pagerduty", _text),
    "PROVLEDGER_WEBHOOK_INCIDENT_IO_SECRET": ("secrets.webhook_incident_io", _text),
    "PROVLEDGER_WEBHOOK_ALERTMANAGER_SECRET": ("secrets.webhook_alertmanager", _text),
    "PROVLEDGER_ORIGIN_KEY": ("secrets.origin_key", _text),
}
SECTIONS = ("settings", "api", "sql", "producer", "local_kafka", "secrets")


def read_variables(env: Mapping[str, str], only: str | None = None) -> dict[str, dict[str, Any]]:
    """The variables set (blank counts as unset), parsed, by section and attribute; only the
    section ``only`` when given. :class:`SettingError` on the first of the wrong form."""
    found: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for name, (target, parse) in VARIABLES.items():
        section, attribute = target.split(".")
        raw = env.get(name, "").strip()
        if not raw or (only is not None and section != only):
            continue
        try:
            found[section][attribute] = parse(raw)
        except ValueError as exc:
            # A secret is never parsed, so no message here can quote one.
            raise SettingError(name, str(exc)) from None
    return found
