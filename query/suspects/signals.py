"""What each kind of candidate is, as signals: an agent action's destructiveness, what a
deployment shipped, what a configuration change set. Pure; query/suspects/ranking.py adds
these to the signals every candidate has (time, place, rollbacks, verdicts).

Each function takes the candidate and ``add(code, detail, weight)``, which records a reason
and returns its weight, and returns the log-odds it adds.
"""

from __future__ import annotations

from collections.abc import Callable

from provenance_ledger.query.readmodels.commitfacts import CommitFacts
from provenance_ledger.query.suspects.model import Candidate, ConfigChange
from provenance_ledger.query.suspects.weights import (
    DESTRUCTIVE_CONFIG,
    DOC_FILE,
    RISKY_ACTION,
    WEIGHTS,
)

Add = Callable[..., float]
# Longer values are cut in reasons (the suspect's config object has them whole).
SHOWN_VALUE_CHARS = 60


def action(c: Candidate, add: Add) -> float:
    name = c.action or "action"
    if c.destructive:
        logit = add(
            "destructive_action", f"destructive agent action {name}", WEIGHTS["destructive_action"]
        )
        if not c.authorized_senior:
            who = (
                f"by {c.authorized_by} ({c.authorized_level or 'level unknown'})"
                if c.authorized_by
                else ""
            )
            logit += add(
                "unauthorized_action",
                f"not authorized by a senior or principal {who}".strip(),
                WEIGHTS["unauthorized_action"],
            )
        return logit
    if RISKY_ACTION.search(name.lower()):
        return add(
            "risky_action",
            f"agent action {name} changes data or infrastructure",
            WEIGHTS["risky_action"],
        )
    return add(
        "non_destructive_action",
        f"agent action {name} is not destructive",
        WEIGHTS["non_destructive_action"],
    )


def shipped(c: Candidate, add: Add) -> float:
    if not c.changes:
        add("changes_unknown", "the ledger knows no changes this deployment shipped")
        return _rollout(c, add)
    risk = _ai_risk(c.changes, add) + _size_risk(c.changes, add) + _review_risk(c.changes, add)
    if c.deployer_kind == "ai_agent":
        risk += add("ai_agent_deployer", "deployed by an AI agent", WEIGHTS["ai_agent_deployer"])
    logit = min(risk, WEIGHTS["risk_cap"])
    if all(ch.known and ch.files for ch in c.changes) and all(
        DOC_FILE.search(f) for ch in c.changes for f in ch.files
    ):
        logit += add("docs_only", "only documentation files changed", WEIGHTS["docs_only"])
    return logit + _rollout(c, add)


def configured(c: Candidate, add: Add) -> float:
    """A configuration change: what it set, whether it destroys something, who or which AI
    made it, and what is known of the commit it was applied from (as for a deployment)."""
    config = c.config or ConfigChange(kind="config")
    add("config_change", _what_changed(config))
    logit = 0.0
    if config.action and DESTRUCTIVE_CONFIG.search(config.action.lower()):
        logit += add(
            "destructive_config_change",
            f"{config.action} of {config.kind} {config.key or config.resource or ''}".strip(),
            WEIGHTS["destructive_config_change"],
        )
    risk = 0.0
    if config.made_by_ai:
        tools = ", ".join(config.ai_tools) or f"agent {config.actor or 'unknown'}"
        risk += add("ai_config_change", f"made by AI ({tools})", WEIGHTS["ai_config_change"])
    if c.changes:
        risk += _ai_risk(c.changes, add) + _size_risk(c.changes, add)
        risk += _review_risk(c.changes, add)
    elif c.commits:
        add("changes_unknown", f"the ledger knows nothing of commit {c.commits[0][:10]}")
    return min(risk, WEIGHTS["risk_cap"]) + logit + _rollout(c, add)


def _what_changed(config: ConfigChange) -> str:
    subject = f"{config.kind} {config.key or config.resource or ''}".strip()
    if config.kind == "secret":
        return f"{subject} changed (a secret: its values are never recorded)"
    if config.from_value is None and config.to_value is None:
        return f"{subject}: {config.action or 'changed'}"
    return f"{subject}: {_shown(config.from_value)} → {_shown(config.to_value)}"


def _shown(value: str | None) -> str:
    if value is None:
        return "(not given)"
    return value if len(value) <= SHOWN_VALUE_CHARS else value[: SHOWN_VALUE_CHARS - 1] + "…"


def _ai_risk(changes: tuple[CommitFacts, ...], add: Add) -> float:
    """AI-assisted changes no one senior approved, and changes an AI agent wrote."""
    risk = 0.0
    unapproved = [ch for ch in changes if ch.ai and not ch.senior_approved]
    junior = [ch for ch in unapproved if not ch.author_senior]
    if junior:
        risk += add(
            "ai_without_senior_approval",
            f"{_shas(junior)}: AI-assisted, author {junior[0].author_level or 'level unknown'}, "
            "no approval by a senior",
            WEIGHTS["ai_without_senior_approval"],
        )
    elif unapproved:
        risk += add(
            "ai_without_senior_approval",
            f"{_shas(unapproved)}: AI-assisted by a senior author, no senior review",
            WEIGHTS["ai_unreviewed_by_senior"],
        )
    agents = [ch for ch in changes if any(ai.get("mode") == "agent" for ai in ch.ai)]
    if agents:
        tools = sorted({ai["tool"] for ch in agents for ai in ch.ai if ai.get("mode") == "agent"})
        risk += add(
            "agent_mode_ai",
            f"written by an AI agent ({', '.join(tools)})",
            WEIGHTS["agent_mode_ai"],
        )
    return risk


def _size_risk(changes: tuple[CommitFacts, ...], add: Add) -> float:
    risk = 0.0
    lines = sum(ch.lines or 0 for ch in changes)
    if lines >= 300:
        key = "large_change_1000" if lines >= 1000 else "large_change_300"
        risk += add("large_change", f"{lines} lines changed", WEIGHTS[key])
    files = {f for ch in changes for f in ch.files}
    if len(files) >= 10:
        key = "many_files_25" if len(files) >= 25 else "many_files_10"
        risk += add("many_files", f"{len(files)} files changed", WEIGHTS[key])
    return risk


def _review_risk(changes: tuple[CommitFacts, ...], add: Add) -> float:
    """Changes no one but their author approved, and changes shipped with changes requested."""
    risk = 0.0
    unreviewed = [ch for ch in changes if ch.known and not ch.approvals_by_others]
    if unreviewed:
        risk += add(
            "unreviewed",
            f"{_shas(unreviewed)}: no approval by anyone but the author",
            WEIGHTS["unreviewed"],
        )
    requested = [ch for ch in changes if ch.changes_requested]
    if requested:
        risk += add(
            "changes_requested",
            f"{_shas(requested)}: shipped with changes requested",
            WEIGHTS["changes_requested"],
        )
    return risk


def _rollout(c: Candidate, add: Add) -> float:
    logit = 0.0
    if c.redeploy_of is not None:
        logit += add(
            "redeploy",
            f"version {c.redeploy_of} again, as the deployment before it: nothing new shipped",
            WEIGHTS["redeploy"],
        )
    if c.fleet_percent is None or c.fleet_percent >= 100:
        return logit
    return logit + add(
        "partial_rollout",
        f"reached {c.fleet_percent:g}% of the fleet",
        WEIGHTS["partial_rollout"] * (1 - c.fleet_percent / 100),
    )


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _shas(changes: list[CommitFacts]) -> str:
    return ", ".join(ch.commit[:10] for ch in changes[:3]) + (" …" if len(changes) > 3 else "")
