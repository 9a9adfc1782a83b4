"""The pure parts of CONTRACT §5's suspects: dependency hops and configuration changes in the
ranking (query/suspects/ranking.py), and which configuration change puts back which
(query/readmodels/rollbacks.config_reverts)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from provenance_ledger.query.readmodels.commitfacts import CommitFacts
from provenance_ledger.query.readmodels.rollbacks import config_reverts
from provenance_ledger.query.suspects.ranking import (
    Candidate,
    ConfigChange,
    IncidentFacts,
    Revert,
    bounded,
    pruned,
    rank,
)

IMPACT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INCIDENT = IncidentFacts(services=("checkout",), environment="prod", impact=IMPACT)
FLAG = ConfigChange(kind="feature_flag", key="new-pricing", from_value="false", to_value="true")


def deploy(event_id: str, minutes_before: float, **extra) -> Candidate:
    fields = {
        "kind": "deployment",
        "event_id": event_id,
        "seq": abs(hash(event_id)) % 10_000,
        "service": "checkout",
        "environment": "prod",
        "time": IMPACT - timedelta(minutes=minutes_before),
        **extra,
    }
    return Candidate(**fields)


def config(event_id: str, minutes_before: float, **extra) -> Candidate:
    return deploy(event_id, minutes_before, kind="config_change", **{"config": FLAG, **extra})


def order(candidates: list[Candidate], incident: IncidentFacts = INCIDENT) -> list[str]:
    return [s.candidate.event_id for s in rank(candidates, incident, 50)]


def reasons(candidate: Candidate, incident: IncidentFacts = INCIDENT) -> dict[str, str]:
    [scored] = rank([candidate], incident, 1)
    return {r["code"]: r["detail"] for r in scored.reasons}


def test_each_hop_makes_the_same_change_at_the_same_time_less_suspect():
    own = deploy("own", 10)
    one = deploy("one-hop", 10, service="payments", path=("checkout", "payments"))
    two = deploy("two-hops", 10, service="fraud", path=("checkout", "payments", "fraud"))
    assert order([two, one, own]) == ["own", "one-hop", "two-hops"]
    assert reasons(two)["upstream_dependency"].startswith("checkout → payments → fraud:")


def test_a_dependency_change_minutes_before_outranks_an_own_deploy_hours_before():
    for hops in range(1, 4):
        path = ("checkout", *(f"dep{n}" for n in range(hops)))
        near = deploy("dependency", 4, service=path[-1], path=path)
        assert order([deploy("own", 120), near]) == ["dependency", "own"], hops


def test_a_flag_reverted_during_the_incident_is_rollback_evidence():
    incident = replace(INCIDENT, resolved_at=IMPACT + timedelta(minutes=14))
    put_back = Revert("flag-off", IMPACT + timedelta(minutes=10), 1, undo="config change")
    flag = config("flag-on", 2, fleet_percent=100.0, reverts=(put_back,))
    why = reasons(flag, incident)
    assert why["rolled_back_during_incident"].startswith("reverted by config change flag-off")
    assert why["resolved_soon_after_rollback"].endswith("after that config change")
    assert why["config_change"] == "feature_flag new-pricing: false → true"
    assert order([deploy("nearer", 1), flag], incident) == ["flag-on", "nearer"]


def test_a_partial_flag_rollout_and_a_secret_read_as_such():
    assert "partial_rollout" in reasons(config("canary", 5, fleet_percent=5.0))
    secret = config("rotate", 5, config=ConfigChange(kind="secret", key="db-password"))
    assert "its values are never recorded" in reasons(secret)["config_change"]


def test_a_destructive_change_by_an_agent():
    destroy = ConfigChange(
        kind="infrastructure", key="aws_db_instance.orders", action="delete", ai_tools=("devin",)
    )
    gone = config("destroy", 9, service=None, config=destroy)
    assert {"destructive_config_change", "ai_config_change", "environment_wide"} <= set(
        reasons(gone)
    )
    assert order([deploy("innocent", 5), gone]) == ["destroy", "innocent"]
    update = config("update", 9, config=replace(destroy, action="update"))
    assert "destructive_config_change" not in reasons(update)


def test_pruning_before_change_lookups_keeps_the_top_with_config_changes():
    rng = random.Random(7)
    for trial in range(150):
        full = []
        for n in range(rng.randint(1, 25)):
            sha = f"{trial * 100 + n:040x}"
            ai = ({"tool": "cursor", "mode": "agent"},) if rng.random() < 0.5 else ()
            facts = (CommitFacts("shop/infra", sha, known=True, ai=ai, lines_added=900),)
            applied = rng.random() < 0.6
            full.append(
                config(
                    f"c{trial}-{n}",
                    rng.uniform(0, 600),
                    commits=(sha,) if applied else (),
                    changes=facts if applied else (),
                    path=rng.choice([(), ("checkout", "payments")]),
                )
            )
            full.append(deploy(f"d{trial}-{n}", rng.uniform(0, 600)))
        limit = rng.randint(1, 6)
        bare = [replace(c, changes=()) for c in full]
        kept = {b.candidate.event_id for b in pruned(bounded(bare, INCIDENT), limit)}
        expected = [s.candidate.event_id for s in rank(full, INCIDENT, limit)]
        after_pruning = rank([c for c in full if c.event_id in kept], INCIDENT, limit)
        assert [s.candidate.event_id for s in after_pruning] == expected


def change(seq: int, minutes: float, from_value: str | None, to_value: str | None, **target):
    return {
        "event_id": f"c{seq}",
        "event_seq": seq,
        "changed_at": IMPACT + timedelta(minutes=minutes),
        "key": target.pop("key", "new-pricing"),
        "target_service": target.pop("service", "checkout"),
        "target_environment": "prod",
        "target_region": None,
        "target_resource": None,
        "from_value": from_value,
        "to_value": to_value,
    }


def reverted(changes: list[dict]) -> dict[str, list[str]]:
    hits = config_reverts(changes)
    by_seq = {c["event_seq"]: c["event_id"] for c in changes}
    return {by_seq[seq]: [row["event_id"] for row, _ in rows] for seq, rows in hits.items()}


def test_a_change_puts_back_what_earlier_changes_in_force_set():
    story = [
        change(1, -600, "false", "true"),
        change(2, -500, "true", "false"),  # puts 1 back
        change(3, -2, "false", "true"),  # puts 2 back
        change(4, 10, "true", "false"),  # puts 3 back; 1 is no longer in force
        change(5, 10, "true", "false", service="search"),  # another target
        change(6, 11, "true", "false", key="dark-mode"),  # another key
        change(7, 12, None, None),  # no values: puts nothing back
    ]
    assert reverted(story) == {"c1": ["c2"], "c2": ["c3"], "c3": ["c4"]}


def test_one_change_may_put_back_several_and_says_how_many():
    story = [change(1, -30, "10", "50"), change(2, -20, "10", "100"), change(3, 5, "100", "10")]
    hits = config_reverts(story)
    assert sorted(hits) == [1, 2] and {count for rows in hits.values() for _, count in rows} == {2}
    assert reverted([change(1, -5, "1", "2"), change(2, 5, "2", "1", key=None)]) == {}
