"""A realistic, reproducible mix of provledger events for volume tests and benchmarks.

Roughly what a busy engineering org emits: many authored changes (a third AI-assisted) and
reviews, fewer merges, builds and deploys, a trickle of agent actions, incidents, rollbacks
and attributions, and a few identity syncs. Ids are unique per (seed, index).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from provenance_ledger.producers.emitter import encode_message
from provenance_ledger.producers.envelope import build_event, partition_key
from provenance_ledger.schemas.codec import DecodedEvent

START = datetime(2026, 11, 1, tzinfo=UTC)
SERVICES = ["checkout", "search", "payments", "catalog", "auth", "cart", "shipping", "ads"]
TOOLS = ["claude-code", "copilot", "cursor", "codex", "aider", "gemini-cli"]
LEVELS = ["junior", "mid", "senior", "principal"]
WEIGHTS = {
    "change.authored": 30,
    "change.reviewed": 25,
    "change.merged": 10,
    "artifact.built": 10,
    "service.deployed": 12,
    "agent.action": 5,
    "person.registered": 2,
    "incident.opened": 2,
    "incident.resolved": 1,
    "service.rolledback": 1,
    "incident.attributed": 2,
}


def _person(rng: random.Random) -> dict[str, Any]:
    n = rng.randrange(200)
    return {"id": f"dev{n}@acme.example", "name": f"Developer {n}"}


def _sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def _data(kind: str, rng: random.Random, i: int) -> dict[str, Any]:
    service = rng.choice(SERVICES)
    repo = f"acme/{service}"
    if kind == "change.authored":
        ai = []
        if rng.random() < 0.35:
            ai = [{"tool": rng.choice(TOOLS), "model": "model-x", "mode": "agent", "lines": 40}]
        return {
            "repo": repo,
            "commit": _sha(rng),
            "author": _person(rng),
            "files": [f"src/{service}/module{rng.randrange(50)}.py" for _ in range(3)],
            "lines_added": rng.randrange(500),
            "lines_deleted": rng.randrange(200),
            "message": f"Change {i}: tune {service} retries and timeouts",
            "ai": ai,
        }
    if kind == "change.reviewed":
        decision = rng.choice(["approved", "approved", "changes_requested", "commented"])
        return {
            "repo": repo,
            "commit": _sha(rng),
            "change": str(i),
            "reviewer": _person(rng),
            "decision": decision,
        }
    if kind == "change.merged":
        return {
            "repo": repo,
            "commit": _sha(rng),
            "commits": [_sha(rng), _sha(rng)],
            "change": str(i),
            "target_branch": "main",
            "merged_by": _person(rng),
        }
    if kind == "artifact.built":
        return {
            "artifact": f"sha256:{rng.getrandbits(256):064x}",
            "repo": repo,
            "commit": _sha(rng),
            "pipeline_run": f"https://ci.acme.example/runs/{i}",
        }
    if kind == "service.deployed":
        return {
            "service": service,
            "environment": rng.choice(["prod", "staging"]),
            "region": "eu-west-1",
            "version": f"1.{i}.0",
            "repo": repo,
            "commit": _sha(rng),
            "commits": [_sha(rng) for _ in range(rng.randrange(1, 4))],
            "deployer": {**_person(rng), "kind": "automation"},
            "fleet_percent": 100,
        }
    if kind == "agent.action":
        return {
            "agent": {"tool": rng.choice(TOOLS), "model": "model-x", "session": f"s{i}"},
            "action": rng.choice(["scale", "apply_migration", "delete_environment"]),
            "target": {"service": service, "environment": "prod"},
            "destructive": rng.random() < 0.2,
            "command": "kubectl scale deploy --replicas=3",
        }
    if kind == "person.registered":
        return {"person": {**_person(rng), "level": rng.choice(LEVELS), "team": service}}
    if kind == "incident.opened":
        return {
            "incident": f"INC-{i}",
            "title": f"{service} errors",
            "severity": rng.choice(["sev1", "sev2", "sev3"]),
            "services": [service],
            "environment": "prod",
        }
    if kind == "incident.resolved":
        return {"incident": f"INC-{rng.randrange(max(i, 1))}"}
    if kind == "service.rolledback":
        return {
            "service": service,
            "environment": "prod",
            "from_version": f"1.{i}.0",
            "to_version": f"1.{max(i - 1, 0)}.0",
            "reason": "error rate",
        }
    return {
        "incident": f"INC-{rng.randrange(max(i, 1))}",
        "verdict": "confirmed",
        "by": _person(rng),
        "commit": _sha(rng),
        "repo": repo,
    }


def events(count: int, seed: int = 0) -> Iterator[DecodedEvent]:
    rng = random.Random(seed)
    kinds = list(WEIGHTS)
    weights = list(WEIGHTS.values())
    for i in range(count):
        kind = rng.choices(kinds, weights)[0]
        yield build_event(
            kind,
            _data(kind, rng, i),
            f"ci/acme/{rng.choice(SERVICES)}",
            event_id=f"{seed}-{i}",
            time=START + timedelta(seconds=i),
        )


def messages(
    count: int, fmt: str = "json", seed: int = 0
) -> Iterator[tuple[bytes | None, list[tuple[str, bytes]], bytes]]:
    """(key, headers, value) ready for a KafkaProducer."""
    for decoded in events(count, seed):
        headers, value = encode_message(decoded, fmt)
        yield partition_key(decoded), headers, value
