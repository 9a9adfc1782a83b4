"""The early drop (query/suspects/prefilter.py) bounds each row as ``ranking.bounded`` bounds
the candidate made of it, so it can only drop what pruning drops; and it drops."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from provenance_ledger.query.suspects.candidates import config_candidate, deployment_candidate
from provenance_ledger.query.suspects.model import IncidentFacts
from provenance_ledger.query.suspects.prefilter import kept_rows
from provenance_ledger.query.suspects.ranking import bounded

IMPACT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
START = IMPACT - timedelta(hours=24)
PATHS = {"checkout": ("checkout",), "cart": ("checkout", "cart"), "db": ("checkout", "cart", "db")}


def _incident(rng: random.Random) -> IncidentFacts:
    return IncidentFacts(
        services=("checkout",),
        environment=rng.choice(["prod", None]),
        impact=IMPACT,
        region=rng.choice(["eu-west-1", None]),
        paths=PATHS,
    )


def _deployment(rng: random.Random, seq: int) -> dict:
    return {
        "event_id": f"d-{seq}",
        "event_seq": seq,
        "service": rng.choice(list(PATHS)),
        "environment": rng.choice(["prod", "staging"]),
        "region": rng.choice(["eu-west-1", "us-east-1", None]),
        "fleet_percent": rng.choice([None, 10.0, 50.0, 100.0]),
        "deployer_kind": rng.choice(["automation", "ai_agent"]),
        "deployed_at": IMPACT - timedelta(minutes=rng.uniform(0, 1440)),
    }


def _config(rng: random.Random, seq: int) -> dict:
    return {
        "event_id": f"c-{seq}",
        "event_seq": seq,
        "kind": "feature_flag",
        "target_service": rng.choice([*PATHS, None]),
        "target_environment": rng.choice(["prod", "staging", None]),
        "target_region": rng.choice(["eu-west-1", None]),
        "target_resource": rng.choice(["db", None]),
        "key": "flag",
        "from_value": "false",
        "to_value": "true",
        "fleet_percent": rng.choice([None, 25.0]),
        "actor_id": None,
        "actor_name": None,
        "actor_kind": rng.choice(["human", "ai_agent"]),
        "repo": None,
        "commit": rng.choice([None, "abc123"]),
        "ai_tools": rng.choice([[], ["claude-code"]]),
        "change_ref": None,
        "action": rng.choice(["update", "delete", None]),
        "changed_at": IMPACT - timedelta(minutes=rng.uniform(0, 1440)),
    }


def _candidates(facts: IncidentFacts, deployments: list, configs: list, repeats: dict) -> list:
    where = (facts, START)
    made = [
        deployment_candidate(d, [], {}, [], where, repeats.get(d["event_seq"])) for d in deployments
    ]
    return made + [config_candidate(c, {}, [], facts) for c in configs]


def test_it_drops_only_what_pruning_cannot_rank_and_drops_something():
    dropped_any = False
    for seed in range(200):
        rng = random.Random(seed)
        facts = _incident(rng)
        deployments = [_deployment(rng, n) for n in range(rng.randint(5, 40))]
        configs = [_config(rng, 1000 + n) for n in range(rng.randint(0, 20))]
        repeats = {d["event_seq"]: "v1" for d in deployments if rng.random() < 0.1}
        limit = rng.choice([1, 3, 10])
        kept = kept_rows(facts, START, (deployments, configs), set(), repeats, limit)
        kept_seqs = {row["event_seq"] for rows in kept for row in rows}
        bounds = bounded(_candidates(facts, deployments, configs, repeats), facts)
        if len(bounds) < limit:
            assert len(kept_seqs) == len(bounds)
            continue
        pivot = sorted((b.low for b in bounds), reverse=True)[limit - 1]
        for b in bounds:
            if b.candidate.seq not in kept_seqs:
                assert b.up < pivot, (seed, b.candidate.event_id)
        dropped_any |= len(kept_seqs) < len(bounds)
    assert dropped_any


def test_rows_it_is_told_to_keep_are_kept():
    rng = random.Random(7)
    facts = _incident(rng)
    deployments = [_deployment(rng, n) for n in range(30)]
    far = max(deployments, key=lambda d: IMPACT - d["deployed_at"])
    kept, _ = kept_rows(facts, START, (deployments, []), {far["event_seq"]}, {}, 1)
    assert far in kept
    assert len(kept) < len(deployments)
