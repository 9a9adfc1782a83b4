"""``GET /v1/policy/check``: the senior-sign-off gate CI calls (``provledger check``), for a
commit, an agent action or a configuration change."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from provenance_ledger.query.api.deps import Cursor
from provenance_ledger.query.api.errors import ApiError
from provenance_ledger.query.policy.facts import (
    action_facts,
    commit_facts,
    commit_known,
    config_change_facts,
)
from provenance_ledger.query.policy.gate import Policy, PolicyError, evaluate
from provenance_ledger.query.policy.inforce import policy_in_force

router = APIRouter(tags=["policy"])


class Violation(BaseModel):
    rule: str
    detail: str


class PolicyResult(BaseModel):
    compliant: bool
    violations: list[Violation]
    checked: list[str]
    ignored: list[Violation] = Field(
        [],
        description="approvals a rule did not count because of their origin (its trusted_origins)",
    )


def current_policy() -> Policy:
    """The rules file is re-read when it changes, so edits apply without a restart."""
    try:
        return policy_in_force()
    except PolicyError as exc:
        raise ApiError(500, f"policy rules unusable ({exc}); fix PROVLEDGER_POLICY") from exc


@router.get("/v1/policy/check", response_model=PolicyResult)
def policy_check(
    cur: Cursor,
    repo: Annotated[str | None, Query(max_length=300, description="org/name")] = None,
    commit: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]{40}$")] = None,
    action: Annotated[
        str | None, Query(max_length=300, description="agent.action event id")
    ] = None,
    config_change: Annotated[
        str | None, Query(max_length=300, description="config.changed event id")
    ] = None,
) -> dict[str, Any]:
    policy = current_policy()
    if action is not None:
        actions = action_facts(cur, action)
        if not actions:
            raise ApiError(404, f"unknown agent action {action!r}")
        verdict = evaluate(policy, [], actions)
        checked = [f"action {action}"]
    elif config_change is not None:
        configs = config_change_facts(cur, config_change, policy.seniority)
        if not configs:
            raise ApiError(404, f"unknown configuration change {config_change!r}")
        verdict = evaluate(policy, [], [], configs)
        checked = [f"config change {config_change}"]
    elif repo and commit:
        sha = commit.lower()
        if not commit_known(cur, repo, sha):
            raise ApiError(
                404,
                f"unknown commit {repo}@{sha}: no change.authored or change.merged event names "
                "it (emit one, e.g. with `provledger backfill git`)",
            )
        changes, actions = commit_facts(cur, repo, sha, policy.seniority)
        verdict = evaluate(policy, changes, actions)
        checked = [f"change {c.repo}@{c.commit}" for c in changes]
        checked += [f"action {a.event_id}" for a in actions]
    else:
        raise ApiError(400, "give repo and commit (or action=EVENT_ID, or config_change=EVENT_ID)")
    return {
        "compliant": verdict.compliant,
        "violations": [{"rule": v.rule, "detail": v.detail} for v in verdict.violations],
        "checked": checked,
        "ignored": [{"rule": v.rule, "detail": v.detail} for v in verdict.ignored],
    }
