"""What each suspect signal is worth (query/suspects/ranking.py adds them up).

Each signal adds log-odds; the sum passes through a logistic curve spread by
``TEMPERATURE``. docs/ranking.md explains each signal and why it weighs what it does.
"""

from __future__ import annotations

import re

PROD_NAMES = frozenset({"prod", "production", "prd", "live"})
BIAS = 1.5
TEMPERATURE = 0.6  # spreads scores: a plain deploy 10 min before ≈ 0.55, 15 h before ≈ 0.02

WEIGHTS: dict[str, float] = {
    "time_per_doubling": -1.2,  # per doubling of (1 + minutes before impact / 10)
    "non_production": -3.0,  # incident names no environment, candidate is not prod
    "same_region": 0.3,
    "other_region": -2.0,
    "rolled_back_during_incident": 4.0,  # the only deployment that rollback reverted
    "rolled_back_with_others": 3.0,  # the rollback reverted several candidates
    "resolved_soon_after_rollback": 3.0,  # resolved within 30 min of the rollback
    "resolved_after_rollback": 1.5,  # resolved within 2 h of the rollback
    "rollback_did_not_fix": 1.5,  # instead of the above: a later rollback came before the fix
    "reverted_before_impact": -5.0,  # no longer live when impact started
    "destructive_action": 3.5,
    "unauthorized_action": 0.5,  # destructive and not authorized by someone senior
    "risky_action": 0.5,  # a non-destructive action whose name says migration/delete/...
    "non_destructive_action": -2.5,
    "ai_without_senior_approval": 1.0,  # author not senior
    "ai_unreviewed_by_senior": 0.5,  # senior author, no senior approval
    "agent_mode_ai": 0.5,
    "large_change_300": 0.6,
    "large_change_1000": 1.0,
    "many_files_10": 0.3,
    "many_files_25": 0.6,
    "changes_requested": 0.4,
    "unreviewed": 0.3,  # no one but the author approved some shipped change
    "ai_agent_deployer": 0.4,
    "risk_cap": 2.5,  # the shipped-risk signals above add up to at most this
    "docs_only": -2.5,
    "partial_rollout": -2.0,  # times the share of the fleet NOT reached
    "redeploy": -2.5,  # the version already running there again: ships nothing new
    "rejected_commit": -1.0,  # some (not all) shipped commits were rejected as the cause
    "dependency_hop": -1.0,  # per hop between the incident's service and the candidate's
    "destructive_config_change": 3.5,  # a configuration change that deletes or replaces
    "ai_config_change": 0.5,  # made by an AI tool or agent directly (inside the risk cap)
}
# How many hops of registered dependencies the incident's services are followed: beyond
# six a change is days away in log-odds (6 hops = -6, as a change 6 h before impact).
MAX_DEPENDENCY_HOPS = 6
# A configuration change's action (Terraform's delete/replace, a schema drop) that removes.
DESTRUCTIVE_CONFIG = re.compile(r"delete|destroy|replace|recreate|drop|truncate|wipe|purge")
RISKY_ACTION = re.compile(r"delete|drop|destroy|recreate|migrat|truncate|wipe|purge|reset")
DOC_FILE = re.compile(
    r"(^|/)(docs?/.*|readme[^/]*|changelog[^/]*|license[^/]*|[^/]*\.(md|rst|txt))$", re.I
)
