"""``commit_facts``: what ``changes``, ``change_ai``, ``reviews`` and ``merges`` say about each
commit, one row per row there, in one table with one index on ``commit``.

A suspects call needs all four for a hundred-odd commits. DuckDB answers a key look-up
with a cost per key and per table (tens of microseconds), so four look-ups of the same
commits cost four times one; this copy makes it one (bench/bench_query.py measures it).
It is derived only from those tables, in ledger order, in the transaction that wrote
them, so it is never ahead of or behind them and any arrival order gives the same rows.
"""

from __future__ import annotations

import duckdb

from provenance_ledger.ledger.rows import single_value

# In a total order: by event, then kind, then as the source table holds the event's rows (a
# merge's commits, a change's AI tools, in the event's order). By event alone, rows of one
# event landed in any order, so two files written alike could differ in it.
_COPY = """
INSERT INTO commit_facts BY NAME
SELECT * EXCLUDE (source_row) FROM (
    SELECT 'authored' AS fact, repo, commit, author_id AS person_id, author_name AS person_name,
           authored_at AS fact_at, files, lines_added, lines_deleted, message, ai_assisted,
           event_seq, rowid AS source_row
    FROM changes WHERE event_seq >= $since
    UNION ALL BY NAME
    SELECT 'assisted' AS fact, repo, commit, tool, model, mode, lines, session, event_seq,
           rowid AS source_row
    FROM change_ai WHERE event_seq >= $since
    UNION ALL BY NAME
    SELECT 'reviewed' AS fact, repo, commit, reviewer_id AS person_id,
           reviewer_name AS person_name, reviewed_at AS fact_at, change_ref, decision, event_seq,
           rowid AS source_row
    FROM reviews WHERE event_seq >= $since
    UNION ALL BY NAME
    SELECT 'merged' AS fact, repo, commit, merged_commit, change_ref, merged_at AS fact_at,
           event_seq, rowid AS source_row
    FROM merges WHERE event_seq >= $since
)
ORDER BY event_seq, fact, source_row
"""


def catch_up(cur: duckdb.DuckDBPyConnection, since: int | None = None) -> None:
    """Copy the rows from ledger position ``since`` on (default: those not copied yet).

    The writer calls it with its batch's first position, in the batch's transaction; a
    ledger opened for writing calls it without, which fills the table for a file written
    before it existed. Rows sit in ledger order, so ``>= since`` reads only the newest row
    groups of each table.
    """
    if since is None:
        since = single_value(
            cur.execute("SELECT coalesce(max(event_seq), -1) + 1 FROM commit_facts")
        )
    cur.execute(_COPY, {"since": since})
