"""Each suspect signal on the real stack (Kafka → LedgerConsumer → DuckDB → query), each
with distractors that "the latest deploy anywhere" gets wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from provenance_ledger.query.readmodels.incidents import find_incident
from provenance_ledger.query.suspects.finder import suspects_for
from tests.support.provstory import Story, ingest, sha

pytestmark = pytest.mark.kafka

DEV, SENIOR, PRINCIPAL, JUNIOR = "dev@shop", "sam@shop", "pia@shop", "jo@shop"


def people(story: Story) -> None:
    story.person(DEV, "mid")
    story.person(SENIOR, "senior")
    story.person(PRINCIPAL, "principal")
    story.person(JUNIOR, "junior")


def suspects(settings, story: Story, incident: str, lookback_h: float = 24) -> list[dict]:
    ledger = ingest(settings, story.events)
    try:
        cur = ledger.cursor()
        answer = suspects_for(cur, incident, timedelta(hours=lookback_h), 10)
        assert answer is not None
        found, ranked = answer
        assert found == find_incident(cur, incident)
        return ranked
    finally:
        ledger.close()


def ids(ranked: list[dict]) -> list[str]:
    return [s["event_id"] for s in ranked]


def reason_codes(suspect: dict) -> set[str]:
    return {r["code"] for r in suspect["reasons"]}


def test_nearest_deploy_of_the_incident_service_and_environment(settings):
    s = Story()
    people(s)
    s.change(1, DEV, -300, lines_added=40, files=["src/cart.py"])
    s.deploy("dep-culprit", "checkout", "prod", -12, repo="shop/checkout", commit=sha(1))
    s.deploy("dep-older", "checkout", "prod", -200)
    s.deploy("dep-other-service", "search", "prod", -2)
    s.deploy("dep-staging", "checkout", "staging", -5)
    s.deploy("dep-after-impact", "checkout", "prod", 5)
    s.deploy("dep-too-old", "checkout", "prod", -26 * 60)
    s.incident("INC-1", ["checkout"])

    ranked = suspects(settings, s, "INC-1")

    assert ids(ranked) == ["dep-culprit", "dep-older"]
    top = ranked[0]
    assert top["rank"] == 1 and 0 < top["score"] <= 1
    assert {"time_proximity", "same_service", "same_environment"} <= reason_codes(top)
    assert top["changes"][0]["commit"] == sha(1)
    assert top["changes"][0]["author"] == DEV


def test_the_deploy_a_rollback_reverted_before_the_fix_beats_a_nearer_one(settings):
    s = Story()
    people(s)
    s.deploy("dep-base", "checkout", "prod", -600, version="v1")
    s.deploy("dep-culprit", "checkout", "prod", -45, version="v2")
    s.deploy("dep-nearer", "checkout", "prod", -8, version="v3")
    s.deploy("dep-staging", "checkout", "staging", -3, version="v3")
    s.rollback("rb-staging", "checkout", "staging", "v3", "v2", 5)
    # Responders first undo the newest deploy: the incident goes on. Then v2: it stops.
    s.rollback("rb-first", "checkout", "prod", "v3", "v2", 10)
    s.rollback("rb-fix", "checkout", "prod", "v2", "v1", 25)
    s.incident("INC-2", ["checkout"], resolved=32)

    ranked = suspects(settings, s, "INC-2")

    assert ids(ranked)[:2] == ["dep-culprit", "dep-nearer"]
    assert {"rolled_back_during_incident", "resolved_soon_after_rollback"} <= reason_codes(
        ranked[0]
    )
    assert "went on until a later rollback" in " ".join(r["detail"] for r in ranked[1]["reasons"])


def test_a_destructive_agent_action_minutes_before_beats_an_innocent_deploy(settings):
    s = Story()
    people(s)
    s.change(2, SENIOR, -200, lines_added=3, files=["src/copy.py"])
    s.review(2, PRINCIPAL, -150)
    s.deploy("dep-innocent", "checkout", "prod", -60, repo="shop/checkout", commit=sha(2))
    s.action("act-migrate", "apply_migration", -4, destructive=True)
    s.action("act-other-service", "delete_environment", -2, True, service="search")
    s.action("act-staging", "recreate_environment", -1, True, env="staging")
    s.action("act-scale", "scale", -3, destructive=False)
    s.incident("INC-3", ["checkout"])

    ranked = suspects(settings, s, "INC-3")

    assert ids(ranked)[0] == "act-migrate"
    assert set(ids(ranked)) == {"act-migrate", "act-scale", "dep-innocent"}
    assert ranked[0]["kind"] == "agent_action"
    assert {"destructive_action", "unauthorized_action"} <= reason_codes(ranked[0])
    scale = next(x for x in ranked if x["event_id"] == "act-scale")
    assert "non_destructive_action" in reason_codes(scale)
    assert scale["action"]["destructive"] is False


def test_risk_of_what_shipped_separates_deploys_at_similar_times(settings):
    s = Story()
    people(s)
    s.change(
        3,
        JUNIOR,
        -120,
        lines_added=700,
        lines_deleted=200,
        files=[f"src/m{n}.py" for n in range(30)],
        ai=[{"tool": "cursor", "model": "gpt-5", "mode": "agent", "lines": 650}],
    )
    s.review(3, DEV, -90)  # approved, but by a mid-level engineer
    s.add(
        "artifact.built",
        {"artifact": "oci://shop/checkout@sha256:abc", "repo": "shop/checkout", "commit": sha(3)},
        "art-3",
        -80,
    )
    s.change(4, SENIOR, -100, lines_added=8, files=["src/banner.py"])
    s.review(4, PRINCIPAL, -95)
    # The risky one shipped only by artifact: the ledger links artifact → commit.
    s.deploy("dep-risky", "checkout", "prod", -20, artifact="oci://shop/checkout@sha256:abc")
    s.deploy("dep-safe", "checkout", "prod", -15, repo="shop/checkout", commit=sha(4))
    s.deploy("dep-partial", "checkout", "prod", -14, fleet_percent=5)
    s.incident("INC-4", ["checkout"])

    ranked = suspects(settings, s, "INC-4")

    assert ids(ranked)[0] == "dep-risky"
    assert {"ai_without_senior_approval", "agent_mode_ai", "large_change", "many_files"} <= (
        reason_codes(ranked[0])
    )
    change = ranked[0]["changes"][0]
    assert change["commit"] == sha(3) and change["senior_approved"] is False
    assert change["ai"][0]["tool"] == "cursor" and change["ai"][0]["mode"] == "agent"
    assert change["reviews"][0]["reviewer_level"] == "mid"
    safe = next(x for x in ranked if x["event_id"] == "dep-safe")
    assert safe["changes"][0]["senior_approved"] is True
    assert "partial_rollout" in reason_codes(
        next(x for x in ranked if x["event_id"] == "dep-partial")
    )


def test_human_verdicts_override_the_evidence(settings):
    s = Story()
    people(s)
    s.change(5, DEV, -500)
    s.deploy("dep-far", "checkout", "prod", -300)
    s.deploy("dep-middle", "checkout", "prod", -60)
    s.deploy("dep-near", "checkout", "prod", -3)
    s.deploy("dep-commit", "checkout", "prod", -400, repo="shop/checkout", commit=sha(5))
    s.deploy("dep-changed-mind", "checkout", "prod", -2)
    s.incident("INC-5", ["checkout"])
    s.attribute("INC-5", "confirmed", 40, deployment="dep-far")
    s.attribute("INC-5", "rejected", 41, deployment="dep-near")
    s.attribute("INC-5", "confirmed", 42, commit=sha(5), repo="shop/checkout")
    # The latest verdict on a target stands.
    s.attribute("INC-5", "confirmed", 43, deployment="dep-changed-mind")
    s.attribute("INC-5", "rejected", 44, deployment="dep-changed-mind")
    s.attribute("OTHER-INC", "confirmed", 45, deployment="dep-middle")

    ranked = suspects(settings, s, "INC-5")

    assert ids(ranked)[:3] == ["dep-far", "dep-commit", "dep-middle"] or ids(ranked)[:3] == [
        "dep-commit",
        "dep-far",
        "dep-middle",
    ]
    assert {ranked[0]["score"], ranked[1]["score"]} == {1.0}
    assert set(ids(ranked)[-2:]) == {"dep-near", "dep-changed-mind"}
    assert ranked[-1]["score"] == 0.0
    assert "rejected_attribution" in reason_codes(ranked[-1])


def test_an_incident_without_environment_prefers_production(settings):
    s = Story()
    people(s)
    s.deploy("dep-staging", "checkout", "staging", -4)
    s.deploy("dep-prod", "checkout", "prod", -40)
    s.deploy("dep-other", "search", "prod", -1)
    s.incident("INC-6", ["checkout"], env=None)

    ranked = suspects(settings, s, "INC-6")

    assert ids(ranked) == ["dep-prod", "dep-staging"]
    assert "non_production" in reason_codes(ranked[1])


def test_prod_synonyms_and_a_confirmed_commit_shipped_before_the_lookback(settings):
    s = Story()
    people(s)
    s.change(6, DEV, -40 * 60)
    s.deploy("dep-old-culprit", "checkout", "prod", -30 * 60, repo="shop/checkout", commit=sha(6))
    s.deploy(
        "dep-old-staging", "checkout", "staging", -31 * 60, repo="shop/checkout", commit=sha(6)
    )
    s.deploy("dep-recent", "checkout", "PROD", -10)
    s.incident("INC-7", ["checkout"], env="production")
    s.attribute("INC-7", "confirmed", 30, commit=sha(6), repo="shop/checkout")

    ranked = suspects(settings, s, "INC-7")

    assert ids(ranked) == ["dep-old-culprit", "dep-recent"]
    assert {"confirmed_attribution", "outside_lookback"} <= reason_codes(ranked[0])
