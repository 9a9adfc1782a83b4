"""Pruning never changes the answer: on random ledgers with a dependency graph, deployments
whose commits differ in risk (AI, size, reviews, documentation only), rollbacks and
configuration changes, the top ``limit`` suspects are exactly the first ``limit`` of the
call with no pruning at all (a limit above the number of candidates keeps every one).
Same order, same scores, same reasons, same changes."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from provenance_ledger.query.suspects.finder import suspects_for
from tests.support.provstory import Story, sha

PEOPLE = {"dev@shop": "mid", "sam@shop": "senior", "jo@shop": "junior"}
SERVICES = ["checkout", "payments", "cart", "fraud", "search", "ledger", "auth"]
EVERYTHING = 10_000
AGENT = {"id": "ops-agent@shop", "name": "Ops agent", "kind": "ai_agent"}


def _commit(s: Story, rng: random.Random, n: int) -> str:
    docs = rng.random() < 0.25
    files = (
        ["README.md", "docs/guide.md"][: rng.randint(1, 2)]
        if docs
        else [f"src/m{k}.py" for k in range(rng.choice([1, 3, 12, 30]))]
    )
    extra = {"lines_added": rng.choice([5, 120, 400, 1500]), "files": files}
    if rng.random() < 0.4:
        extra["ai"] = [{"tool": "claude-code", "mode": rng.choice(["agent", "chat"])}]
    s.change(n, rng.choice(list(PEOPLE)), -2000, **extra)
    if rng.random() < 0.5:
        s.review(n, rng.choice(list(PEOPLE)), -1900, rng.choice(["approved", "changes_requested"]))
    return sha(n)


def _story(rng: random.Random) -> Story:
    s = Story()
    s.people(PEOPLE)
    for i, service in enumerate(SERVICES):
        s.register(service, rng.sample(SERVICES[i + 1 :], min(2, len(SERVICES) - i - 1)))
    verdicts = []
    for n in range(rng.randint(20, 45)):
        service = rng.choice(SERVICES)
        commits = [_commit(s, rng, 100 * n + k) for k in range(rng.randint(0, 2))]
        extra = {"repo": "shop/checkout", "commits": commits} if commits else {}
        if rng.random() < 0.2:
            extra["fleet_percent"] = rng.choice([10, 50])
        # A few versions shipped again: restarts (redeploys) next to the one before them.
        version = f"{service}-v{rng.randint(1, 2)}" if rng.random() < 0.3 else f"d-{n:02d}"
        minutes = -rng.uniform(1, 1400)
        s.deploy(f"d-{n:02d}", service, "prod", minutes, version=version, **extra)
        if rng.random() < 0.1:
            s.rollback(f"rb-{n:02d}", service, "prod", version, "x", rng.uniform(-5, 30))
        if rng.random() < 0.05:
            verdicts.append((rng.choice(["confirmed", "rejected"]), f"d-{n:02d}"))
    for n in range(rng.randint(5, 20)):
        # Values go back and forth on a few keys: later changes put earlier ones back.
        extra = {"key": f"flag-{n % 4}", "from_": n % 2 == 0, "to": n % 2 == 1}
        if rng.random() < 0.3:
            extra |= {"repo": "shop/checkout", "commit": _commit(s, rng, 9000 + n)}
        if rng.random() < 0.2:
            extra |= {"actor": AGENT, "action": rng.choice(["delete", "update"])}
        s.config(f"c-{n:02d}", -rng.uniform(1, 1400), service=rng.choice(SERVICES), **extra)
    s.incident("INC-P", ["checkout"], resolved=rng.choice([None, 40, 200]))
    for verdict, deployment in verdicts:
        s.attribute("INC-P", verdict, 60, deployment=deployment)
    return s


@pytest.mark.parametrize("seed", range(12))
def test_the_pruned_top_suspects_are_the_unpruned_ones(story_ledger, seed):
    rng = random.Random(seed)
    cur = story_ledger(_story(rng)).cursor()
    everything = suspects_for(cur, "INC-P", timedelta(hours=24), EVERYTHING)
    assert everything is not None
    _, unpruned = everything
    assert len(unpruned) > 20
    for limit in (1, 3, 5, 10, 20):
        answer = suspects_for(cur, "INC-P", timedelta(hours=24), limit)
        assert answer is not None
        assert answer[1] == unpruned[:limit], (seed, limit)
