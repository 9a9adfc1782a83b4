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
from dataclasses import dataclass
from datetime import timedelta

from provenance_ledger.query.suspects import signals
from provenance_ledger.query.suspects.model import (
    Candidate,
    ConfigChange,
    IncidentFacts,
    Revert,
    Scored,
)
from provenance_ledger.query.suspects.signals import Add, count
from provenance_ledger.query.suspects.weights import BIAS, PROD_NAMES, TEMPERATURE, WEIGHTS

__all__ = [
    "Bounds",
    "Candidate",
    "ConfigChange",
    "IncidentFacts",
    "Revert",
    "Scored",
    "bounded",
    "most_promising",
    "pruned",
    "rank",
]


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


@dataclass(frozen=True)
class Bounds:
    """A candidate scored without its change facts: its tier and the least and most its
    logit can be once they are known."""

    tier: int
    low: float
    up: float
    candidate: Candidate

    def reaches(self, pivot: Scored) -> bool:
        """Whether, at best, it ranks at or above ``pivot`` (ties kept: order breaks them)."""
        return self.tier < pivot.tier or (self.tier == pivot.tier and self.up >= pivot.logit)


def bounded(candidates: list[Candidate], incident: IncidentFacts) -> list[Bounds]:
    """Scored without change facts, a deployment's logit can later rise by at most the risk
    cap and fall by at most the docs-only penalty; a configuration change applied from a
    commit can only rise, by at most the risk cap. Nothing else depends on them."""
    out = []
    for candidate in candidates:
        base = score(candidate, incident)
        deployment = candidate.kind == "deployment"
        spread = deployment or (candidate.kind == "config_change" and bool(candidate.commits))
        up = base.logit + (WEIGHTS["risk_cap"] if spread else 0.0)
        low = base.logit + (WEIGHTS["docs_only"] if deployment else 0.0)
        out.append(Bounds(base.tier, low, up, candidate))
    return out


def pruned(bounds: list[Bounds], limit: int) -> list[Bounds]:
    """Those that can still reach the top ``limit``: whoever cannot beat the ``limit``-th
    best lower bound is dropped."""
    if len(bounds) <= limit:
        return bounds
    pivot = sorted(bounds, key=lambda b: (b.tier, -b.low))[limit - 1]
    return [
        b for b in bounds if b.tier < pivot.tier or (b.tier == pivot.tier and b.up >= pivot.low)
    ]


def most_promising(bounds: list[Bounds], most: int) -> tuple[list[Bounds], list[Bounds]]:
    """The ``most`` with the best upper bounds, and the rest."""
    ordered = sorted(bounds, key=lambda b: (b.tier, -b.up, b.candidate.event_id))
    return ordered[:most], ordered[most:]


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
    logit += _rollbacks(c, incident, add) if c.kind != "agent_action" else 0.0
    logit += KIND_SIGNALS[c.kind](c, add)
    if tier == 1 and c.rejected_commits:
        logit += add(
            "rejected_commit",
            f"{len(c.rejected_commits)} of {len(c.commits)} shipped commits were rejected",
            WEIGHTS["rejected_commit"],
        )
    plain = min(0.9999, max(0.0001, round(_sigmoid(TEMPERATURE * logit), 4)))
    value = {0: 1.0, 2: 0.0}.get(tier, plain)
    return Scored(c, tier, logit, value, reasons)


KIND_SIGNALS = {
    "deployment": signals.shipped,
    "agent_action": signals.action,
    "config_change": signals.configured,
}
_NOUNS = {"deployment": "deployment", "agent_action": "agent action"}


def _noun(c: Candidate) -> str:
    return _NOUNS.get(c.kind, "configuration change")


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _time_and_place(c: Candidate, incident: IncidentFacts, add: Add) -> float:
    gap = incident.impact - c.time
    logit = 0.0
    if gap < timedelta(0):
        logit += add(
            "after_impact", f"{humanize(-gap)} after impact started (named by a verdict)", -10.0
        )
    else:
        minutes = gap.total_seconds() / 60
        weight = WEIGHTS["time_per_doubling"] * math.log2(1 + minutes / 10)
        verb = {"deployment": "deployed", "agent_action": "acted"}.get(c.kind, "changed")
        logit += add("time_proximity", f"{verb} {humanize(gap)} before impact started", weight)
    if not c.in_window:
        add("outside_lookback", "outside the lookback window; listed because of a verdict")
    if c.path:
        hops = len(c.path) - 1
        logit += add(
            "upstream_dependency",
            f"{' → '.join(c.path)}: {c.path[-1]} is a dependency of the incident's "
            f"{c.path[0]}, {count(hops, 'hop')} away (as registered at impact start)",
            WEIGHTS["dependency_hop"] * hops,
        )
    elif c.service in incident.services:
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


def _rollbacks(c: Candidate, incident: IncidentFacts, add: Add) -> float:
    """A rollback of a deployment, or a configuration change putting back what a
    configuration change set: before impact it was not live; during the incident it is the
    strongest evidence short of a verdict, the more so when the incident resolved soon after."""
    before = [r for r in c.reverts if r.rolled_back_at < incident.impact]
    if before:
        return add(
            "reverted_before_impact",
            f"reverted {humanize(incident.impact - before[0].rolled_back_at)} before impact "
            f"started (by {before[0].undo} {before[0].rollback_event_id}), so it was not live",
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
            f"reverted by {best.undo} {best.rollback_event_id} {when} after impact started, "
            "but the incident went on until a later rollback",
            WEIGHTS["rollback_did_not_fix"],
        )
    sole = best.reverted_candidates <= 1
    logit = add(
        "rolled_back_during_incident",
        f"reverted by {best.undo} {best.rollback_event_id} {when} after impact started"
        + ("" if sole else f" (and {count(best.reverted_candidates - 1, 'other ' + _noun(c))})"),
        WEIGHTS["rolled_back_during_incident" if sole else "rolled_back_with_others"],
    )
    if incident.resolved_at is not None:
        after = incident.resolved_at - best.rolled_back_at
        detail = f"the incident resolved {humanize(after)} after that {best.undo}"
        if after <= timedelta(minutes=30):
            logit += add(
                "resolved_soon_after_rollback", detail, WEIGHTS["resolved_soon_after_rollback"]
            )
        elif after <= timedelta(hours=2):
            logit += add("resolved_after_rollback", detail, WEIGHTS["resolved_after_rollback"])
    return logit
