"""The ledger owns its topic, the log of record: it creates it when absent and refuses one
that would delete history (``provledger rebuild`` replays it; a topic that forgets makes a
shorter past without a word)."""

from __future__ import annotations

from collections.abc import Mapping

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError, TopicAlreadyExistsError

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.schemas.errors import UsageProblem

# What the topic must say to keep every event for ever.
KEEP_EVERYTHING = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


class SetupError(RuntimeError, UsageProblem):
    """The ledger refuses to run with this setting; the message names it and the way out."""


def history_problems(configs: Mapping[str, str]) -> list[str]:
    """Why a topic with these configs would lose events (empty: it keeps them all)."""
    problems = []
    retention_ms = configs.get("retention.ms", "-1")
    if retention_ms != "-1":
        problems.append(f"retention.ms={retention_ms} deletes events older than that")
    retention_bytes = configs.get("retention.bytes", "-1")
    if retention_bytes != "-1":
        problems.append(f"retention.bytes={retention_bytes} deletes the oldest events past it")
    policies = {p.strip() for p in configs.get("cleanup.policy", "delete").split(",")}
    # Compaction keeps only the last record per key, and keys are services and repos.
    if "compact" in policies:
        problems.append(
            f"cleanup.policy={configs['cleanup.policy']} keeps only the last event per key"
        )
    return problems


def ensure_topic(admin: KafkaAdminClient, settings: Settings) -> bool:
    """Create the topic (partitions, replication, configs from settings) unless it exists,
    then check that it keeps history. Returns whether it was created here."""
    spec = {
        "num_partitions": settings.topic_partitions,
        # -1: the cluster's default.replication.factor.
        "replication_factor": settings.topic_replication or -1,
        "configs": KEEP_EVERYTHING,
    }
    created = False
    try:
        # Waiting for the partitions' leaders lets the consumer's first join get them.
        admin.create_topics({settings.topic: spec}, wait_for_metadata=True)
        created = True
    except TopicAlreadyExistsError:
        pass
    except KafkaError as exc:
        if not exc.retriable and not _exists(admin, settings.topic):
            raise SetupError(
                f"cannot create the topic {settings.topic} (PROVLEDGER_TOPIC) on "
                f"{settings.kafka_bootstrap} with {settings.topic_partitions} partitions "
                "(PROVLEDGER_TOPIC_PARTITIONS) and replication "
                f"{settings.topic_replication or 'the cluster default'} "
                f"(PROVLEDGER_TOPIC_REPLICATION): {exc}"
            ) from exc
        if exc.retriable:
            raise
    check_keeps_history(admin, settings)
    return created


def check_keeps_history(admin: KafkaAdminClient, settings: Settings) -> None:
    resource = ConfigResource(
        ConfigResourceType.TOPIC, settings.topic, configs=dict.fromkeys(KEEP_EVERYTHING)
    )
    described = admin.describe_configs([resource], config_filter="all")
    entries = described.get("topic", {}).get(settings.topic, {})
    configs = {key: str(entry["value"]) for key, entry in entries.items()}
    problems = history_problems(configs)
    if problems:
        wanted = ",".join(f"{key}={value}" for key, value in KEEP_EVERYTHING.items())
        raise SetupError(
            f"the topic {settings.topic} (PROVLEDGER_TOPIC) would delete history: "
            f"{'; '.join(problems)}. It is the ledger's log of record. Make it keep "
            f"everything (kafka-configs.sh --bootstrap-server {settings.kafka_bootstrap} "
            f"--alter --entity-type topics --entity-name {settings.topic} --add-config "
            f"{wanted}), or set PROVLEDGER_TOPIC to a topic that does."
        )


def _exists(admin: KafkaAdminClient, topic: str) -> bool:
    try:
        return topic in admin.list_topics()
    except KafkaError:
        return False
