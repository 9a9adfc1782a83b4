"""A person's level at an instant, from person.registered facts only (CONTRACT §1)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
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
        self._by_person: dict[str, list[tuple[datetime, int, str, str | None]]] = {}
        self._add(rows)

    def _add(self, rows: Iterable[tuple[str, str, datetime, int, str | None]]) -> None:
        grown: dict[str, list[tuple[datetime, int, str, str | None]]] = defaultdict(list)
        for person_id, level, valid_from, seq, origin in rows:
            grown[person_id].append((valid_from, seq, level, origin))
        for person_id, entries in grown.items():
            self._by_person[person_id] = sorted([*self._by_person.get(person_id, ()), *entries])

    def extended(self, rows: Iterable[tuple[str, str, datetime, int, str | None]]) -> Levels:
        """These levels and ``rows`` as a new Levels; this one, which other threads may be
        reading, is left as it is (the people it does not touch share their lists)."""
        grown = Levels(())
        grown._by_person = dict(self._by_person)
        grown._add(rows)
        return grown

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


# Registrations after a seq, with their events' origins. The join names the seq bound on both
# sides so DuckDB skips the events before it; as a subquery per row, (SELECT origin FROM
# events WHERE seq = event_seq), it hashed the whole events table: 46 MB and ~70 ms at 1M
# events, on every new registration while serve ingests (docs/benchmarks.md, "Memory").
_REGISTRATIONS_AFTER = (
    "SELECT p.person_id, p.level, epoch_us(p.valid_from), p.event_seq, e.origin "
    "FROM people p JOIN events e ON e.seq = p.event_seq "
    "WHERE p.event_seq > $after AND e.seq > $after"
)


def _levels(rows: list[tuple]) -> Levels:
    return Levels(_registrations(rows))


def _registrations(rows: list[tuple]) -> Iterable[tuple[str, str, datetime, int, str | None]]:
    return ((pid, level, utc_from_micros(at), seq, origin) for pid, level, at, seq, origin in rows)


@dataclass(frozen=True)
class _Kept:
    """Everyone's levels as read from people: ``count`` rows, the last at seq ``last``."""

    count: int
    last: int
    levels: Levels


# Everyone's registrations per ledger file. people only grows (one row per
# person.registered, never updated, appended in seq order), so (row count, last event_seq)
# name its content, and what it gained since is the rows after the last seq read: one small
# query, where reading everyone again cost a join over events on every new registration.
_REGISTRATIONS: dict[tuple[str, str | None], _Kept] = {}
_REGISTRATIONS_LOCK = threading.Lock()
# Beyond this many registrations the copy would cost more memory than it saves time.
REGISTRATIONS_KEPT_MAX = 200_000


def all_levels(cur: duckdb.DuckDBPyConnection) -> Levels | None:
    """Everyone's levels, from this process's copy of ``people`` (caught up when it grew);
    None for an in-memory ledger or a very large people table: use ``load_levels`` then."""
    path, ledger_id, count, last = single_row(
        cur.execute(
            "SELECT (SELECT path FROM duckdb_databases() WHERE database_name = current_database()),"
            " (SELECT ledger_id FROM ledger_identity LIMIT 1),"
            " count(*), coalesce(max(event_seq), -1) FROM people"
        )
    )
    if not path or count > REGISTRATIONS_KEPT_MAX:
        return None
    # Keyed by the ledger too: a file at the same path may hold another ledger by now.
    key = (path, ledger_id)
    with _REGISTRATIONS_LOCK:
        kept = _REGISTRATIONS.get(key)
    if kept is not None and (kept.count, kept.last) == (count, last):
        return kept.levels
    after = -1 if kept is None else kept.last
    rows = cur.execute(_REGISTRATIONS_AFTER, {"after": after}).fetchall()
    if kept is None:
        caught_up = _Kept(len(rows), max((row[3] for row in rows), default=-1), _levels(rows))
    else:
        caught_up = _Kept(
            kept.count + len(rows),
            max((row[3] for row in rows), default=kept.last),
            kept.levels.extended(_registrations(rows)),
        )
    with _REGISTRATIONS_LOCK:
        # Another thread may have caught up further meanwhile: keep the fuller copy.
        current = _REGISTRATIONS.get(key)
        if current is None or current.count <= caught_up.count:
            _REGISTRATIONS[key] = caught_up
    return caught_up.levels
