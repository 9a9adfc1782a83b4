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


def test_arrays_agree_with_the_view_on_a_ledger_read_in_several_chunks(tmp_path):
    """200,000 deployments of 120 places (more than one Arrow chunk as DuckDB hands them out,
    ~122,880 rows each), versions redeployed, instants shared, 5,000 rollbacks with and
    without from_version, some of versions never deployed, some before their place's first
    deployment: the arrays give the view's deployments."""
    ledger = Ledger.open(tmp_path / "big.duckdb", migrate=True)
    try:
        cur = ledger.cursor()
        cur.execute(
            "INSERT INTO deployments (event_id, event_source, service, environment, version, "
            "deployed_at, event_seq) "
            "SELECT 'd' || i, 'test', 'svc' || (hash(i, 1) % 40), 'env' || (hash(i, 2) % 3), "
            "'v' || (hash(i, 3) % 30), TIMESTAMPTZ '2026-01-01' + to_minutes((i // 3)::BIGINT), i "
            "FROM range(200000) t(i)"
        )
        cur.execute(
            "INSERT INTO rollbacks (event_id, service, environment, from_version, to_version, "
            "rolled_back_at, event_seq) "
            "SELECT 'r' || j, 'svc' || (hash(j, 4) % 40), 'env' || (hash(j, 5) % 3), "
            "CASE WHEN hash(j, 6) % 3 = 0 THEN NULL ELSE 'v' || (hash(j, 7) % 30) END, "
            "'v' || (hash(j, 8) % 33), "
            "TIMESTAMPTZ '2026-01-01' + to_minutes((hash(j, 9) % 67000)::BIGINT), 200000 + j "
            "FROM range(5000) t(j)"
        )
        chunks = cur.sql("SELECT service FROM deployments").to_arrow_table().column(0).num_chunks
        assert chunks > 1
        view = [
            row[0]
            for row in cur.execute(
                "SELECT DISTINCT deployment_seq FROM rollback_reverts ORDER BY 1"
            ).fetchall()
        ]
        assert len(view) > 1000
        assert reverted_deployments(cur).tolist() == view
    finally:
        ledger.close()
