"""``commit_packs``: each deployment's commits with their facts, kept in deployment order for
the first suspects call on an older incident.

That call reads the commits a few neighbouring deployments named, then those commits'
``commit_facts`` rows through the index on ``commit``: hashes scatter them over the file, so
each commit costs index nodes and blocks of its own (on the 1M-deployment bench ledger ~20 of
a cold call's ~35 ms at p95). Here the same facts sit next to their deployment, one row per
deployment and named commit with the facts as one JSON text, so the index on
``deployment_seq`` finds a window's ~60 rows in a few neighbouring blocks (docs/benchmarks.md,
"Commit facts packed per deployment").

Packing is bulk SQL behind the writer, never in its transaction: :func:`pack` takes the
deployments written since the last pass (up to ``most`` of them), joins their commits to
``commit_facts`` as it stands, and records how far it went in ``commit_pack_marks``. Facts
written later about commits already packed (a review after the deployment) are added by the
next pass as rows of ``commit_pack_additions``. So for every deployment up to
``deployments_through``, its rows in the two tables hold exactly the facts of its commits up
to ``facts_through``; the reader (query/readmodels/packs.py) reads newer facts the old way.

A configuration change applied from a commit (a Terraform apply) is packed the same way, as
if it were a deployment naming that one commit, under its own seq: with a dependency graph
the call reads the window's configuration changes too, and their commits' facts cost it
statements of their own otherwise.
"""

from __future__ import annotations

from contextlib import suppress
from typing import NamedTuple

import duckdb

from provenance_ledger.ledger.rows import single_row, single_value

# A fact as the JSON object the suspects call reads (``fetch_facts``' columns, names and
# values: the time in microseconds since the epoch; the id and origin of the event of an
# authored or reviewed fact, from ``events``, joined as ``e``), and its row in
# ``commit_facts``: facts of one event (a change's AI tools, a merge's commits) come in the
# order of their rows.
_FACT_JSON = """to_json(struct_pack(
    fact := f.fact, repo := f.repo, commit := f.commit, person_id := f.person_id,
    person_name := f.person_name, fact_at := epoch_us(f.fact_at), files := f.files,
    lines_added := f.lines_added, lines_deleted := f.lines_deleted, message := f.message,
    tool := f.tool, model := f.model, mode := f.mode, lines := f.lines, session := f.session,
    change_ref := f.change_ref, decision := f.decision, merged_commit := f.merged_commit,
    event_seq := f.event_seq, event_id := e.id, origin := e.origin,
    fact_row := f.rowid))::VARCHAR"""
# The facts whose event's id and origin the suspects call shows (the author's and reviews').
FACTS_WITH_ORIGIN = ("authored", "reviewed")
_FACT_EVENT = "LEFT JOIN events AS e ON e.seq = f.event_seq AND f.fact IN ({})".format(
    ", ".join(f"'{kind}'" for kind in FACTS_WITH_ORIGIN)
)

# What is packed: each commit a deployment named (its place in the order the deployment named
# them as ``position``), and the commit a configuration change was applied from, under the
# change's seq.
_NAMED = """
SELECT deployment_seq, rowid AS position, repo, commit FROM deployment_changes
UNION ALL
SELECT event_seq, 0, repo, commit FROM config_changes WHERE commit IS NOT NULL
"""
# What a pass takes, by seq: deployments, and configuration changes applied from a commit
# (bench/bench_pack.py unpacks the same).
TAKEN = """
SELECT event_seq FROM deployments
UNION ALL
SELECT event_seq FROM config_changes WHERE commit IS NOT NULL
"""

# What was named in ($done, $through], each commit with its facts up to $facts. The
# join with all of commit_facts reads only its commit, seq and row; the facts found are then
# fetched by seq and row, which DuckDB's join filter confines to their row groups (reading
# every column of every fact in the join cost ~30 % more CPU a pass). The facts are joined as
# text, in no order (the reader sorts them): an ordered aggregate cost twice the CPU
# (bench/bench_cold_facts.py).
_PACK_NEW = f"""
INSERT INTO commit_packs
SELECT deployment_seq, position, repo, commit, '[' || coalesce(string_agg(fact, ','), '') || ']'
FROM (
    SELECT named.deployment_seq, named.position, named.repo, named.commit,
           CASE WHEN f.fact IS NOT NULL THEN {_FACT_JSON} END AS fact
    FROM (
        SELECT d.deployment_seq, d.position, d.repo, d.commit,
               found.event_seq AS fact_seq, found.rowid AS fact_row
        FROM ({_NAMED}) AS d
        LEFT JOIN commit_facts AS found ON found.commit = d.commit AND found.event_seq <= $facts
        WHERE d.deployment_seq > $done AND d.deployment_seq <= $through
    ) AS named
    LEFT JOIN commit_facts AS f ON f.event_seq = named.fact_seq AND f.rowid = named.fact_row
    {_FACT_EVENT}
)
GROUP BY deployment_seq, position, repo, commit
ORDER BY deployment_seq, position
"""

# Facts in ($facts_done, $facts] about commits named up to $done (packed before); a deployment
# naming a commit twice gets each fact once (DISTINCT after the join: before it,
# it would aggregate all of deployment_changes every pass).
_PACK_LATE = f"""
INSERT INTO commit_pack_additions
SELECT deployment_seq, commit, '[' || string_agg(fact, ',') || ']'
FROM (
    SELECT DISTINCT d.deployment_seq, d.commit, {_FACT_JSON} AS fact
    FROM commit_facts AS f JOIN ({_NAMED}) AS d ON d.commit = f.commit
    {_FACT_EVENT}
    WHERE f.event_seq > $facts_done AND f.event_seq <= $facts AND d.deployment_seq <= $done
)
GROUP BY deployment_seq, commit
ORDER BY deployment_seq, commit
"""

# The packs' tables. Snapshots and SQL copies make them empty (ledger/snapshot.py): they
# repeat ``commit_facts`` (~80 % of the bench ledger's size again), and without marks nothing
# reads them. A rebuilt file starts without them.
TABLES = ("commit_packs", "commit_pack_additions", "commit_pack_marks")

# Deployments packed per pass: the join reads every ``commit_facts`` row's commit once a
# pass (~1 s of CPU at 24M rows), so passes of many deployments cost less per event.
PACK_MOST = 50_000


class Marks(NamedTuple):
    """How far the packs go: every deployment, and every configuration change applied from a
    commit, with seq up to ``deployments_through`` (a deployment naming no commit has no
    rows), with the facts of its commits up to event seq ``facts_through`` (-1: none yet)."""

    deployments_through: int
    facts_through: int


def marks(cur: duckdb.DuckDBPyConnection) -> Marks:
    row = cur.execute("SELECT deployments_through, facts_through FROM commit_pack_marks").fetchall()
    return Marks(*row[0]) if row else Marks(-1, -1)


def unpacked(cur: duckdb.DuckDBPyConnection) -> int:
    """Deployments and configuration changes applied from a commit written and not packed yet
    (zone maps confine the count to the newest)."""
    done = marks(cur).deployments_through
    return single_value(cur.execute(f"SELECT count(*) FROM ({TAKEN}) WHERE event_seq > ?", [done]))


def pack(cur: duckdb.DuckDBPyConnection, most: int = PACK_MOST) -> Marks:
    """One pass, in one transaction on ``cur`` (a cursor of the writing connection, used by
    nothing else meanwhile): up to ``most`` deployments written since the last pass, and the
    facts written since about commits packed before. Returns the marks after it (unchanged
    when nothing was written since)."""
    cur.begin()
    try:
        before = marks(cur)
        through, facts = single_row(
            cur.execute(
                f"SELECT (SELECT max(event_seq) FROM (SELECT event_seq FROM ({TAKEN}) "
                "WHERE event_seq > $done ORDER BY event_seq LIMIT $most)), "
                "(SELECT coalesce(max(event_seq), -1) FROM commit_facts)",
                {"done": before.deployments_through, "most": most},
            )
        )
        after = Marks(before.deployments_through if through is None else through, facts)
        if after == before:
            cur.rollback()
            return before
        cur.execute(
            _PACK_LATE,
            {
                "facts_done": before.facts_through,
                "facts": after.facts_through,
                "done": before.deployments_through,
            },
        )
        cur.execute(
            _PACK_NEW,
            {
                "done": before.deployments_through,
                "through": after.deployments_through,
                "facts": after.facts_through,
            },
        )
        cur.execute("DELETE FROM commit_pack_marks")
        cur.execute("INSERT INTO commit_pack_marks VALUES (?, ?)", list(after))
        cur.commit()
        return after
    except BaseException:
        with suppress(duckdb.Error):  # a failed commit has already ended the transaction
            cur.rollback()
        raise


def pack_all(cur: duckdb.DuckDBPyConnection, most: int = PACK_MOST) -> Marks:
    """Passes until every deployment written is packed."""
    done = marks(cur)
    while True:
        after = pack(cur, most)
        if after == done:
            return after
        done = after
