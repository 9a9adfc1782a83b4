"""A person's level at an instant, from person.registered facts only (CONTRACT §1)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import duckdb

from provenance_ledger.ledger.origin import trusted
from provenance_ledger.ledger.rows import single_row
from provenance_ledger.query.readmodels.incidents import events_by_seq, utc_from_micros


class Levels:
    """Registrations per person; a later one supersedes from its time on.

    Before someone's first registration their level is unknown (None): the ledger never
    guesses a level backwards in time. Each registration keeps the origin of its event
    (ledger/origin.py), so a rule can count only those from origins it trusts.
    """

    def __init__(self, rows: Iterable[tuple[str, str, datetime, int, str | None]]) -> None:
        self._by_person: dict[str, list[tuple[datetime, int, str, str | None]]] = defaultdict(list)
        for person_id, level, valid_from, seq, origin in rows:
            self._by_person[person_id].append((valid_from, seq, level, origin))
        for entries in self._by_person.values():
            entries.sort()

    def at(
        self, person_id: str | None, when: datetime, trusted_origins: list[str] | None = None
    ) -> str | None:
        """The level at ``when``; with ``trusted_origins``, from those registrations only."""
        level = None
        for valid_from, _, registered, origin in self._by_person.get((person_id or "").lower(), ()):
            if valid_from > when:
                break
            if trusted(origin, trusted_origins):
                level = registered
        return level


def load_levels(cur: duckdb.DuckDBPyConnection, people: Iterable[str | None]) -> Levels:
    ids = sorted({p.lower() for p in people if p})
    if not ids:
        return Levels([])
    # people is small (one row per registration): a hash semi-join beats many index probes.
    # The origins come after, by seq: as a subquery per row here, DuckDB joined the whole
    # events table (~60 ms a query at 1M events; docs/benchmarks.md, "Memory").
    rows = cur.execute(
        "SELECT person_id, level, epoch_us(valid_from), event_seq FROM people "
        "WHERE person_id IN (SELECT unnest(?::VARCHAR[]))",
        [ids],
    ).fetchall()
    origins = events_by_seq(cur, sorted({row[3] for row in rows}))
    return _levels([(*row, origins.get(row[3], (None, None))[1]) for row in rows])


_REGISTRATION_ROWS = (
    "SELECT person_id, level, epoch_us(valid_from), event_seq, "
    "(SELECT origin FROM events WHERE seq = event_seq) FROM people"
)


def _levels(rows: list[tuple]) -> Levels:
    return Levels(
        (pid, level, utc_from_micros(at), seq, origin) for pid, level, at, seq, origin in rows
    )


# Everyone's registrations per ledger file, with the (row count, last event_seq) of people
# they were read at. people only grows (one row per person.registered, never updated), so
# those two name its content: checking them is one small query, where reading a hundred
# people's registrations is a hash join over the table each time.
_REGISTRATIONS: dict[str, tuple[tuple[int, int], Levels]] = {}
_REGISTRATIONS_LOCK = threading.Lock()
# Beyond this many registrations the copy would cost more memory than it saves time.
REGISTRATIONS_KEPT_MAX = 200_000


def all_levels(cur: duckdb.DuckDBPyConnection) -> Levels | None:
    """Everyone's levels, from this process's copy of ``people`` (re-read when it grew); None
    for an in-memory ledger or a very large people table: use ``load_levels`` then."""
    path, count, last = single_row(
        cur.execute(
            "SELECT (SELECT path FROM duckdb_databases() WHERE database_name = current_database()),"
            " count(*), coalesce(max(event_seq), -1) FROM people"
        )
    )
    if not path or count > REGISTRATIONS_KEPT_MAX:
        return None
    with _REGISTRATIONS_LOCK:
        kept = _REGISTRATIONS.get(path)
    if kept is not None and kept[0] == (count, last):
        return kept[1]
    levels = _levels(cur.execute(_REGISTRATION_ROWS).fetchall())
    # Keyed by what was counted before reading: rows written since only make it fuller,
    # and the next check reads them again.
    with _REGISTRATIONS_LOCK:
        _REGISTRATIONS[path] = ((count, last), levels)
    return levels
