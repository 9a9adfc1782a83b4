"""The policy gate's rules: loaded from YAML, evaluated purely on gathered facts.

The rules file is ``PROVLEDGER_POLICY`` if set, else the packaged ``query/policy/policy.yaml``
(query/policy/inforce.py reads the one in force). Besides the rules it defines who counts as
senior (``senior_at_least``, query/policy/definitions.py); a rule's level threshold left out
follows that definition. Each rule is an instance of a kind; a file may hold several
instances of one kind (say a stricter approval rule for some repos). query/policy/facts.py
gathers the facts from the ledger; nothing here does I/O except :func:`load_policy`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from provenance_ledger.query.policy.definitions import (
    CONTRACT_SENIOR_AT_LEAST,
    LEVELS,
    Seniority,
    meets,
)
from provenance_ledger.query.readmodels.commitfacts import CommitFacts
from provenance_ledger.schemas.errors import UsageProblem


def _known_level(name: str) -> str:
    if name not in LEVELS:
        raise ValueError(f"{name!r} is not a level ({', '.join(LEVELS)})")
    return name


Level = Annotated[str, AfterValidator(_known_level)]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    description: str = ""


class AiChangeApproval(_Rule):
    kind: Literal["ai-change-approval"]
    # Left out (None): the policy's senior_at_least, so the rule follows what senior means.
    author_exempt_from: Level | None = None  # authors at this level or above need no approval
    approver_at_least: Level | None = None  # the approver's level at review time
    approvals: int = Field(1, ge=1)
    repos: list[str] = ["*"]
    # Origins (ledger/origin.py; "*" matches any text) whose reviews and person.registered
    # levels this rule counts, e.g. ["webhook:*", "api-token:ci-reviews"]; None: every origin.
    trusted_origins: list[str] | None = None


class AgentActionAuthorization(_Rule):
    kind: Literal["agent-action-authorization"]
    authorizer_at_least: Level | None = None  # None: the policy's senior_at_least
    destructive_only: bool = True


class ConfigChangeAuthorization(_Rule):
    kind: Literal["config-change-authorization"]
    # fnmatch patterns, case aside: on config.changed's kind, and on its target environment
    # (a change that names no environment applies to every one, so it is always in scope).
    kinds: list[str] = ["feature_flag", "infrastructure"]
    environments: list[str] = ["prod", "production", "prd", "live"]
    ai_only: bool = True  # only changes an AI made: actor kind ai_agent, or an ai entry
    authorizer_at_least: Level | None = None  # None: the policy's senior_at_least


Rule = Annotated[
    AiChangeApproval | AgentActionAuthorization | ConfigChangeAuthorization,
    Field(discriminator="kind"),
]


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    senior_at_least: Level = CONTRACT_SENIOR_AT_LEAST
    rules: list[Rule]

    @property
    def seniority(self) -> Seniority:
        return Seniority(self.senior_at_least)


class PolicyError(ValueError, UsageProblem):
    """The rules file cannot be read or is not valid; the message names the file."""


def load_policy(path: Path | None = None) -> Policy:
    try:
        if path is None:
            text = (
                resources.files("provenance_ledger.query.policy")
                .joinpath("policy.yaml")
                .read_text()
            )
            where = "the packaged query/policy/policy.yaml"
        else:
            text, where = path.read_text(), str(path)
        return Policy.model_validate(yaml.safe_load(text) or {})
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise PolicyError(f"policy rules in {where} are not usable: {exc}") from exc


@dataclass(frozen=True)
class ActionFacts:
    event_id: str
    action: str
    destructive: bool
    acted_at: datetime
    authorized_by: str | None = None
    authorized_level: str | None = None
    session: str | None = None


@dataclass(frozen=True)
class ConfigFacts:
    """A ``config.changed`` as the gate judges it; levels are at the time of the change.
    ``applied_from``: the change behind its repo + commit, when it names one."""

    event_id: str
    kind: str
    changed_at: datetime
    key: str | None = None
    environment: str | None = None
    actor: str | None = None
    actor_kind: str | None = None
    actor_level: str | None = None
    ai_tools: tuple[str, ...] = ()
    authorized_by: str | None = None
    authorized_level: str | None = None
    applied_from: CommitFacts | None = None

    @property
    def made_by_ai(self) -> bool:
        return bool(self.ai_tools) or self.actor_kind == "ai_agent"


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str


@dataclass
class Verdict:
    violations: list[Violation] = field(default_factory=list)
    # Approvals a rule did not count because of their origin (trusted_origins).
    ignored: list[Violation] = field(default_factory=list)

    @property
    def compliant(self) -> bool:
        return not self.violations


def evaluate(
    policy: Policy,
    changes: list[CommitFacts],
    actions: list[ActionFacts],
    configs: list[ConfigFacts] | None = None,
) -> Verdict:
    verdict = Verdict()
    senior = policy.senior_at_least
    for rule in policy.rules:
        if isinstance(rule, AiChangeApproval):
            for change in changes:
                dropped: tuple[dict[str, Any], ...] = ()
                if rule.trusted_origins is not None:
                    change, dropped = change.trusting(rule.trusted_origins)
                    verdict.ignored += ignored_approvals(rule, change, dropped)
                verdict.violations += [
                    Violation(v.rule, v.detail + _not_counted(dropped))
                    for v in check_change(rule, change, senior)
                ]
        elif isinstance(rule, AgentActionAuthorization):
            for action in actions:
                verdict.violations += check_action(rule, action, senior)
        else:
            for config in configs or []:
                verdict.violations += check_config(rule, config, senior)
    return verdict


def check_change(rule: AiChangeApproval, change: CommitFacts, senior: str) -> list[Violation]:
    """``senior``: the policy's senior_at_least, for the thresholds the rule leaves out."""
    if not change.ai or not any(fnmatch.fnmatchcase(change.repo or "", p) for p in rule.repos):
        return []
    if meets(change.author_level, rule.author_exempt_from or senior):
        return []
    approver = rule.approver_at_least or senior
    if len(change.approvers(approver)) >= rule.approvals:
        return []
    tools = ", ".join(sorted({a["tool"] for a in change.ai}))
    level = change.author_level or "not registered"
    why = _review_summary(change, approver)
    detail = (
        f"{change.repo}@{change.commit[:12]} was written with AI ({tools}) by "
        f"{change.author or 'an unknown author'} ({level} when authored); it needs "
        f"{rule.approvals} approved review(s) of this exact revision by someone else at level "
        f"{approver} or above at review time. {why}"
    )
    return [Violation(rule.id, detail)]


def ignored_approvals(
    rule: AiChangeApproval, change: CommitFacts, dropped: tuple[dict[str, Any], ...]
) -> list[Violation]:
    trusted = ", ".join(rule.trusted_origins or ())
    return [
        Violation(
            rule.id,
            f"ignored the approval of {change.repo}@{change.commit[:12]} by "
            f"{review['reviewer']} ({review.get('event_id') or 'event id unknown'}): it came "
            f"from origin {review.get('origin') or 'unknown'}, which the rule does not trust "
            f"(trusted_origins: {trusted})",
        )
        for review in dropped
    ]


def _not_counted(dropped: tuple[dict[str, Any], ...]) -> str:
    if not dropped:
        return ""
    who = "; ".join(f"{r['reviewer']} (origin {r.get('origin') or 'unknown'})" for r in dropped)
    return f" Approvals not counted because their origin is not trusted: {who}."


def _review_summary(change: CommitFacts, approver: str) -> str:
    if not change.reviews:
        return (
            "No review of this revision is recorded (approvals of earlier revisions do not "
            "count): ask a senior reviewer to approve this commit."
        )
    notes = []
    for review in change.reviews:
        who, level = review["reviewer"], review["reviewer_level"] or "level unknown"
        if who == change.author:
            notes.append(f"{who} {review['decision']} (the author's own review does not count)")
        elif review["decision"] != "approved":
            notes.append(f"{who} ({level}) {review['decision']}")
        elif not meets(review["reviewer_level"], approver):
            notes.append(f"{who} approved but was {level} at review time")
        else:
            notes.append(f"{who} ({level}) approved")
    return "Reviews of this revision: " + "; ".join(notes) + "."


def check_action(
    rule: AgentActionAuthorization, action: ActionFacts, senior: str
) -> list[Violation]:
    if rule.destructive_only and not action.destructive:
        return []
    authorizer = rule.authorizer_at_least or senior
    if meets(action.authorized_level, authorizer):
        return []
    if action.authorized_by is None:
        who = "it has no authorized_by"
    else:
        level = action.authorized_level or "not registered"
        who = f"it was authorized by {action.authorized_by} ({level} at the time)"
    kind = "destructive agent action" if action.destructive else "agent action"
    detail = (
        f"{kind} {action.action} ({action.event_id}) needs authorization by a person at level "
        f"{authorizer} or above; {who}"
    )
    return [Violation(rule.id, detail)]


def check_config(
    rule: ConfigChangeAuthorization, config: ConfigFacts, senior: str
) -> list[Violation]:
    """A change in the rule's scope needs someone at ``authorizer_at_least``: its
    ``authorized_by``, the human who made it, or an approver of the commit it was applied
    from (a reviewed Terraform change is authorized by its review)."""
    if not _matches(config.kind, rule.kinds) or (
        config.environment is not None and not _matches(config.environment, rule.environments)
    ):
        return []
    if rule.ai_only and not config.made_by_ai:
        return []
    authorizer = rule.authorizer_at_least or senior
    applied = config.applied_from
    if (
        meets(config.authorized_level, authorizer)
        or (config.actor_kind == "human" and meets(config.actor_level, authorizer))
        or (applied is not None and applied.approvers(authorizer))
    ):
        return []
    by = f"AI ({', '.join(config.ai_tools)})" if config.ai_tools else "an AI agent"
    made = f"made by {by if config.made_by_ai else config.actor or 'an unknown actor'}"
    where = f" in {config.environment}" if config.environment else " (every environment)"
    detail = (
        f"{config.kind} change {config.key or ''} ({config.event_id}){where}, {made}, needs "
        f"authorization by a person at level {authorizer} or above (authorized_by, or an "
        f"approved review of the commit it applied); {_authorization_summary(config)}"
    )
    return [Violation(rule.id, " ".join(detail.split()))]


def _matches(value: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


def _authorization_summary(config: ConfigFacts) -> str:
    if config.authorized_by is not None:
        level = config.authorized_level or "not registered"
        said = f"it was authorized by {config.authorized_by} ({level} at the time)"
    else:
        said = "it has no authorized_by"
    applied = config.applied_from
    if applied is None:
        return said + " and names no commit it was applied from"
    approvers = sorted(
        f"{r['reviewer']} ({r['reviewer_level'] or 'level unknown'} then)"
        for r in applied.approvals_by_others
    )
    reviewed = f"approved by {', '.join(approvers)}" if approvers else "approved by no one else"
    return f"{said}; commit {applied.repo}@{applied.commit[:12]} it applied was {reviewed}"
