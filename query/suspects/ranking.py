"""Pure suspect scoring: facts about a candidate in, a score with its reasons out. No I/O.

Each signal adds log-odds (query/suspects/weights.py); the sum passes through a logistic
curve, so the score is in (0, 1) and no single risk signal can outweigh hours of distance in
time. Whether a change was senior-approved, or an author or authorizer senior, is as the
policy in force defines it (``CommitFacts``, ``Candidate.authorized_senior``). Human
verdicts override it: a standing confirmed attribution scores 1 and ranks first, a rejected
one scores 0 and ranks last. docs/ranking.md explains each signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from provenance_ledger.query.readmodels.commitfacts import CommitFacts
from provenance_ledger.query.suspects.weights import (
    BIAS,
    DOC_FILE,
    PROD_NAMES,
    RISKY_ACTION,
    TEMPERATURE,
    WEIGHTS,
)


@dataclass(frozen=True)
class Revert:
    rollback_event_id: str
    rolled_back_at: datetime
    reverted_candidates: int  # how many candidate deployments the same rollback reverted
    superseded: bool = False  # another rollback followed it before the incident resolved


@dataclass(frozen=True)
class Candidate:
    kind: str  # "deployment" | "agent_action"
    event_id: str
    seq: int
    service: str | None
    environment: str | None
    time: datetime
    region: str | None = None
    fleet_percent: float | None = None
    deployer_kind: str | None = None
    commits: tuple[str, ...] = ()  # every commit it shipped
    changes: tuple[CommitFacts, ...] = ()  # what the ledger knows of them (may be a subset)
    action: str | None = None
    agent_tool: str | None = None
    agent_session: str | None = None
    destructive: bool = False
    authorized_level: str | None = None
    authorized_by: str | None = None
    authorized_senior: bool = False  # senior (as the policy in force says) when it acted
    reverts: tuple[Revert, ...] = ()
    verdict: str | None = None  # standing verdict on this target: confirmed | rejected
    verdict_by: str | None = None
    confirmed_commits: tuple[str, ...] = ()
    rejected_commits: tuple[str, ...] = ()
    in_window: bool = True
    redeploy_of: str | None = None  # the version it repeats from the deployment before it


@dataclass(frozen=True)
class IncidentFacts:
    services: tuple[str, ...]
    environment: str | None
    impact: datetime
    resolved_at: datetime | None = None
    region: str | None = None


@dataclass
class Scored:
    candidate: Candidate
    tier: int  # 0 confirmed, 1 ranked by evidence, 2 rejected
    logit: float
    score: float
    reasons: list[dict[str, str]] = field(default_factory=list)


def humanize(gap: timedelta) -> str:
    minutes = gap.total_seconds() / 60
    if minutes < 1:
        return f"{int(gap.total_seconds())} s"
    if minutes < 120:
        return f"{int(minutes)} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"


def rank(candidates: list[Candidate], incident: IncidentFacts, limit: int) -> list[Scored]:
    scored = [score(candidate, incident) for candidate in candidates]
    scored.sort(key=_order)
    return scored[:limit]


def contenders(
    candidates: list[Candidate], incident: IncidentFacts, limit: int, most: int | None = None
) -> list[Candidate]:
    """The candidates that can still reach the top ``limit`` once their changes are known.

    Scored without change facts, a deployment's logit can later rise by at most the risk
    cap and fall by at most the docs-only penalty. Whoever cannot beat the ``limit``-th best
    lower bound is dropped before the (costly) change look-ups. ``most`` then caps how many
    are looked at, best upper bound first: on a service that deploys every few minutes, the
    twentieth deploy of the day is hours behind fifteen nearer ones.
    """
    bounds = []
    for candidate in candidates:
        base = score(candidate, incident)
        spread = candidate.kind == "deployment"  # its changes may not be known yet
        up = base.logit + (WEIGHTS["risk_cap"] if spread else 0.0)
        low = base.logit + (WEIGHTS["docs_only"] if spread else 0.0)
        bounds.append((base.tier, low, up, candidate))
    kept = bounds
    if len(bounds) > limit:
        pivot_tier, pivot_low, _, _ = sorted(bounds, key=lambda b: (b[0], -b[1]))[limit - 1]
        kept = [
            b for b in bounds if b[0] < pivot_tier or (b[0] == pivot_tier and b[2] >= pivot_low)
        ]
    if most is not None and len(kept) > most:
        kept = sorted(kept, key=lambda b: (b[0], -b[2], b[3].event_id))[:most]
    return [b[3] for b in kept]


def _order(item: Scored) -> tuple:
    c = item.candidate
    return (item.tier, -item.logit, -c.time.timestamp(), c.kind, c.event_id, c.seq)


def score(c: Candidate, incident: IncidentFacts) -> Scored:
    reasons: list[dict[str, str]] = []

    def add(code: str, detail: str, weight: float = 0.0) -> float:
        reasons.append({"code": code, "detail": detail})
        return weight

    tier = 1
    if c.verdict == "confirmed" or c.confirmed_commits:
        tier = 0
        what = c.verdict_by or "a responder"
        if c.verdict == "confirmed":
            add("confirmed_attribution", f"{what} confirmed this {_noun(c)} caused the incident")
        else:
            shas = ", ".join(sha[:10] for sha in c.confirmed_commits)
            add(
                "confirmed_attribution", f"a responder confirmed shipped commit {shas} as the cause"
            )
    elif c.verdict == "rejected":
        tier = 2
        add("rejected_attribution", f"{c.verdict_by or 'a responder'} rejected this {_noun(c)}")
    elif c.commits and set(c.rejected_commits) >= set(c.commits):
        tier = 2
        add("rejected_attribution", "every commit it shipped was rejected as the cause")

    logit = BIAS + _time_and_place(c, incident, add)
    logit += _rollbacks(c, incident, add) if c.kind == "deployment" else 0.0
    logit += _action(c, add) if c.kind == "agent_action" else _shipped(c, add)
    if tier == 1 and c.rejected_commits:
        logit += add(
            "rejected_commit",
            f"{len(c.rejected_commits)} of {len(c.commits)} shipped commits were rejected",
            WEIGHTS["rejected_commit"],
        )
    plain = min(0.9999, max(0.0001, round(_sigmoid(TEMPERATURE * logit), 4)))
    value = {0: 1.0, 2: 0.0}.get(tier, plain)
    return Scored(c, tier, logit, value, reasons)


def _noun(c: Candidate) -> str:
    return "deployment" if c.kind == "deployment" else "agent action"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _time_and_place(c: Candidate, incident: IncidentFacts, add) -> float:
    gap = incident.impact - c.time
    logit = 0.0
    if gap < timedelta(0):
        logit += add(
            "after_impact", f"{humanize(-gap)} after impact started (named by a verdict)", -10.0
        )
    else:
        minutes = gap.total_seconds() / 60
        weight = WEIGHTS["time_per_doubling"] * math.log2(1 + minutes / 10)
        verb = "deployed" if c.kind == "deployment" else "acted"
        logit += add("time_proximity", f"{verb} {humanize(gap)} before impact started", weight)
    if not c.in_window:
        add("outside_lookback", "outside the lookback window; listed because of a verdict")
    if c.service in incident.services:
        add("same_service", f"{c.service} is named by the incident")
    elif c.service is None:
        add("environment_wide", f"targets all of {c.environment}, not one service")
    if incident.environment is not None:
        add("same_environment", f"in {c.environment}, the incident's environment")
    elif (c.environment or "").lower() not in PROD_NAMES:
        logit += add(
            "non_production",
            f"in {c.environment}, not production (the incident names no environment)",
            WEIGHTS["non_production"],
        )
    if incident.region and c.region:
        if c.region.lower() == incident.region.lower():
            logit += add(
                "same_region", f"in {c.region}, the incident's region", WEIGHTS["same_region"]
            )
        else:
            logit += add(
                "other_region",
                f"in {c.region}, the incident is in {incident.region}",
                WEIGHTS["other_region"],
            )
    return logit


def _rollbacks(c: Candidate, incident: IncidentFacts, add) -> float:
    before = [r for r in c.reverts if r.rolled_back_at < incident.impact]
    if before:
        return add(
            "reverted_before_impact",
            f"rolled back {humanize(incident.impact - before[0].rolled_back_at)} before impact "
            f"started ({before[0].rollback_event_id}), so it was not live",
            WEIGHTS["reverted_before_impact"],
        )
    during = [
        r
        for r in c.reverts
        if incident.resolved_at is None or r.rolled_back_at <= incident.resolved_at
    ]
    if not during:
        return 0.0
    best = min(during, key=lambda r: (r.superseded, r.reverted_candidates, r.rolled_back_at))
    when = humanize(best.rolled_back_at - incident.impact)
    if best.superseded:
        return add(
            "rolled_back_during_incident",
            f"reverted by rollback {best.rollback_event_id} {when} after impact started, but "
            "the incident went on until a later rollback",
            WEIGHTS["rollback_did_not_fix"],
        )
    sole = best.reverted_candidates <= 1
    logit = add(
        "rolled_back_during_incident",
        f"reverted by rollback {best.rollback_event_id} {when} after impact started"
        + ("" if sole else f" (and {_count(best.reverted_candidates - 1, 'other deployment')})"),
        WEIGHTS["rolled_back_during_incident" if sole else "rolled_back_with_others"],
    )
    if incident.resolved_at is not None:
        after = incident.resolved_at - best.rolled_back_at
        detail = f"the incident resolved {humanize(after)} after that rollback"
        if after <= timedelta(minutes=30):
            logit += add(
                "resolved_soon_after_rollback", detail, WEIGHTS["resolved_soon_after_rollback"]
            )
        elif after <= timedelta(hours=2):
            logit += add("resolved_after_rollback", detail, WEIGHTS["resolved_after_rollback"])
    return logit


def _action(c: Candidate, add) -> float:
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


def _shipped(c: Candidate, add) -> float:
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


def _ai_risk(changes: tuple[CommitFacts, ...], add) -> float:
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


def _size_risk(changes: tuple[CommitFacts, ...], add) -> float:
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


def _review_risk(changes: tuple[CommitFacts, ...], add) -> float:
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


def _rollout(c: Candidate, add) -> float:
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


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _shas(changes: list[CommitFacts]) -> str:
    return ", ".join(ch.commit[:10] for ch in changes[:3]) + (" …" if len(changes) > 3 else "")
