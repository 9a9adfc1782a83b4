"""The rollback rule has three implementations: the ``rollback_reverts`` view (SQL users),
``query.rollbacks`` (suspects, provenance) and ``query.reverted`` (the change-failure rate's
reverted deployments). On random histories they agree, and all give what the rule says,
worked out here row by row."""

from __future__ import annotations

import random

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.readmodels.incidents import rows_as_dicts
from provenance_ledger.query.readmodels.reverted import reverted_deployments
from provenance_ledger.query.readmodels.rollbacks import rollbacks_of
from tests.support.provstory import Story, write_direct


def random_history(seed: int) -> Story:
    rng = random.Random(seed)
    s = Story()
    minute = 0
    for n in range(rng.randint(3, 30)):
        minute += rng.choice([0, 0, 5, 30])  # 0: deployments and rollbacks at one instant
        service = rng.choice(["checkout", "checkout", "search"])
        env = rng.choice(["prod", "prod", "staging"])
        version = f"v{rng.randint(1, 5)}"  # versions repeat: redeploys happen
        s.deploy(f"d{seed}-{n}", service, env, minute, version=version)
        if rng.random() < 0.35:
            minute += rng.choice([0, 3])
            from_v, to_v = f"v{rng.randint(1, 5)}", f"v{rng.randint(0, 5)}"
            s.rollback(f"r{seed}-{n}", service, env, from_v, to_v, minute)
    return s


def by_the_rule(rollbacks: list[dict], deployments: list[dict]) -> set[tuple[str, str]]:
    """CONTRACT §1, one rollback and one deployment at a time."""
    found = set()
    for rb in rollbacks:
        place = sorted(
            (d["deployed_at"], d["event_seq"], d)
            for d in deployments
            if (d["service"], d["environment"]) == (rb["service"], rb["environment"])
        )
        upper = [
            (at, seq)
            for at, seq, d in place
            if at <= rb["rolled_back_at"] and rb["from_version"] in (None, d["version"])
        ]
        if not upper:
            continue
        lower = [(at, seq) for at, seq, d in place if d["version"] == rb["to_version"]]
        lower = [moment for moment in lower if moment < upper[-1]]
        for at, seq, d in place:
            if (at, seq) == upper[-1] or (lower and lower[-1] < (at, seq) < upper[-1]):
                found.add((rb["event_id"], d["event_id"]))
    return found


def test_view_and_query_agree_on_what_each_rollback_reverted(tmp_path):
    for seed in range(60):
        ledger = Ledger.open(tmp_path / f"rb-{seed}.duckdb", migrate=True)
        try:
            write_direct(ledger, random_history(seed).events)
            cur = ledger.cursor()
            # Some as CDEvents rollbacks arrive: without from_version.
            cur.execute("UPDATE rollbacks SET from_version = NULL WHERE hash(event_id) % 4 = 0")
            view = {
                (row["rollback_event_id"], row["deployment_event_id"])
                for row in rows_as_dicts(cur.execute("SELECT * FROM rollback_reverts"))
            }
            deployments = rows_as_dicts(
                cur.execute(
                    "SELECT event_id, event_seq, service, environment, version, deployed_at "
                    "FROM deployments"
                )
            )
            rollbacks = rows_as_dicts(cur.execute("SELECT * FROM rollbacks"))
            by_seq = {d["event_seq"]: d["event_id"] for d in deployments}
            _, reverted = rollbacks_of(cur, deployments)
            computed = {
                (rb["event_id"], by_seq[seq]) for seq, hits in reverted.items() for rb, _ in hits
            }
            assert view == by_the_rule(rollbacks, deployments), f"seed {seed}"
            assert computed == view, f"seed {seed}"
            by_id = {d["event_id"]: d["event_seq"] for d in deployments}
            arrays = reverted_deployments(cur).tolist()
            assert arrays == sorted({by_id[deployment] for _, deployment in view}), f"seed {seed}"
        finally:
            ledger.close()
