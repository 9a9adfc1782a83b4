"""One ledger per consumer group: refuse a group that another ledger (or any other consumer)
uses, since the group would split the topic's partitions between them and each ledger would
silently miss the other's events. See ledger/identity.py for how a ledger claims its group."""

from __future__ import annotations

from kafka import KafkaAdminClient

from provenance_ledger.ledger import identity
from provenance_ledger.ledger.topic import SetupError


def strangers(admin: KafkaAdminClient, group: str, ledger_id: str) -> list[str]:
    """Who else is in the group: offsets committed by anything but this ledger, and members
    that are not this ledger's consumers. Empty when the group is this ledger's alone."""
    ours = identity.claim(ledger_id)
    found = []
    offsets = admin.list_group_offsets(group).get(group, {})
    for tp, committed in sorted(offsets.items()):
        if committed.metadata != ours:
            who = committed.metadata or "a consumer that is not a ledger"
            found.append(f"offsets of {tp.topic}[{tp.partition}] committed by {who}")
    described = admin.describe_groups([group]).get(group, {})
    for member in described.get("members") or ():
        if member.get("client_id") != identity.client_id(ledger_id):
            found.append(f"member {member.get('client_id')!r} from {member.get('client_host')}")
    return found


def check_group(admin: KafkaAdminClient, group: str, ledger_id: str, bootstrap: str) -> None:
    found = strangers(admin, group, ledger_id)
    if found:
        raise SetupError(
            f"the consumer group {group} (PROVLEDGER_GROUP) is not this ledger's alone "
            f"(ledger id {ledger_id}): {'; '.join(found[:5])}. Two ledgers in one group "
            "split the topic's partitions and each misses the other's events. Unset "
            "PROVLEDGER_GROUP (each ledger file then gets a group of its own) or choose a "
            "group nobody uses; if the other ledger is gone for good, delete the group "
            f"(kafka-consumer-groups.sh --bootstrap-server {bootstrap} --delete --group {group})."
        )
