"""The commit facts suspects calls read, and the commits deployments named, kept in memory
per ledger file and per process.

``commit_facts`` only grows, in seq order (ledger/commit_facts.py), so what the ledger
knows of a commit changes only by rows with a seq above the last one seen. Each call first
reads the commits such rows name (zone maps confine that to the newest row group) and
forgets those; every other commit's rows, once read, are served from memory. On the bench
ledger the look-up this saves is most of a warm call: ~46 commits, a hundred-odd rows
fetched one by one through the index and their events' origins, ~12 ms of ~38 ms.

What a deployment named (``deployment_changes``) is written with the deployment and never
after, and the AI tools of a configuration change (``config_change_ai``) with the change, so
those are kept without any check (~3 ms and ~4 ms a call on the bench ledgers).

Deployments not kept are read from their packs where packed (ledger/commit_packs.py), with
their commits' facts up to the packs' mark, and so are the configuration changes a call asks
with them (the facts of the commits they were applied from are then kept); a commit with
facts past the mark is read through the index instead. Which commits those are is kept too
(the *tail*: commit → its newest fact seq, facts past the mark only), fed by the same
catch-up, so no call scans for them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any

import duckdb

from provenance_ledger.ledger.commit_packs import marks
from provenance_ledger.query.readmodels.changes import built_from, fetch_facts, fetch_named
from provenance_ledger.query.readmodels.packs import read_packs
from provenance_ledger.query.suspects.gather import config_ai

# Commits kept per ledger file, least recently used dropped first: a suspects call reads
# 50 to 150 (the bench's 150 incidents read 6,900 without the dependency graph, 11,200 with
# it; fewer kept and a pass over them finds none kept), ~50 MB on the bench ledger (~2.4 rows
# and ~2.4 KB a commit; more with long messages and many files).
KEPT_COMMITS_MAX = 20_000
# Deployments whose named commits, and configuration changes whose AI tools, are kept per
# ledger file (a call reads 15 to 100; ~1 KB each with 10 commits).
KEPT_DEPLOYMENTS_MAX = 10_000
# Event seqs past the packs' mark beyond which packs are not read: the packer is far behind
# (a backfill), and keeping the tail would cost its scan and memory (~150 bytes a commit).
TAIL_MOST = 2_000_000

Rows = list[dict[str, Any]]


class KeptFacts:
    """One ledger file's kept commit facts: per commit its ``commit_facts`` rows as
    ``fetch_facts`` gives them, all rows up to seq ``last`` taken into account."""

    def __init__(self, last: int, newest: int) -> None:
        self._last = last
        self._newest = newest  # the ledger's newest event seq when last caught up
        self._rows: OrderedDict[str, Rows] = OrderedDict()
        self._named: OrderedDict[int, list[tuple[str | None, str]]] = OrderedDict()
        self._ai: OrderedDict[int, Rows] = OrderedDict()
        self._built: OrderedDict[str, list[tuple[Any, ...]]] = OrderedDict()
        # The tail: per commit with facts past seq ``_tail_above``, its newest fact's seq.
        self._tail: dict[str, int] | None = None
        self._tail_above = -1
        self._lock = threading.Lock()

    def catch_up(self, cur: duckdb.DuckDBPyConnection, newest: int) -> None:
        """Forget the commits that rows written since the last call name; nothing to read
        when no event was written since (the ledger's newest seq did not move)."""
        with self._lock:
            last, since = self._last, self._newest
            if newest == since:
                return
            self._newest = newest
        self._forget_built(cur, since, newest)
        newer = cur.execute(
            "SELECT commit, event_seq FROM commit_facts WHERE event_seq > ?", [last]
        ).fetchall()
        if not newer:
            return
        with self._lock:
            for commit, seq in newer:
                self._rows.pop(commit, None)
                if self._tail is not None and seq > self._tail.get(commit, self._tail_above):
                    self._tail[commit] = seq
            self._last = max(self._last, max(seq for _, seq in newer))

    def fetch(self, cur: duckdb.DuckDBPyConnection, commits: list[str]) -> Rows:
        """``fetch_facts(cur, commits)``, reading only the commits not kept."""

        def read(missing: list[str]) -> dict[str, Rows]:
            return _grouped(missing, fetch_facts(cur, missing), lambda row: row["commit"])

        both = self._through(self._rows, commits, read, KEPT_COMMITS_MAX, lambda: self._last)
        rows = [row for commit in commits for row in both[commit]]
        # In ledger order, as fetch_facts gives them (the first authored fact wins).
        rows.sort(key=lambda row: row["event_seq"])
        return rows

    def holds(self, commit: str) -> bool:
        """Whether this commit's facts are kept (a call reading it reads no index)."""
        with self._lock:
            return commit in self._rows

    def _through(
        self,
        kept: OrderedDict,
        keys: list,
        read: Callable[[list], dict],
        most: int,
        version: Callable[[], object] = lambda: None,
    ) -> dict:
        """Per key: the value ``kept`` holds, or what ``read`` gives for the keys it lacks
        (one call), which is then kept, the least recently used beyond ``most`` dropped.
        ``version`` (read under the lock) tells whether a catch-up forgot anything while
        reading: what was read may predate rows it forgot, so it is not kept then (this
        call still uses it)."""
        with self._lock:
            seen = version()
            found = {key: kept[key] for key in keys if key in kept}
            for key in found:
                kept.move_to_end(key)
        missing = [key for key in keys if key not in found]
        read_now = read(missing) if missing else {}
        with self._lock:
            if version() == seen:
                _keep(kept, read_now, most)
        return found | read_now

    def _forget_built(self, cur: duckdb.DuckDBPyConnection, since: int, newest: int) -> None:
        """Forget the artifacts rows written since name; all of them if a merge of a change
        was written (an artifact that names only its change is resolved through merges)."""
        window = [since, newest]
        named = cur.execute(
            "SELECT artifact FROM artifacts WHERE event_seq > ? AND event_seq <= ? "
            "UNION ALL SELECT NULL FROM merges WHERE event_seq > ? AND event_seq <= ? "
            "AND change_ref IS NOT NULL",
            window + window,
        ).fetchall()
        with self._lock:
            if any(name is None for (name,) in named):
                self._built.clear()
            for (name,) in named:
                self._built.pop(name, None)

    def built(self, cur: duckdb.DuckDBPyConnection, names: list[str]) -> list[tuple[Any, ...]]:
        """``built_from(cur, names)``, reading only the artifacts not kept."""

        def read(missing: list[str]) -> dict[str, list[tuple[Any, ...]]]:
            return _grouped(missing, built_from(cur, missing), lambda row: row[0])

        both = self._through(self._built, names, read, KEPT_DEPLOYMENTS_MAX, lambda: self._newest)
        return [row for name in names for row in both[name]]

    # Per ledger file and the ledger it holds: a file replaced by another ledger's at the same
    # path starts afresh (a rebuild keeps the ledger's id and replays the same rows).
    def named(
        self, cur: duckdb.DuckDBPyConnection, seqs: list[int], ai_of: Collection[int] = ()
    ) -> list[tuple[int, str | None, str]]:
        """``fetch_named(cur, seqs)``, reading only the deployments not kept. The AI tools of
        the configuration changes among them in ``ai_of`` are read with the packs, and kept
        for ``ai``."""

        def read(missing: list[int]) -> dict[int, list[tuple[str | None, str]]]:
            has_tail = self._start_tail(cur)
            asked_ai = [seq for seq in missing if seq in ai_of]
            packed = read_packs(cur, missing, asked_ai) if has_tail else None
            rest = [seq for seq in missing if packed is None or not packed.packed(seq)]
            grouped = _grouped(rest, fetch_named(cur, rest) if rest else [], lambda row: row[0])
            named = {
                seq: [(repo, commit) for _, repo, commit in found] for seq, found in grouped.items()
            }
            if packed is not None:
                named |= packed.named
                self._keep_packed(packed.facts, packed.marks.facts_through)
                self._keep_ai(packed.ai)
            return named

        both = self._through(self._named, seqs, read, KEPT_DEPLOYMENTS_MAX)
        return [(seq, repo, commit) for seq in seqs for repo, commit in both[seq]]

    def _start_tail(self, cur: duckdb.DuckDBPyConnection) -> bool:
        """Whether the tail is kept, starting it when the packs are near enough the newest
        facts: one scan of the facts past their mark, kept only if no catch-up ran meanwhile
        (what it read would be missing)."""
        with self._lock:
            if self._tail is not None:
                return True
            last = self._last
        above = marks(cur).facts_through
        if above < 0 or last - above > TAIL_MOST:
            return False
        rows = cur.execute(
            "SELECT commit, max(event_seq) FROM commit_facts "
            "WHERE event_seq > ? AND event_seq <= ? GROUP BY commit",
            [above, last],
        ).fetchall()
        with self._lock:
            if self._tail is None and self._last == last:
                self._tail, self._tail_above = dict(rows), above
            return self._tail is not None

    def _keep_packed(self, facts: dict[str, Rows], through: int) -> None:
        """Keep the packed facts of each commit that has none past ``through`` (the packs'
        mark when read), as if read through the index; drop the tail up to that mark. Packs
        read before the tail's mark moved past theirs are not kept (the tail no longer tells
        which of their commits have newer facts): the call reads those commits again."""
        with self._lock:
            if self._tail is None or through < self._tail_above:
                return
            if through > self._tail_above:
                self._tail = {c: seq for c, seq in self._tail.items() if seq > through}
                self._tail_above = through
            tail = self._tail
            fresh = {commit: rows for commit, rows in facts.items() if commit not in tail}
            _keep(self._rows, fresh, KEPT_COMMITS_MAX)

    def _keep_ai(self, tools: dict[int, Rows]) -> None:
        """Keep the AI tools read with the packs (a change's never change)."""
        with self._lock:
            _keep(self._ai, tools, KEPT_DEPLOYMENTS_MAX)

    def ai(self, cur: duckdb.DuckDBPyConnection, seqs: list[int]) -> dict[int, Rows]:
        """``gather.config_ai(cur, seqs)``, reading only the configuration changes not kept
        (copies: the caller hands them on)."""

        def read(missing: list[int]) -> dict[int, Rows]:
            found = config_ai(cur, missing)
            return {seq: found.get(seq, []) for seq in missing}

        both = self._through(self._ai, seqs, read, KEPT_DEPLOYMENTS_MAX)
        return {seq: [dict(tool) for tool in tools] for seq, tools in both.items() if tools}


def _keep(kept: OrderedDict, items: dict, most: int) -> None:
    """Keep ``items`` as the most recently used, the least recently used beyond ``most``
    dropped (the caller holds the lock)."""
    for key, value in items.items():
        kept[key] = value
        kept.move_to_end(key)
    while len(kept) > most:
        kept.popitem(last=False)


def _grouped(keys: list, rows: list, key_of: Callable[[Any], Any]) -> dict[Any, list]:
    """``rows`` per key, every one of ``keys`` present (with [] when no row names it)."""
    grouped: dict[Any, list] = {key: [] for key in keys}
    for row in rows:
        grouped[key_of(row)].append(row)
    return grouped


_KEPT: dict[tuple[str, str | None], KeptFacts] = {}
_KEPT_LOCK = threading.Lock()


def kept_facts(
    cur: duckdb.DuckDBPyConnection, path: str | None, ledger_id: str | None, newest: int
) -> KeptFacts | None:
    """The kept facts of the ledger file at ``path`` holding ledger ``ledger_id``, caught up
    with its newest rows (``newest``: the newest event seq, read before); None for an
    in-memory ledger (no path): read them with ``fetch_facts``."""
    if not path:
        return None
    key = (path, ledger_id)
    with _KEPT_LOCK:
        kept = _KEPT.get(key)
    if kept is None:
        # Everything written so far is yet to be read, so nothing needs forgetting: start
        # after the last row (DuckDB answers max from the row groups' statistics).
        last = cur.execute("SELECT coalesce(max(event_seq), -1) FROM commit_facts").fetchall()
        kept = KeptFacts(last[0][0], newest)
        with _KEPT_LOCK:
            kept = _KEPT.setdefault(key, kept)
        return kept
    kept.catch_up(cur, newest)
    return kept
