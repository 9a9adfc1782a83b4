"""The policy gate's pure rules and their configuration (query/policy/gate.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from provenance_ledger.query.policy.gate import (
    ActionFacts,
    PolicyError,
    evaluate,
    load_policy,
)
from provenance_ledger.query.readmodels.commitfacts import CommitFacts

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DEFAULT = load_policy()
AI = ({"tool": "claude-code", "mode": "agent"},)


def review(who: str, level: str | None, decision: str = "approved") -> dict:
    return {"reviewer": who, "reviewer_level": level, "decision": decision, "reviewed_at": T0}


def change(author_level: str | None, *reviews: dict, ai=AI, author="ann@x") -> CommitFacts:
    return CommitFacts("acme/shop", "a" * 40, author, author_level, ai, tuple(reviews))


def rules_violated(changes=(), actions=(), policy=DEFAULT) -> list[str]:
    return [v.rule for v in evaluate(policy, list(changes), list(actions)).violations]


@pytest.mark.parametrize("level", ["junior", "mid", None])
def test_ai_change_by_junior_mid_or_unknown_author_needs_senior_approval(level):
    assert rules_violated([change(level)]) == ["ai-change-needs-senior-approval"]
    assert rules_violated([change(level, review("sam@x", "senior"))]) == []
    assert rules_violated([change(level, review("pia@x", "principal"))]) == []


@pytest.mark.parametrize("level", ["senior", "principal"])
def test_senior_and_principal_authors_need_no_approval(level):
    assert rules_violated([change(level)]) == []


def test_changes_without_ai_are_not_gated():
    assert rules_violated([change("junior", ai=())]) == []


@pytest.mark.parametrize("level", ["junior", "mid", None])
def test_approval_by_someone_below_senior_or_unregistered_does_not_count(level):
    verdict = evaluate(DEFAULT, [change("mid", review("bob@x", level))], [])
    assert not verdict.compliant
    assert "bob@x approved but was" in verdict.violations[0].detail


def test_self_approval_does_not_count_even_by_a_senior():
    # The author was promoted to senior after writing the change and approved it herself.
    verdict = evaluate(DEFAULT, [change("mid", review("ann@x", "senior"))], [])
    assert [v.rule for v in verdict.violations] == ["ai-change-needs-senior-approval"]
    assert "the author's own review does not count" in verdict.violations[0].detail


def test_changes_requested_or_comments_are_not_approvals():
    reviews = [
        review("sam@x", "senior", "changes_requested"),
        review("sam@x", "senior", "commented"),
    ]
    assert rules_violated([change("junior", *reviews)]) == ["ai-change-needs-senior-approval"]


def test_the_violation_says_what_to_do():
    detail = evaluate(DEFAULT, [change("junior")], []).violations[0].detail
    assert "acme/shop@aaaaaaaaaaaa" in detail and "claude-code" in detail
    assert "earlier revisions do not count" in detail


def action(destructive: bool, by: str | None = None, level: str | None = None) -> ActionFacts:
    return ActionFacts(
        "act-1", "delete_environment", destructive, T0 + timedelta(minutes=1), by, level
    )


def test_destructive_action_needs_senior_authorization():
    rule = ["destructive-agent-action-needs-authorization"]
    assert rules_violated(actions=[action(True)]) == rule
    assert rules_violated(actions=[action(True, "mo@x", "mid")]) == rule
    assert rules_violated(actions=[action(True, "gone@x", None)]) == rule
    assert rules_violated(actions=[action(True, "sam@x", "senior")]) == []
    assert rules_violated(actions=[action(True, "pia@x", "principal")]) == []
    assert rules_violated(actions=[action(False)]) == []


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_a_threshold_is_changed_in_the_file(tmp_path):
    policy = load_policy(
        write(
            tmp_path,
            """
rules:
  - id: ai-change-needs-principal-approval
    kind: ai-change-approval
    approver_at_least: principal
""",
        )
    )
    assert rules_violated([change("mid", review("sam@x", "senior"))], policy=policy) == [
        "ai-change-needs-principal-approval"
    ]
    assert rules_violated([change("mid", review("pia@x", "principal"))], policy=policy) == []
    # The file holds only this rule: destructive actions are no longer gated.
    assert rules_violated(actions=[action(True)], policy=policy) == []


def test_a_rule_instance_is_added_in_the_file(tmp_path):
    policy = load_policy(
        write(
            tmp_path,
            """
rules:
  - id: ai-change-needs-senior-approval
    kind: ai-change-approval
  - id: payments-needs-two-senior-approvals
    kind: ai-change-approval
    author_exempt_from: principal
    approvals: 2
    repos: ["acme/pay*"]
""",
        )
    )
    one = change("senior", review("sam@x", "senior"))
    assert rules_violated([one], policy=policy) == []
    paying = CommitFacts("acme/payments", "b" * 40, "ann@x", "senior", AI, one.reviews)
    assert rules_violated([paying], policy=policy) == ["payments-needs-two-senior-approvals"]
    twice = CommitFacts(
        "acme/payments", "b" * 40, "ann@x", "senior", AI, (*one.reviews, review("kim@x", "senior"))
    )
    assert rules_violated([twice], policy=policy) == []


def test_what_senior_means_is_set_once_and_every_rule_follows(tmp_path):
    packaged = load_policy()
    assert packaged.senior_at_least == "senior"
    policy = load_policy(
        write(
            tmp_path,
            packaged_text().replace("senior_at_least: senior", "senior_at_least: principal"),
        )
    )
    assert policy.seniority.levels == ("principal",)
    ai_rule, action_rule = (
        ["ai-change-needs-senior-approval"],
        ["destructive-agent-action-needs-authorization"],
    )
    assert rules_violated([change("mid", review("sam@x", "senior"))], policy=policy) == ai_rule
    assert rules_violated([change("mid", review("pia@x", "principal"))], policy=policy) == []
    assert rules_violated([change("senior")], policy=policy) == ai_rule  # no longer exempt
    assert rules_violated([change("principal")], policy=policy) == []
    assert rules_violated(actions=[action(True, "sam@x", "senior")], policy=policy) == action_rule
    assert rules_violated(actions=[action(True, "pia@x", "principal")], policy=policy) == []


def test_a_rule_may_still_set_its_own_threshold(tmp_path):
    policy = load_policy(
        write(
            tmp_path,
            """
senior_at_least: principal
rules:
  - id: mid-may-approve
    kind: ai-change-approval
    approver_at_least: mid
""",
        )
    )
    assert rules_violated([change("junior", review("mo@x", "mid"))], policy=policy) == []
    assert rules_violated([change("senior", review("jo@x", "junior"))], policy=policy) == [
        "mid-may-approve"
    ]


def packaged_text() -> str:
    return resources.files("provenance_ledger.query.policy").joinpath("policy.yaml").read_text()


def test_a_broken_rules_file_is_a_clear_error(tmp_path):
    with pytest.raises(PolicyError, match=r"policy\.yaml"):
        load_policy(write(tmp_path, "rules:\n  - id: x\n    kind: no-such-kind\n"))
    with pytest.raises(PolicyError, match="approver_at_least"):
        load_policy(
            write(
                tmp_path,
                "rules:\n  - id: x\n    kind: ai-change-approval\n    approver_at_least: boss\n",
            )
        )
    with pytest.raises(PolicyError, match="senior_at_least"):
        load_policy(write(tmp_path, "senior_at_least: lead\nrules: []\n"))
