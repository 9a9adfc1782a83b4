"""Reading incidents, and small helpers the query modules share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, overload

import duckdb

from provenance_ledger.ledger.rows import single_value

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@overload
def utc_from_micros(micros: int) -> datetime: ...
@overload
def utc_from_micros(micros: None) -> None: ...


def utc_from_micros(micros: int | None) -> datetime | None:
    """A time read as ``epoch_us(column)``. DuckDB hands a TIMESTAMPTZ to Python about ten
    times slower than an integer (it resolves the session's time zone for each value), so
    queries that read many times select them as integers and convert here."""
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


def micros_from_utc(at: datetime) -> int:
    """``epoch_us`` of an aware datetime, exactly (``utc_from_micros`` undone)."""
    return (at - _EPOCH) // timedelta(microseconds=1)


def rows_as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def in_list(values: Sequence[Any]) -> str:
    """``(?, ?, ?)`` for a key list. DuckDB answers an IN list of parameters with ART index
    look-ups, where ``IN (SELECT unnest(?))`` becomes a join that scans the whole table."""
    return "(" + ", ".join("?" * len(values)) + ")" if values else "(NULL)"


def find_incident(cur: duckdb.DuckDBPyConnection, incident: str) -> dict[str, Any] | None:
    """The incident as ``incident_view`` defines it (first opening wins, earliest resolution),
    read straight from the tables so it stays fast with many incidents. The contract has no
    region on incidents; an emitter's extra ``region`` field is returned when it is text."""
    found = incident_opening(cur, incident)
    if found is None:
        return None
    return {**found, "resolved_at": resolved_at_of(cur, incident)}


# An opening as the incident's reads give it (the suspects call's kept copy too).
OPENING_COLUMNS = (
    "incident",
    "title",
    "severity",
    "services",
    "environment",
    "impact_started_at",
    "opened_at",
    "event_id",
    "event_seq",
    "region",
)


def incident_opening(cur: duckdb.DuckDBPyConnection, incident: str) -> dict[str, Any] | None:
    """The incident's first opening: what it is, where and since when; no resolution."""
    # Every opening of it (one or a few), the first picked here: with ORDER BY … LIMIT 1
    # DuckDB plans a top-N that scans the whole table instead of the index look-up.
    found = rows_as_dicts(
        cur.execute(
            f"SELECT {', '.join(OPENING_COLUMNS)} FROM incidents WHERE incident = ?", [incident]
        )
    )
    return first_opening(found)


def first_opening(openings: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The opening that counts among an incident's (``incident_view``'s: the earliest)."""
    return min(openings, key=lambda row: (row["opened_at"], row["event_id"]), default=None)


def resolved_at_of(cur: duckdb.DuckDBPyConnection, incident: str) -> Any:
    return single_value(
        cur.execute(
            "SELECT min(resolved_at) FROM incident_resolutions WHERE incident = ?", [incident]
        )
    )


# The row's place in its table, read beside the columns asked for and dropped after sorting.
_ROW = "row_in_table"


def rows_by_key(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    key: str,
    values: Sequence[Any],
    columns: str,
) -> list[dict[str, Any]]:
    """Rows of ``table`` whose ``key`` is one of ``values``, in ledger order (``event_seq``,
    then the table's own order: rows of one event, such as a merge's commits, come as
    written; the index gives them in no set order).

    One ``IN (?, …)`` query, which DuckDB answers through the key's ART index; sorting here
    rather than in SQL keeps the plan a plain index scan. Callers pass trusted table and
    column names; only the values are parameters.
    """
    if not values:
        return []
    rows = rows_as_dicts(
        cur.execute(
            f"SELECT {columns}, event_seq, rowid AS {_ROW} FROM {table} "
            f"WHERE {key} IN {in_list(values)}",
            list(values),
        )
    )
    rows.sort(key=lambda row: (row["event_seq"], row[_ROW]))
    for row in rows:
        del row[_ROW]
    return rows


# Rows per row group of a DuckDB table: tables written in seq order (events) hold a seq
# range per group.
ROW_GROUP = 122_880
# A row group's scan costs about as much as this many look-ups by key.
SCAN_FROM_SEQS = 20


def events_by_seq(
    cur: duckdb.DuckDBPyConnection, seqs: list[int]
) -> dict[int, tuple[str, str | None]]:
    """The id and origin (ledger/origin.py) of each of these events (sorted seqs), by seq."""
    if not seqs:
        return {}
    # Events are stored in seq order. Seqs within a few row groups' span (one release's
    # facts) are read by a scan of that span, which zone maps confine to it: cheaper than an
    # index look-up per seq (tens of µs each). Scattered ones are looked up by key.
    span = seqs[-1] // ROW_GROUP - seqs[0] // ROW_GROUP + 1
    if len(seqs) >= SCAN_FROM_SEQS and span <= len(seqs) // SCAN_FROM_SEQS:
        found = cur.execute(
            "SELECT seq, id, origin FROM events WHERE seq BETWEEN ? AND ? "
            "AND list_contains(?, seq)",
            [seqs[0], seqs[-1], seqs],
        )
    else:
        found = cur.execute(
            f"SELECT seq, id, origin FROM events WHERE seq IN {in_list(seqs)}", seqs
        )
    return {seq: (event_id, origin) for seq, event_id, origin in found.fetchall()}
