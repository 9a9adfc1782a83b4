"""The pure ranking: facts in, order and reasons out (query/suspects/ranking.py)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from provenance_ledger.query.policy.definitions import Seniority
from provenance_ledger.query.readmodels.commitfacts import CommitFacts
from provenance_ledger.query.suspects.ranking import (
    Candidate,
    IncidentFacts,
    Revert,
    bounded,
    most_promising,
    pruned,
    rank,
)

IMPACT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INCIDENT = IncidentFacts(services=("checkout",), environment="prod", impact=IMPACT)


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


def action(event_id: str, minutes_before: float, **extra) -> Candidate:
    return deploy(event_id, minutes_before, kind="agent_action", **extra)


APPROVED_BY_SENIOR = {"reviewer": "sam@shop", "reviewer_level": "senior", "decision": "approved"}


def change(n: int, **extra) -> CommitFacts:
    fields = {
        "repo": "shop/checkout",
        "commit": f"{n:040x}",
        "author": "dev@shop",
        "author_level": "mid",
        "known": True,
        "lines_added": 20,
        "files": ("src/app.py",),
        **extra,
    }
    return CommitFacts(**fields)


def order(candidates: list[Candidate], incident: IncidentFacts = INCIDENT) -> list[str]:
    return [s.candidate.event_id for s in rank(candidates, incident, 50)]


def codes(candidates: list[Candidate], event_id: str, incident=INCIDENT) -> list[str]:
    ranked = rank(candidates, incident, 50)
    return [r["code"] for s in ranked if s.candidate.event_id == event_id for r in s.reasons]


def test_a_deploy_minutes_before_beats_one_hours_before():
    assert order([deploy("six-hours", 360), deploy("ten-minutes", 10)]) == [
        "ten-minutes",
        "six-hours",
    ]


def test_scores_are_between_zero_and_one_and_follow_rank():
    ranked = rank([deploy("a", 1), deploy("b", 600), action("c", 5, destructive=True)], INCIDENT, 9)
    scores = [s.score for s in ranked]
    assert all(0 <= value <= 1 for value in scores)
    assert scores == sorted(scores, reverse=True)


def test_rolled_back_during_incident_and_resolved_soon_after_beats_a_nearer_deploy():
    incident = replace(INCIDENT, resolved_at=IMPACT + timedelta(minutes=50))
    reverted = deploy(
        "rolled-back", 90, reverts=(Revert("rb-1", IMPACT + timedelta(minutes=40), 1),)
    )
    assert order([deploy("nearer", 5), reverted], incident) == ["rolled-back", "nearer"]
    assert {"rolled_back_during_incident", "resolved_soon_after_rollback"} <= set(
        codes([reverted], "rolled-back", incident)
    )


def test_a_deploy_rolled_back_before_impact_was_not_live():
    gone = deploy("gone", 20, reverts=(Revert("rb-0", IMPACT - timedelta(minutes=10), 1),))
    assert order([gone, deploy("live", 120)]) == ["live", "gone"]
    assert "reverted_before_impact" in codes([gone], "gone")


def test_destructive_action_minutes_before_beats_innocent_deploy_an_hour_before():
    drop = action("drop-db", 4, action="apply_migration", destructive=True)
    innocent = deploy("innocent", 60, changes=(change(1, author_level="senior"),))
    assert order([innocent, drop]) == ["drop-db", "innocent"]
    assert "destructive_action" in codes([drop], "drop-db")
    assert "unauthorized_action" in codes([drop], "drop-db")


def test_non_destructive_agent_action_ranks_below_a_deploy_at_the_same_time():
    assert order([action("scale", 10, action="scale"), deploy("dep", 10)]) == ["dep", "scale"]


def test_risky_shipment_beats_a_safe_one_at_a_similar_time():
    risky = deploy(
        "risky",
        25,
        changes=(
            change(1, ai=({"tool": "cursor", "mode": "agent"},), lines_added=900, files=("a",) * 1),
        ),
    )
    safe = deploy("safe", 20, changes=(change(2, reviews=(APPROVED_BY_SENIOR,)),))
    assert order([safe, risky]) == ["risky", "safe"]
    assert {"ai_without_senior_approval", "agent_mode_ai", "large_change"} <= set(
        codes([risky], "risky")
    )


def test_senior_approval_removes_the_ai_risk():
    approved = change(
        1, ai=({"tool": "copilot", "mode": "completion"},), reviews=(APPROVED_BY_SENIOR,)
    )
    assert "ai_without_senior_approval" not in codes([deploy("d", 5, changes=(approved,))], "d")


def test_what_counts_as_senior_follows_the_policy():
    ai = ({"tool": "copilot", "mode": "completion"},)
    by_senior = change(1, ai=ai, reviews=(APPROVED_BY_SENIOR,))
    stricter = replace(by_senior, seniority=Seniority("principal"))
    assert by_senior.senior_approved and not stricter.senior_approved
    assert "ai_without_senior_approval" in codes([deploy("d", 5, changes=(stricter,))], "d")
    destructive = action("drop", 5, destructive=True, authorized_level="senior")
    assert "unauthorized_action" in codes([destructive], "drop")
    authorized = replace(destructive, authorized_senior=True)
    assert "unauthorized_action" not in codes([authorized], "drop")


def test_partial_rollout_and_docs_only_matter_less():
    full = deploy("full", 30, fleet_percent=100.0)
    canary = deploy("canary", 30, fleet_percent=5.0)
    docs = deploy("docs", 25, changes=(change(3, files=("README.md", "docs/x.rst")),))
    assert order([canary, docs, full]) == ["full", "canary", "docs"]


def test_confirmed_first_and_rejected_last_with_the_reason():
    ranked = rank(
        [
            deploy("near", 1),
            deploy("confirmed", 600, verdict="confirmed", verdict_by="sre@shop"),
            deploy("rejected", 2, verdict="rejected", verdict_by="sre@shop"),
            deploy("far", 900),
        ],
        INCIDENT,
        10,
    )
    assert [s.candidate.event_id for s in ranked] == ["confirmed", "near", "far", "rejected"]
    assert ranked[0].score == 1.0 and ranked[-1].score == 0.0
    assert ranked[-1].reasons[0]["code"] == "rejected_attribution"
    assert "sre@shop" in ranked[-1].reasons[0]["detail"]


def test_confirmed_commit_puts_the_deployment_that_shipped_it_first():
    sha = f"{7:040x}"
    shipped = deploy("shipped", 300, commits=(sha,), confirmed_commits=(sha,))
    assert order([deploy("near", 1), shipped]) == ["shipped", "near"]


def test_rejecting_every_shipped_commit_drops_the_deployment():
    sha = f"{8:040x}"
    cleared = deploy("cleared", 1, commits=(sha,), rejected_commits=(sha,))
    assert order([cleared, deploy("other", 200)]) == ["other", "cleared"]


def test_without_an_incident_environment_production_comes_first():
    incident = replace(INCIDENT, environment=None)
    staging = deploy("staging", 5, environment="staging")
    assert order([staging, deploy("prod", 30)], incident) == ["prod", "staging"]


def test_another_region_ranks_below():
    incident = replace(INCIDENT, region="eu-west-1")
    there = deploy("us", 5, region="us-east-1")
    assert order([there, deploy("eu", 30, region="eu-west-1")], incident) == ["eu", "us"]


def test_order_is_deterministic_and_ties_break_on_a_stable_key():
    candidates = [deploy(f"dep-{n}", 30) for n in range(6)]
    expected = order(candidates)
    for seed in range(5):
        shuffled = candidates[:]
        random.Random(seed).shuffle(shuffled)
        assert order(shuffled) == expected
    assert expected == sorted(expected)


def test_pruning_before_change_lookups_never_changes_the_top():
    rng = random.Random(42)
    for trial in range(200):
        full = []
        for n in range(rng.randint(1, 30)):
            facts = tuple(
                change(
                    n * 100 + k,
                    ai=({"tool": "cursor", "mode": rng.choice(["agent", "chat"])},)
                    if rng.random() < 0.5
                    else (),
                    lines_added=rng.choice([5, 400, 2000]),
                    files=(rng.choice(["README.md", "src/a.py"]),),
                )
                for k in range(rng.randint(0, 3))
            )
            full.append(
                deploy(
                    f"d{trial}-{n}",
                    rng.uniform(0, 1440),
                    commits=tuple(c.commit for c in facts),
                    changes=facts,
                    fleet_percent=rng.choice([None, 10.0, 100.0]),
                )
            )
        limit = rng.randint(1, 8)
        bare = [replace(c, changes=()) for c in full]
        kept = {b.candidate.event_id for b in pruned(bounded(bare, INCIDENT), limit)}
        expected = [s.candidate.event_id for s in rank(full, INCIDENT, limit)]
        after_pruning = [
            s.candidate.event_id
            for s in rank([c for c in full if c.event_id in kept], INCIDENT, limit)
        ]
        assert after_pruning == expected


def test_a_rollback_that_did_not_fix_the_incident_counts_less_than_the_one_that_did():
    incident = replace(INCIDENT, resolved_at=IMPACT + timedelta(minutes=32))
    first = deploy(
        "rolled-back-first",
        10,
        reverts=(Revert("rb-1", IMPACT + timedelta(minutes=10), 1, superseded=True),),
    )
    culprit = deploy(
        "fixed-by-rollback", 45, reverts=(Revert("rb-2", IMPACT + timedelta(minutes=25), 1),)
    )
    assert order([first, culprit], incident) == ["fixed-by-rollback", "rolled-back-first"]
    assert "went on until a later rollback" in " ".join(
        r["detail"] for s in rank([first], incident, 1) for r in s.reasons
    )


def test_at_most_the_best_candidates_get_their_changes_looked_up():
    busy = [deploy(f"dep-{n:03d}", 8 * n + 1, commits=(f"{n:040x}",)) for n in range(90)]
    kept, _ = most_promising(pruned(bounded(busy, INCIDENT), 10), 15)
    assert [b.candidate.event_id for b in kept] == [f"dep-{n:03d}" for n in range(15)]
    confirmed = replace(busy[-1], verdict="confirmed")
    first, _ = most_promising(pruned(bounded([*busy[:-1], confirmed], INCIDENT), 10), 15)
    assert confirmed in [b.candidate for b in first]
