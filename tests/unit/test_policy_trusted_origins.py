"""The approval rule's trusted_origins: approvals and levels from other origins do not count,
and the verdict names each approval it ignored; without the setting every origin counts."""

from __future__ import annotations

from datetime import UTC, datetime

from provenance_ledger.query.policy.gate import AiChangeApproval, Policy, evaluate
from provenance_ledger.query.policy.levels import Levels
from provenance_ledger.query.readmodels.commitfacts import CommitFacts

T0 = datetime(2026, 11, 1, tzinfo=UTC)
LATER = datetime(2026, 11, 2, tzinfo=UTC)


def change(review_origin: str, level_origin: str) -> CommitFacts:
    levels = Levels([("sam@acme", "senior", T0, 1, level_origin)])
    review = {
        "reviewer": "sam@acme",
        "reviewer_name": None,
        "reviewer_level": levels.at("sam@acme", LATER),
        "decision": "approved",
        "change": None,
        "reviewed_at": LATER,
        "event_id": "r-1",
        "origin": review_origin,
    }
    return CommitFacts(
        "acme/shop",
        "a" * 40,
        author="bob@acme",
        ai=({"tool": "aider"},),
        reviews=(review,),
        known=True,
        authored_at=T0,
        levels=levels,
    )


def policy(trusted: list[str] | None) -> Policy:
    rule = AiChangeApproval(kind="ai-change-approval", id="needs-senior", trusted_origins=trusted)
    return Policy(rules=[rule])


def test_every_origin_counts_without_trusted_origins():
    verdict = evaluate(policy(None), [change("kafka", "kafka")], [])
    assert verdict.compliant and verdict.ignored == []


def test_an_approval_from_an_untrusted_origin_is_ignored_and_named():
    verdict = evaluate(policy(["webhook:*"]), [change("kafka", "webhook:hr")], [])
    assert not verdict.compliant
    assert "sam@acme (origin kafka)" in verdict.violations[0].detail
    [ignored] = verdict.ignored
    assert ignored.rule == "needs-senior"
    assert "sam@acme (r-1)" in ignored.detail and "origin kafka" in ignored.detail


def test_a_level_from_an_untrusted_origin_does_not_count():
    verdict = evaluate(policy(["webhook:*"]), [change("webhook:github", "kafka")], [])
    assert not verdict.compliant and verdict.ignored == []
    assert "sam@acme approved but was level unknown" in verdict.violations[0].detail


def test_trusted_approval_and_level_count():
    verdict = evaluate(
        policy(["webhook:*", "api-token:hr"]), [change("webhook:github", "api-token:hr")], []
    )
    assert verdict.compliant and verdict.ignored == []
