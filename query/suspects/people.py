"""Everyone's levels for a suspects call, with no query of their own while people is unchanged.

``policy.levels.all_levels`` keeps everyone's registrations per ledger file and checks the
size of ``people`` on each call: a query of its own (~1 ms on the bench ledger, a tenth of
the call's budget). The suspects call reads that size with the incident
(``gather.incident_read``), so all_levels is asked only when it changed.
"""

from __future__ import annotations

import threading

import duckdb

from provenance_ledger.query.policy.levels import Levels, all_levels

# Per ledger file: the people version (row count, last seq) and all_levels' answer then.
_KEPT: dict[str, tuple[tuple[int, int], Levels | None]] = {}
_KEPT_LOCK = threading.Lock()


def kept_levels(
    cur: duckdb.DuckDBPyConnection, path: str | None, version: tuple[int, int]
) -> Levels | None:
    """all_levels' answer for the ledger file at ``path`` whose people table has ``version``
    (row count, last seq); None, as from all_levels, for an in-memory ledger or a people
    table too large to keep (the caller then loads the levels it needs)."""
    if not path:
        return None
    with _KEPT_LOCK:
        kept = _KEPT.get(path)
    if kept is not None and kept[0] == version:
        return kept[1]
    # Rows written since ``version`` was read only make the levels fuller; the next call
    # sees a newer version and asks again.
    levels = all_levels(cur)
    with _KEPT_LOCK:
        _KEPT[path] = (version, levels)
    return levels
