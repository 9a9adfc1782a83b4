"""The incidents, their resolutions and the verdicts on them, kept in memory per ledger file
and per process for the suspects call.

Looking them up cost a warm call three queries (~1-2 ms each on the bench ledger, most of
it planning): the opening (its region with it), the resolution and the attributions. The
three tables are small (one row per incident event) and only grow, in seq order, so a copy
caught up with the rows between the seq it holds and the ledger's newest is exact (as in
query/suspects/timelines.py).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import duckdb

from provenance_ledger.query.readmodels.incidents import OPENING_COLUMNS

# Beyond this many incident rows the copy is not kept (the look-ups run as queries).
KEPT_INCIDENT_ROWS_MAX = 1_000_000

# Rows are kept as tuples (a dict per row took ~2 KB an incident on a 1M-event ledger).
_ATTRIBUTION_COLUMNS = (
    "verdict",
    "by_id",
    "target_kind",
    "deployment_event_id",
    "action_event_id",
    "repo",
    "commit",
    "attributed_at",
    "event_seq",
)

_OPENINGS = (
    f"SELECT {', '.join(OPENING_COLUMNS)} FROM incidents WHERE event_seq > ? AND event_seq <= ?"
)
_RESOLUTIONS = (
    "SELECT incident, resolved_at FROM incident_resolutions "
    "WHERE event_seq > ? AND event_seq <= ? AND resolved_at IS NOT NULL"
)
_ATTRIBUTIONS = (
    f"SELECT incident, {', '.join(_ATTRIBUTION_COLUMNS)} FROM attributions "
    "WHERE event_seq > ? AND event_seq <= ?"
)
_COUNT = (
    "SELECT (SELECT count(*) FROM incidents) + (SELECT count(*) FROM incident_resolutions) "
    "+ (SELECT count(*) FROM attributions)"
)

Rows = list[dict[str, Any]]
Kept = dict[str, list[tuple[Any, ...]]]


class KeptIncidents:
    """Per incident: its openings and attributions as the queries of gather.incident_read
    give them, and its earliest resolution; all rows up to event seq ``newest``."""

    def __init__(self) -> None:
        self.newest = -1
        self._openings: Kept = defaultdict(list)
        self._resolved: dict[str, Any] = {}
        self._attributions: Kept = defaultdict(list)

    def catch_up(self, cur: duckdb.DuckDBPyConnection, newest: int) -> None:
        window = [self.newest, newest]
        for row in cur.execute(_OPENINGS, window).fetchall():
            self._openings[row[0]].append(row)
        for incident, resolved_at in cur.execute(_RESOLUTIONS, window).fetchall():
            kept = self._resolved.get(incident)
            self._resolved[incident] = resolved_at if kept is None else min(kept, resolved_at)
        for incident, *attribution in cur.execute(_ATTRIBUTIONS, window).fetchall():
            self._attributions[incident].append(tuple(attribution))
        self.newest = newest

    def openings(self, incident: str) -> Rows:
        rows = self._openings.get(incident, [])
        return [dict(zip(OPENING_COLUMNS, row, strict=True)) for row in rows]

    def resolved_at(self, incident: str) -> Any:
        return self._resolved.get(incident)

    def attributions(self, incident: str) -> Rows:
        rows = self._attributions.get(incident, [])
        return [dict(zip(_ATTRIBUTION_COLUMNS, row, strict=True)) for row in rows]


class _Kept:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.incidents: KeptIncidents | None = None
        self.too_big = False


_KEPT: dict[tuple[str, str | None], _Kept] = {}
_KEPT_LOCK = threading.Lock()


def kept_incidents(
    cur: duckdb.DuckDBPyConnection, path: str | None, ledger_id: str | None, newest: int
) -> KeptIncidents | None:
    """The kept incidents of the ledger file at ``path`` holding ``ledger_id``, current up to
    event seq ``newest``; None for an in-memory ledger or too many rows to keep."""
    if not path:
        return None
    with _KEPT_LOCK:
        kept = _KEPT.setdefault((path, ledger_id), _Kept())
    with kept.lock:
        if kept.too_big:
            return None
        if kept.incidents is None:
            if cur.execute(_COUNT).fetchall()[0][0] > KEPT_INCIDENT_ROWS_MAX:
                kept.too_big = True
                return None
            kept.incidents = KeptIncidents()
        if kept.incidents.newest < newest:
            kept.incidents.catch_up(cur, newest)
        return kept.incidents
