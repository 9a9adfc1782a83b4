"""Service registrations and configuration changes end to end: a real broker, the ledger
consumer, a real DuckDB file. Registrations (one superseded after the incident, one closing a
cycle) and configuration changes arrive in both Kafka modes, bad ones become dead letters,
and the views answer with the dependency graph as registered at impact start."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from provenance_ledger.ledger.consumer import LedgerConsumer
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.producers.emitter import Emitter, structured_message
from provenance_ledger.producers.envelope import build_event
from provenance_ledger.query.sql import readonly
from provenance_ledger.schemas.codec import DecodedEvent
from tests.support.ledgerproc import produce
from tests.support.waiting import wait_until

pytestmark = pytest.mark.kafka

SCHEMA_DOC = Path(__file__).resolve().parents[2] / "ledger" / "SCHEMA.md"
IMPACT = datetime(2026, 11, 26, 12, tzinfo=UTC)
AGENT = {"id": "claude-code@ci", "kind": "ai_agent"}
CLAUDE = [{"tool": "Claude-Code", "model": "claude-sonnet-4", "mode": "agent", "session": "s-1"}]


def at(minutes: float) -> datetime:
    return IMPACT + timedelta(minutes=minutes)


def event(event_type: str, event_id: str, minutes: float, **data: object) -> DecodedEvent:
    return build_event(event_type, data, "test/deps", event_id=event_id, time=at(minutes))


def registered(event_id: str, minutes: float, service: str, *depends_on: str, **more: object):
    return event("service.registered", event_id, minutes, service=service,
                 depends_on=list(depends_on), **more)  # fmt: skip


def changed(event_id: str, minutes: float, target: dict, key: str, **more: object):
    return event("config.changed", event_id, minutes, target=target, key=key, **more)


# fmt: off
PROD_CHECKOUT = {"service": "checkout", "environment": "prod"}
GOOD = [
    registered("reg-checkout", -14400, "checkout", "payments", "orders-db", tier=1,
               owner="team-checkout", repos=["acme/shop"]),
    registered("reg-payments", -14400, "payments", "fraud"),
    registered("reg-fraud", -14400, "fraud", "checkout"),  # checkout → payments → fraud → checkout
    registered("reg-payments-2", 60, "payments", "ledger-svc"),  # after the incident started
    changed("flag-on", -20, PROD_CHECKOUT, "new-pricing", kind="feature_flag",
            fleet_percent=25, actor=AGENT, ai=CLAUDE, **{"from": False, "to": True}),
    changed("flag-off", 10, PROD_CHECKOUT, "new-pricing", kind="feature_flag",
            fleet_percent=0, **{"from": True, "to": False}),
    changed("db-gone", -40, {"service": "fraud", "environment": "prod"}, "aws_db_instance.fraud",
            kind="infrastructure", action="delete", repo="acme/infra", commit="b" * 40),
    changed("prod-wide", -5, {"environment": "prod"}, "dns.ttl", kind="config",
            **{"from": {"ttl": 300.0, "zone": "acme"}, "to": {"zone": "acme", "ttl": 30}}),
    changed("staging-only", -5, {"service": "payments", "environment": "staging"}, "x",
            kind="config"),
    changed("rotated", -3, {"service": "payments"}, "stripe-key", kind="secret", change_ref="v7"),
    event("service.deployed", "deploy-payments", -120, service="payments", environment="prod",
          version="5.1"),
    event("service.deployed", "deploy-ledger-svc", -30, service="ledger-svc",
          environment="prod", version="2.0"),
    event("incident.opened", "inc-opened", 2, incident="INC-DEP-1", severity="sev2",
          services=["checkout"], environment="prod", impact_started_at=IMPACT.isoformat()),
    event("incident.resolved", "inc-resolved", 30, incident="INC-DEP-1"),
]
# fmt: on


def bad(event_id: str, data: dict, event_type: str = "config.changed") -> bytes:
    envelope = {"specversion": "1.0", "id": event_id, "source": "test/deps",
                "time": "2026-11-26T11:00:00Z", "type": f"dev.provledger.{event_type}.v1",
                "data": data}  # fmt: skip
    return json.dumps(envelope).encode()


# fmt: off
BAD = {
    "leaked-secret": bad("leaked-secret", {"kind": "secret", "target": {"service": "payments"},
                                           "from": "sk_old", "to": "sk_new"}),
    "no-target": bad("no-target", {"kind": "config", "target": {"region": "eu-west-1"}}),
    "tier-seven": bad("tier-seven", {"service": "search", "tier": 7}, "service.registered"),
}
# fmt: on


def _wait_for(ledger: Ledger, thread: threading.Thread, events: int, dead: int) -> None:
    def done() -> bool:
        assert thread.is_alive(), "the consumer stopped"
        return ledger.counts() == (events, dead)

    wait_until(done, 90, lambda: f"{events} events and {dead} dead letters: {ledger.counts()}")


@pytest.fixture(scope="module")
def ledger(module_settings: Settings) -> Iterator[Ledger]:
    with Emitter(module_settings.kafka_bootstrap, module_settings.topic) as emitter:
        for decoded in GOOD[::2]:  # Avro binary mode
            emitter.publish(decoded)
    structured = [(None, *structured_message(decoded)) for decoded in GOOD[1::2]]
    content = [("content-type", b"application/cloudevents+json")]
    produce(module_settings.kafka_bootstrap, module_settings.topic,
            [*structured, *((None, content, value) for value in BAD.values())])  # fmt: skip
    opened = Ledger.open(module_settings.db_path, migrate=True)
    consumer = LedgerConsumer(opened, module_settings)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        _wait_for(opened, thread, len(GOOD), len(BAD))
    finally:
        consumer.stop()
        thread.join(timeout=30)
    yield opened
    opened.close()


def rows(ledger: Ledger, sql: str) -> list[tuple]:
    return ledger.cursor().execute(sql).fetchall()


def test_registrations_and_changes_are_projected_once(ledger: Ledger) -> None:
    assert rows(ledger, "SELECT count(*) FROM service_registrations") == [(4,)]
    assert rows(ledger, "SELECT count(*) FROM config_changes") == [(6,)]
    checkout = rows(
        ledger,
        "SELECT owner, tier, repos, depends_on FROM service_registrations "
        "WHERE service = 'checkout'",
    )
    assert checkout == [("team-checkout", 1, ["acme/shop"], ["payments", "orders-db"])]
    history = rows(
        ledger,
        "SELECT event_id, valid_from, valid_to FROM service_registration_history "
        "WHERE service = 'payments' ORDER BY valid_from",
    )
    assert history == [("reg-payments", at(-14400), at(60)), ("reg-payments-2", at(60), None)]


def test_config_changes_keep_values_actor_and_ai(ledger: Ledger) -> None:
    found = {
        row[0]: row[1:]
        for row in rows(
            ledger,
            "SELECT event_id, kind, from_value, to_value, fleet_percent, actor_id, actor_kind, "
            "ai_assisted, ai_tools, action, repo, commit FROM config_changes",
        )
    }
    assert found["flag-on"] == (
        "feature_flag", "false", "true", 25.0, "claude-code@ci", "ai_agent", True,
        ["claude-code"], None, None, None,
    )  # fmt: skip
    # One canonical spelling whatever the mode and key order: 300.0 is 300.
    assert found["prod-wide"][1:3] == ('{"ttl":300,"zone":"acme"}', '{"ttl":30,"zone":"acme"}')
    assert found["db-gone"][8:] == ("delete", "acme/infra", "b" * 40)
    assert found["rotated"][1:3] == (None, None)
    ai = rows(ledger, "SELECT tool, model, mode, session FROM config_change_ai")
    assert ai == [("claude-code", "claude-sonnet-4", "agent", "s-1")]


def test_bad_ones_are_dead_letters_with_their_reason(ledger: Ledger) -> None:
    found = rows(ledger, "SELECT id, raw_prefix, reason, detail FROM dead_letters")
    dead = {event_id: (reason, detail) for event_id, _, reason, detail in found}
    assert set(dead) == set(BAD)
    assert dead["leaked-secret"][0] == "invalid_field"
    assert "secret" in dead["leaked-secret"][1]
    # The secret's refusal keeps no raw bytes (they hold its values); the others keep theirs.
    kept = {event_id: raw is not None for event_id, raw, _, _ in found}
    assert kept == {"leaked-secret": False, "no-target": True, "tier-seven": True}
    assert dead["no-target"][0] == "invalid_field"
    assert dead["no-target"][1].startswith("data.target:")
    assert dead["tier-seven"][1].startswith("data.tier:")


def test_the_incident_tree_is_the_graph_as_registered_at_impact_start(ledger: Ledger) -> None:
    tree = rows(
        ledger,
        "SELECT service, depth, path FROM incident_dependency_tree WHERE incident = 'INC-DEP-1' "
        "ORDER BY depth, service",
    )
    assert tree == [
        ("checkout", 0, ["checkout"]),
        ("orders-db", 1, ["checkout", "orders-db"]),
        ("payments", 1, ["checkout", "payments"]),
        ("fraud", 2, ["checkout", "payments", "fraud"]),
    ]  # the cycle back to checkout ends; ledger-svc came after impact


def test_the_current_tree_follows_the_newer_registration_and_ends_on_cycles(
    ledger: Ledger,
) -> None:
    now = dict(rows(ledger, "SELECT service, depth FROM dependency_tree WHERE root = 'checkout'"))
    assert now == {"checkout": 0, "payments": 1, "orders-db": 1, "ledger-svc": 2}
    from_fraud = dict(
        rows(ledger, "SELECT service, depth FROM dependency_tree WHERE root = 'fraud'")
    )
    assert from_fraud == {"fraud": 0, "checkout": 1, "payments": 2, "orders-db": 2,
                          "ledger-svc": 3}  # fmt: skip
    per_root = rows(
        ledger,
        "SELECT count(*) FROM (SELECT root, service FROM dependency_tree GROUP BY ALL "
        "HAVING count(*) > 1)",
    )
    assert per_root == [(0,)]


def test_the_changes_around_an_incident_follow_its_dependencies(ledger: Ledger) -> None:
    found = rows(
        ledger,
        "SELECT event_id, depth, before_impact FROM incident_dependency_changes "
        "WHERE incident = 'INC-DEP-1' ORDER BY changed_at",
    )
    assert found == [
        ("deploy-payments", 1, timedelta(hours=2)),
        ("db-gone", 2, timedelta(minutes=40)),
        ("flag-on", 0, timedelta(minutes=20)),
        ("prod-wide", None, timedelta(minutes=5)),
        ("rotated", 1, timedelta(minutes=3)),  # no environment: every environment's
        ("flag-off", 0, timedelta(minutes=-10)),
    ]  # not the staging change, nor ledger-svc's deployment (a dependency only after impact)


def _example(title: str) -> str:
    section = SCHEMA_DOC.read_text().split("## Dependencies and configuration changes", 1)[1]
    after = section.split(title, 1)[1]
    return re.search(r"```sql\n(.*?)```", after, re.S).group(1)


def _run(ledger: Ledger, sql: str, params: dict) -> list[tuple]:
    cursor = ledger.cursor()
    readonly.check(cursor, sql)  # what `provledger sql` accepts
    return cursor.execute(sql, params).fetchall()


def test_the_documented_queries_answer(ledger: Ledger) -> None:
    tree_sql = _example("A service's dependency tree as registered at any instant")
    before = _run(ledger, tree_sql, {"service": "payments", "at": at(0).isoformat()})
    after = _run(ledger, tree_sql, {"service": "payments", "at": at(61).isoformat()})
    assert [row[0] for row in before] == ["payments", "fraud", "checkout", "orders-db"]
    assert [row[0] for row in after] == ["payments", "ledger-svc"]
    window_sql = _example("The deployments and configuration changes on a service")
    window = _run(ledger, window_sql, {"service": "payments", "since": at(-180).isoformat(),
                                       "until": at(0).isoformat()})  # fmt: skip
    assert [(row[2], row[3]) for row in window] == [
        ("deployment", "payments"), ("deployment", "ledger-svc"),
        ("config_change", "payments"), ("config_change", "payments"),
    ]  # fmt: skip
    undo_sql = _example("Configuration changes that undid an earlier one")
    assert [row[-1] for row in _run(ledger, undo_sql, {})] == ["flag-on"]
