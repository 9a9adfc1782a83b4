"""The rollback rule has two implementations: the ``rollback_reverts`` view (metrics, SQL
users) and ``query.rollbacks`` (suspects, provenance). On random histories they agree."""

from __future__ import annotations

import random

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.readmodels.incidents import rows_as_dicts
from provenance_ledger.query.readmodels.rollbacks import rollbacks_of
from tests.support.provstory import Story, write_direct


def random_history(seed: int) -> Story:
    rng = random.Random(seed)
    s = Story()
    minute = 0
    for n in range(rng.randint(3, 14)):
        minute += rng.choice([0, 5, 30])  # 0: two deployments at the same instant
        env = rng.choice(["prod", "prod", "staging"])
        version = f"v{rng.randint(1, 5)}"  # versions repeat: redeploys happen
        s.deploy(f"d{seed}-{n}", "checkout", env, minute, version=version)
        if rng.random() < 0.35:
            minute += 3
            from_v, to_v = f"v{rng.randint(1, 5)}", f"v{rng.randint(0, 5)}"
            s.rollback(f"r{seed}-{n}", "checkout", env, from_v, to_v, minute)
    return s


def test_view_and_query_agree_on_what_each_rollback_reverted(tmp_path):
    for seed in range(25):
        ledger = Ledger.open(tmp_path / f"rb-{seed}.duckdb", migrate=True)
        try:
            write_direct(ledger, random_history(seed).events)
            cur = ledger.cursor()
            view = {
                (row["rollback_event_id"], row["deployment_event_id"])
                for row in rows_as_dicts(cur.execute("SELECT * FROM rollback_reverts"))
            }
            deployments = rows_as_dicts(
                cur.execute(
                    "SELECT event_id, event_seq, service, environment, deployed_at FROM deployments"
                )
            )
            by_seq = {d["event_seq"]: d["event_id"] for d in deployments}
            _, reverted = rollbacks_of(cur, deployments)
            computed = {
                (rb["event_id"], by_seq[seq]) for seq, hits in reverted.items() for rb, _ in hits
            }
            assert computed == view, f"seed {seed}"
        finally:
            ledger.close()
