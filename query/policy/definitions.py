"""The definitions every reader shares: people's levels, who counts as senior, how far before
an incident suspects are looked for by default.

The contract's defaults are the constants here, once. What is policy (the lowest level that
counts as senior) can be changed in the policy file (query/policy/policy.yaml,
``senior_at_least``); suspects, ``/v1/commits``, the metrics, the gate and the SQL views
(table ``policy_definitions``, written by query/policy/record.py) all take it from the policy
in force (query/policy/inforce.py). Standard library only: the CLI imports the lookback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from provenance_ledger.query.durations import parse_duration

# CONTRACT §1 (person.registered): the levels, lowest first. A person with no registration at
# the time has an unknown level, which meets no threshold.
LEVELS: tuple[str, ...] = ("junior", "mid", "senior", "principal")
# CONTRACT Definitions: senior means `senior` or `principal` unless the policy file says else.
CONTRACT_SENIOR_AT_LEAST = "senior"
# CONTRACT §4: GET /v1/incidents/{incident}/suspects?lookback=24h.
DEFAULT_LOOKBACK = "24h"
DEFAULT_LOOKBACK_SPAN: timedelta = parse_duration(DEFAULT_LOOKBACK)


def meets(level: str | None, threshold: str) -> bool:
    """Whether ``level`` is ``threshold`` or above; an unknown level never is."""
    return level in LEVELS and LEVELS.index(level) >= LEVELS.index(threshold)


@dataclass(frozen=True)
class Seniority:
    """Who counts as senior: a person whose level at the time is ``at_least`` or above."""

    at_least: str = CONTRACT_SENIOR_AT_LEAST

    def __post_init__(self) -> None:
        if self.at_least not in LEVELS:
            raise ValueError(f"{self.at_least!r} is not a level ({', '.join(LEVELS)})")

    def is_senior(self, level: str | None) -> bool:
        return meets(level, self.at_least)

    @property
    def levels(self) -> tuple[str, ...]:
        """The levels that count as senior, lowest first."""
        return LEVELS[LEVELS.index(self.at_least) :]


CONTRACT_SENIORITY = Seniority()
