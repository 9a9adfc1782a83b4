"""Out-of-order arrival: any order (and any batching) of the same events gives the same
projection, compared on content: every seq is replaced by the identity of its event.

The ledger runs on an in-memory DuckDB (no file, no broker), so views are checked too.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from provenance_ledger.ledger.batch import Incoming
from provenance_ledger.ledger.projection import Accepted, project
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.producers.envelope import build_event
from provenance_ledger.schemas.codec import DecodedEvent, KafkaRecord

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
SHA = ["a" * 40, "b" * 40, "c" * 40]
ALICE = {"id": "alice@acme.example", "name": "Alice"}
BOB = {"id": "bob@acme.example", "name": "Bob"}
# When and where (Kafka coordinates) a row arrived, not what it says.
VOLATILE = {
    "ingested_at",
    "received_at",
    "updated_at",
    "committed_at",
    "topic",
    "kafka_partition",
    "kafka_offset",
    # The leaf of the record an event came from names the record's offset.
    "leaf_hash",
}
# Tables whose content depends on batch boundaries or on seq by design, or names the file.
# The log's records are the topic's, but which seq an accepted one got is arrival order.
ORDER_BOOKKEEPING = {
    "log_records",
    "log_nodes",
    "log_heads",
    "kafka_offset_marks",
    "kafka_offsets",
    "ledger_identity",
}


def _story() -> list[DecodedEvent]:
    def at(minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    deploy = {"service": "checkout", "environment": "prod", "repo": "acme/checkout"}
    items: list[tuple[str, dict[str, Any], str, int]] = [
        ("person.registered", {"person": {**ALICE, "level": "mid"}}, "p1", 0),
        ("person.registered", {"person": {**ALICE, "level": "senior"}}, "p2", 50),
        ("person.registered", {"person": {**BOB, "level": "junior"}}, "p3", 0),
        (
            "change.authored",
            {
                "repo": "acme/checkout",
                "commit": SHA[0],
                "author": ALICE,
                "ai": [{"tool": "claude-code", "mode": "agent", "lines": 10}],
            },
            "c1",
            1,
        ),
        (
            "change.reviewed",
            {"repo": "acme/checkout", "commit": SHA[0], "reviewer": BOB, "decision": "approved"},
            "r1",
            2,
        ),
        (
            "change.merged",
            {"repo": "acme/checkout", "commit": SHA[1], "commits": [SHA[0]]},
            "m1",
            3,
        ),
        (
            "artifact.built",
            {"artifact": "sha256:1", "repo": "acme/checkout", "commit": SHA[1]},
            "a1",
            4,
        ),
        ("service.deployed", {**deploy, "version": "1.0", "commit": SHA[2]}, "d1", 5),
        ("service.deployed", {**deploy, "version": "1.1", "commits": [SHA[1]]}, "d2", 10),
        (
            "service.rolledback",
            {
                "service": "checkout",
                "environment": "prod",
                "from_version": "1.1",
                "to_version": "1.0",
            },
            "rb1",
            30,
        ),
        (
            "agent.action",
            {
                "agent": {"tool": "claude-code"},
                "action": "delete_environment",
                "target": {"service": "checkout", "environment": "prod"},
                "destructive": True,
            },
            "ag1",
            12,
        ),
        (
            "incident.opened",
            {"incident": "INC-1", "severity": "sev1", "services": ["checkout"]},
            "i1",
            20,
        ),
        ("incident.resolved", {"incident": "INC-1"}, "i2", 40),
        (
            "incident.attributed",
            {"incident": "INC-1", "verdict": "confirmed", "by": BOB, "deployment": "d2"},
            "at1",
            45,
        ),
    ]
    return [
        build_event(kind, data, "test/order", event_id=event_id, time=at(minute))
        for kind, data, event_id, minute in items
    ]


STORY = _story()


def _content(rows: dict[str, list[dict[str, Any]]], identity: dict[int, str]) -> dict[str, list]:
    def resolve(name: str, value: Any) -> Any:
        if (name == "seq" or name.endswith("_seq")) and isinstance(value, int):
            return identity.get(value, value)
        return value

    return {
        table: sorted(
            repr(sorted((k, resolve(k, v)) for k, v in row.items() if k not in VOLATILE))
            for row in table_rows
        )
        for table, table_rows in rows.items()
    }


@given(st.permutations(STORY))
def test_pure_projection_is_order_independent(order: list[DecodedEvent]) -> None:
    def projected(events: list[DecodedEvent]) -> dict[str, list]:
        accepted = [Accepted(seq, decoded) for seq, decoded in enumerate(events)]
        identity = {item.seq: item.id for item in accepted}
        return _content(project(accepted), identity)

    assert projected(order) == projected(STORY)


def _ledger_state(batches: list[list[DecodedEvent]]) -> dict[str, list]:
    ledger = Ledger.open(":memory:", migrate=True)
    try:
        offset = 0
        for batch in batches:
            incoming = []
            for decoded in batch:
                record = KafkaRecord("t", 0, offset, None, decoded.canonical)
                incoming.append(Incoming(record, decoded))
                offset += 1
            ledger.write_batch(incoming, [], {("t", 0): offset})
        cur = ledger.cursor()
        identity = {
            seq: f"{source}|{id_}"
            for seq, source, id_ in cur.execute("SELECT seq, source, id FROM events").fetchall()
        }
        relations = [
            name
            for (name,) in cur.execute(
                "SELECT table_name FROM duckdb_tables() UNION ALL "
                "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'"
            ).fetchall()
            if name not in ORDER_BOOKKEEPING
        ]
        state = {}
        for name in relations:
            result = cur.execute(f'SELECT * FROM "{name}"')
            columns = [d[0] for d in result.description]
            state[name] = [
                {
                    c: (v if not isinstance(v, bytes) else v.hex())
                    for c, v in zip(columns, row, strict=True)
                }
                for row in result.fetchall()
            ]
        return _content(state, identity)
    finally:
        ledger.close()


BASELINE = _ledger_state([STORY])


@settings(max_examples=25, deadline=None)
@given(st.permutations(STORY), st.data())
def test_ledger_tables_and_views_are_order_and_batch_independent(
    order: list[DecodedEvent], data: st.DataObject
) -> None:
    # Producer retries: some events arrive twice; splits: any batch boundaries.
    repeats = data.draw(st.lists(st.sampled_from(STORY), max_size=3))
    arrivals = order + repeats
    cuts = sorted(data.draw(st.sets(st.integers(1, len(arrivals) - 1), max_size=4)))
    bounds = [0, *cuts, len(arrivals)]
    batches = [arrivals[a:b] for a, b in itertools.pairwise(bounds)]
    assert _ledger_state(batches) == BASELINE
