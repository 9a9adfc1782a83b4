"""The services an incident reaches through the service catalog, as registered at impact start.

The catalog (``service_registrations``: one row per ``service.registered``, never updated)
changes rarely and is small, so each process keeps a copy per ledger file, re-read only when
a registration was added: checking that is one small query (under a millisecond; run
alongside the incident's look-up in a thread of its own it costs more than it saves), and
the walk is then done here, without SQL. A catalog too large to
keep (or an in-memory ledger) is walked by one recursive query instead
(``gather.dependency_paths``); both follow the same rule, which tests hold them to.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import duckdb

from provenance_ledger.ledger.rows import single_row
from provenance_ledger.query.readmodels.incidents import utc_from_micros
from provenance_ledger.query.suspects.gather import CATALOG_VERSION, dependency_paths
from provenance_ledger.query.suspects.model import IncidentFacts
from provenance_ledger.query.suspects.weights import MAX_DEPENDENCY_HOPS

Paths = dict[str, tuple[str, ...]]
# Beyond this many registrations the copy would cost more memory than the query it saves.
CATALOG_KEPT_MAX = 100_000


@dataclass(frozen=True)
class Catalog:
    """Per service, its registrations in force order: ((valid_from, event_seq), depends_on)."""

    registrations: dict[str, list[tuple[tuple[datetime, int], tuple[str, ...]]]]

    def depends_on(self, service: str, at: datetime) -> tuple[str, ...]:
        """What ``service`` called as registered at ``at``: the latest registration at or
        before it (at one instant, the later in the ledger); () if none."""
        found = self.registrations.get(service, [])
        index = bisect_right(found, (at, float("inf")), key=lambda entry: entry[0])
        return found[index - 1][1] if index else ()

    def paths(self, services: tuple[str, ...], at: datetime) -> Paths:
        """Per service reached from ``services`` (a path of one for each of them): the
        shortest chain of calls to it, the first in alphabetical order among equally short
        ones, at most MAX_DEPENDENCY_HOPS long. A service reached is not expanded again."""
        paths: Paths = {service: (service,) for service in services}
        frontier = sorted(paths)
        for _ in range(MAX_DEPENDENCY_HOPS):
            reached: Paths = {}
            for caller in frontier:
                for callee in self.depends_on(caller, at):
                    path = (*paths[caller], callee)
                    if callee not in paths and (callee not in reached or path < reached[callee]):
                        reached[callee] = path
            if not reached:
                break
            paths |= reached
            frontier = sorted(reached)
        return paths


_CATALOGS: dict[str, tuple[tuple[int, int], Catalog]] = {}
_CATALOGS_LOCK = threading.Lock()


def kept_catalog(
    cur: duckdb.DuckDBPyConnection, version: tuple[str | None, int, int] | None = None
) -> Catalog | None:
    """This process's copy of the ledger's catalog (re-read when a registration was added);
    None for an in-memory ledger or a catalog too large to keep. ``version``: the file's
    path, count of registrations and last seq (``gather.CATALOG_VERSION``) when already read.
    """
    if version is None:
        path, (count, last) = single_row(cur.execute(f"SELECT {CATALOG_VERSION}"))
    else:
        path, count, last = version
    if not path or count > CATALOG_KEPT_MAX:
        return None
    with _CATALOGS_LOCK:
        kept = _CATALOGS.get(path)
    if kept is not None and kept[0] == (count, last):
        return kept[1]
    registrations: dict[str, list[tuple[tuple[datetime, int], tuple[str, ...]]]] = defaultdict(list)
    for service, micros, seq, depends_on in cur.execute(
        "SELECT service, epoch_us(valid_from), event_seq, depends_on FROM service_registrations"
    ).fetchall():
        registrations[service].append(((utc_from_micros(micros), seq), tuple(depends_on or ())))
    for entries in registrations.values():
        entries.sort(key=lambda entry: entry[0])
    catalog = Catalog(dict(registrations))
    with _CATALOGS_LOCK:
        _CATALOGS[path] = ((count, last), catalog)
    return catalog


def reach(
    cur: duckdb.DuckDBPyConnection,
    facts: IncidentFacts,
    version: tuple[str | None, int, int] | None = None,
) -> Paths:
    """The services the incident reaches at impact start, each with its path (``version``:
    as for ``kept_catalog``)."""
    catalog = kept_catalog(cur, version)
    if catalog is None:
        return dependency_paths(cur, facts)
    return catalog.paths(facts.services, facts.impact)
