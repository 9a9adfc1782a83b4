"""The facts the ranking works on: an incident, its candidates and what reverted them.

query/suspects/candidates.py builds candidates from ledger rows; query/suspects/ranking.py
scores them. Pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from provenance_ledger.query.readmodels.commitfacts import CommitFacts


@dataclass(frozen=True)
class Revert:
    """A rollback of a deployment, or a configuration change that put a value back."""

    rollback_event_id: str
    rolled_back_at: datetime
    reverted_candidates: int  # how many candidates the same rollback (or change) reverted
    superseded: bool = False  # another one followed it before the incident resolved
    undo: str = "rollback"  # what reverted it, in words: "rollback" | "config change"


@dataclass(frozen=True)
class ConfigChange:
    """What a ``config.changed`` event says (CONTRACT §5); values are canonical JSON text."""

    kind: str
    key: str | None = None
    action: str | None = None  # the emitters' extension: Terraform create/delete/…, Unleash's
    resource: str | None = None
    from_value: str | None = None
    to_value: str | None = None
    actor: str | None = None
    actor_name: str | None = None
    actor_kind: str | None = None
    ai_tools: tuple[str, ...] = ()
    ai: tuple[dict[str, Any], ...] = ()  # tool, model, mode, lines, session (looked up late)
    change_ref: str | None = None
    repo: str | None = None
    commit: str | None = None

    @property
    def made_by_ai(self) -> bool:
        return bool(self.ai_tools) or self.actor_kind == "ai_agent"


@dataclass(frozen=True)
class Candidate:
    kind: str  # "deployment" | "agent_action" | "config_change"
    event_id: str
    seq: int
    service: str | None
    environment: str | None
    time: datetime
    region: str | None = None
    fleet_percent: float | None = None
    deployer_kind: str | None = None
    commits: tuple[str, ...] = ()  # every commit it shipped (or a config change applied)
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
    # How the incident reaches it through registered dependencies, from one of the
    # incident's services to the candidate's (e.g. checkout, payments); () on its own.
    path: tuple[str, ...] = ()
    config: ConfigChange | None = None  # for kind config_change


@dataclass(frozen=True)
class IncidentFacts:
    services: tuple[str, ...]
    environment: str | None
    impact: datetime
    resolved_at: datetime | None = None
    region: str | None = None
    # Every service the incident reaches at impact start: its own (a path of one) and their
    # registered dependencies, each with the shortest path to it.
    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def reach(self) -> list[str]:
        """The incident's services and their dependencies, sorted."""
        return sorted({*self.services, *self.paths})

    def path_to(self, *names: str | None) -> tuple[str, ...]:
        """The dependency path to the first of ``names`` the incident reaches through a
        dependency; () if it is one of the incident's own services or not reached."""
        for name in names:
            if name is None:
                continue
            if name in self.services:
                return ()
            path = self.paths.get(name, ())
            if len(path) > 1:
                return path
        return ()


@dataclass
class Scored:
    candidate: Candidate
    tier: int  # 0 confirmed, 1 ranked by evidence, 2 rejected
    logit: float
    score: float
    reasons: list[dict[str, str]] = field(default_factory=list)
