"""A person's level at an instant, from person.registered facts only (CONTRACT §1)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import duckdb


class Levels:
    """Registrations per person; a later one supersedes from its time on.

    Before someone's first registration their level is unknown (None): the ledger never
    guesses a level backwards in time.
    """

    def __init__(self, rows: Iterable[tuple[str, str, datetime, int]]) -> None:
        self._by_person: dict[str, list[tuple[datetime, int, str]]] = defaultdict(list)
        for person_id, level, valid_from, seq in rows:
            self._by_person[person_id].append((valid_from, seq, level))
        for entries in self._by_person.values():
            entries.sort()

    def at(self, person_id: str | None, when: datetime) -> str | None:
        level = None
        for valid_from, _, registered in self._by_person.get((person_id or "").lower(), ()):
            if valid_from > when:
                break
            level = registered
        return level


def load_levels(cur: duckdb.DuckDBPyConnection, people: Iterable[str | None]) -> Levels:
    ids = sorted({p.lower() for p in people if p})
    if not ids:
        return Levels([])
    # people is small (one row per registration): a hash semi-join beats many index probes.
    rows = cur.execute(
        "SELECT person_id, level, valid_from, event_seq FROM people "
        "WHERE person_id IN (SELECT unnest(?::VARCHAR[]))",
        [ids],
    ).fetchall()
    return Levels(rows)
