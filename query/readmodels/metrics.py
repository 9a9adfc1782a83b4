"""Change-failure rate by AI tool or by review (CONTRACT Definitions).

A deployment failed if a standing confirmed attribution names it or a commit it shipped, or
a rollback reverted it. Failures are per deployment, so an incident attributed twice, or a
deployment both attributed and rolled back, counts once. When the latest verdict on a
target is ``rejected`` it no longer fails anything. The relations are those of the views
in ledger/views/50_provenance.sql, restricted to the window's deployments first so a month
of a large ledger is read, not all of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import duckdb
import pyarrow as pa

from provenance_ledger.query.policy.inforce import seniority_in_force
from provenance_ledger.query.readmodels.reverted import reverted_deployments

GroupBy = Literal["ai_tool", "review"]

# The window's deployments are counted a slice at a time: the joins hold a row per
# deployment and commit shipped, ~300 MB for a moment over the whole 1M-event ledger of
# bench/bench_memory.py, which set a long-running serve's peak memory. Each slice scans the
# per-commit tables again, so their number is capped (docs/benchmarks.md, "Memory").
SLICE_DEPLOYMENTS = 40_000
MAX_SLICES = 8

# The deployments counted; the slices are cut from the same ones.
_IN_WINDOW = """($since::TIMESTAMPTZ IS NULL OR deployed_at >= $since)
      AND ($until::TIMESTAMPTZ IS NULL OR deployed_at < $until)"""

# NOT MATERIALIZED: DuckDB 2.0.1 otherwise keeps each CTE's rows (a row per deployment and
# commit shipped) while the rest runs; inlined, a call over the whole 1M-event ledger of
# bench/bench_memory.py took 295 against 534 ms of CPU and 171 against 297 MB of peak memory
# (docs/benchmarks.md, "Memory").
_BASE = f"""
d AS NOT MATERIALIZED (
    SELECT event_seq, event_id, artifact FROM deployments
    WHERE {_IN_WINDOW} AND event_seq >= $low AND event_seq < $high
),
heads AS NOT MATERIALIZED (
    SELECT dc.deployment_seq, dc.repo, dc.commit
    FROM deployment_changes dc JOIN d ON d.event_seq = dc.deployment_seq
    UNION ALL
    SELECT d.event_seq, a.repo, a.commit
    FROM d JOIN artifacts a ON a.artifact = d.artifact WHERE a.commit IS NOT NULL
    UNION ALL
    SELECT d.event_seq, m.repo, m.merged_commit
    FROM d JOIN artifacts a ON a.artifact = d.artifact AND a.commit IS NULL
    JOIN merges m ON m.change_ref = a.change_ref AND (a.repo IS NULL OR m.repo = a.repo)
),
shipped AS NOT MATERIALIZED (
    SELECT deployment_seq, repo, commit FROM heads
    UNION
    SELECT h.deployment_seq, m.repo, m.merged_commit
    FROM heads h JOIN merges m ON m.commit = h.commit AND (h.repo IS NULL OR m.repo = h.repo)
    WHERE m.merged_commit <> m.commit
),
ai AS NOT MATERIALIZED (
    SELECT DISTINCT s.deployment_seq, ca.repo, ca.commit, ca.tool
    FROM shipped s JOIN change_ai ca ON ca.commit = s.commit
        AND (s.repo IS NULL OR ca.repo = s.repo)
),
failed AS NOT MATERIALIZED (
    SELECT d.event_seq AS deployment_seq FROM d JOIN attribution_verdicts v
        ON v.verdict = 'confirmed' AND v.target_kind = 'deployment'
        AND v.deployment_event_id = d.event_id
    UNION
    SELECT s.deployment_seq FROM shipped s JOIN attribution_verdicts v
        ON v.verdict = 'confirmed' AND v.target_kind = 'commit' AND v.commit = s.commit
        AND (s.repo IS NULL OR v.repo = s.repo)
    UNION
    SELECT r.deployment_seq FROM reverted_deployments r JOIN d ON d.event_seq = r.deployment_seq
)
"""

# Each deployment with the group(s) it belongs to.
_BY_TOOL = """
SELECT d.event_seq, coalesce(t.tool, 'none') AS grp
FROM d LEFT JOIN (SELECT DISTINCT deployment_seq, tool FROM ai) t
    ON t.deployment_seq = d.event_seq
"""

# Senior approval as CommitFacts.senior_approved and the change_approval view define it, for
# the window's AI changes only; $senior_levels: the levels the policy in force counts senior.
_APPROVAL = """
ai_commits AS (SELECT DISTINCT repo, commit FROM ai),
approved AS (
    SELECT DISTINCT rv.repo, rv.commit
    FROM reviews rv
    JOIN ai_commits a ON a.commit = rv.commit AND a.repo = rv.repo
    JOIN changes c ON c.commit = rv.commit AND c.repo = rv.repo
    JOIN person_levels pl ON pl.person_id = rv.reviewer_id AND pl.valid_from <= rv.reviewed_at
        AND (pl.valid_to IS NULL OR rv.reviewed_at < pl.valid_to)
    WHERE rv.decision = 'approved' AND rv.reviewer_id <> c.author_id
      AND list_contains($senior_levels, pl.level)
),
verdicts AS (
    SELECT ai.deployment_seq, bool_or(ap.commit IS NULL) AS lacking
    FROM (SELECT DISTINCT deployment_seq, repo, commit FROM ai) ai
    LEFT JOIN approved ap ON ap.commit = ai.commit AND ap.repo = ai.repo
    GROUP BY ai.deployment_seq
)
"""

_BY_REVIEW = """
SELECT d.event_seq,
       CASE WHEN v.deployment_seq IS NULL THEN 'no_ai'
            WHEN v.lacking THEN 'ai_without_senior_approval'
            ELSE 'ai_senior_approved' END AS grp
FROM d LEFT JOIN verdicts v ON v.deployment_seq = d.event_seq
"""


def change_failure_rate(
    cur: duckdb.DuckDBPyConnection,
    by: GroupBy,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Groups ``{group, deployments, failed, rate}`` sorted by group name."""
    window = {"since": since, "until": until}
    params: dict[str, Any] = dict(window)
    if by == "ai_tool":
        grouped = f"WITH {_BASE}, g AS ({_BY_TOOL})"
    else:
        grouped = f"WITH {_BASE}, {_APPROVAL}, g AS ({_BY_REVIEW})"
        params["senior_levels"] = list(seniority_in_force().levels)
    query = f"""
        {grouped}
        SELECT g.grp, count(DISTINCT g.event_seq) AS deployments,
               count(DISTINCT f.deployment_seq) AS failed
        FROM g LEFT JOIN failed f ON f.deployment_seq = g.event_seq
        GROUP BY g.grp
        """
    # Every rollback is read once, not once a slice, and worked out outside DuckDB
    # (query/readmodels/reverted.py).
    cur.register("reverted_deployments", pa.table({"deployment_seq": reverted_deployments(cur)}))
    totals: dict[str, list[int]] = {}
    try:
        for low, high in _slices(cur, window):
            for group, deployments, failed in cur.execute(
                query, {**params, "low": low, "high": high}
            ).fetchall():
                counted = totals.setdefault(group, [0, 0])
                counted[0] += deployments
                counted[1] += failed
    finally:
        cur.unregister("reverted_deployments")
    return [
        {
            "group": group,
            "deployments": deployments,
            "failed": failed,
            "rate": round(failed / deployments, 6) if deployments else 0.0,
        }
        for group, (deployments, failed) in sorted(totals.items())
    ]


def _slices(cur: duckdb.DuckDBPyConnection, window: dict[str, Any]) -> list[tuple[int, int]]:
    """[low, high) event seq bounds that split the window's deployments into slices of about
    ``SLICE_DEPLOYMENTS`` (at most ``MAX_SLICES``). A deployment is in one slice, with all
    it shipped, so each slice's counts add up to the window's."""
    seqs = cur.execute(
        f"SELECT event_seq FROM deployments WHERE {_IN_WINDOW} ORDER BY event_seq", window
    ).fetchnumpy()["event_seq"]
    if not len(seqs):
        return []
    count = min(MAX_SLICES, -(-len(seqs) // SLICE_DEPLOYMENTS))
    lows = [int(seqs[at]) for at in range(0, len(seqs), -(-len(seqs) // count))]
    return list(zip(lows, [*lows[1:], int(seqs[-1]) + 1], strict=True))
