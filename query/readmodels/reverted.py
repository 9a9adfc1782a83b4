"""Every deployment some rollback reverted, for the change-failure rate: the rule of the
``rollback_reverts`` view (CONTRACT §1, query/readmodels/rollbacks.py) over arrays.

The view ranks every deployment in its place (service and environment) with a window and
finds each rollback's bounds by three ASOF joins: DuckDB sorts the deployments four times,
~80 MB for a moment on the 1M-event ledger of bench/bench_memory.py, which set a long-running
serve's peak (docs/benchmarks.md, "Memory"). Here the columns are read once and each bound is
a binary search over them: a few arrays of one integer per row.

Deployments are put in one order, by place, time, then seq, so a place's deployments are one
run of positions and "before" within a place is "at a smaller position". A rollback's upper
bound is the last position of its place at or before its instant (of ``from_version`` when it
names one); its lower bound the last position before that of ``to_version``; it reverts the
positions after the lower bound up to the upper one, or the upper one alone without a lower.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from provenance_ledger.query.suspects.picked import dictionary_codes

# What dictionary_codes gives a null, and what stands for "none found".
NONE = -1


def reverted_deployments(cur: duckdb.DuckDBPyConnection) -> np.ndarray:
    """The event seqs of the deployments reverted by any rollback, sorted, each once."""
    deployments = cur.sql(
        "SELECT service, environment, version, epoch_us(deployed_at) AS at, event_seq "
        "FROM deployments"
    ).to_arrow_table()
    rollbacks = cur.sql(
        "SELECT service, environment, from_version, to_version, epoch_us(rolled_back_at) AS at "
        "FROM rollbacks"
    ).to_arrow_table()
    count, asked = deployments.num_rows, rollbacks.num_rows
    if not count or not asked:
        return np.empty(0, dtype=np.int64)

    # One code per place and per version, shared by deployments and rollbacks.
    services = _codes(deployments["service"], rollbacks["service"])
    environments = _codes(deployments["environment"], rollbacks["environment"])
    # Dense, so that place * width below stays far inside an int64.
    places = np.unique(
        services * (int(environments.max()) + 1) + environments, return_inverse=True
    )[1]
    versions = _codes(deployments["version"], rollbacks["from_version"], rollbacks["to_version"])
    # Instants as dense ranks: place and instant then make one int64 key, since both are
    # below count + asked.
    instants = np.unique(
        np.concatenate([_ints(deployments["at"]), _ints(rollbacks["at"])]), return_inverse=True
    )[1]
    width = count + asked + 1
    keys = places * width + instants

    seqs = _ints(deployments["event_seq"])
    order = np.lexsort((seqs, keys[:count]))
    placed = keys[:count][order]
    # Position by version: version * count + position, sorted, to find the last position of a
    # version before a given one.
    by_version = np.sort(versions[:count][order] * count + np.arange(count))

    rb_places, rb_keys = places[count:], keys[count:]
    place_start = np.searchsorted(placed, rb_places * width, side="left")
    at_or_before = np.searchsorted(placed, rb_keys, side="right")
    from_versions = versions[count : count + asked]
    upper = np.where(
        from_versions == NONE,
        at_or_before - 1,
        _last_of_version(by_version, count, from_versions, at_or_before),
    )
    found = upper >= place_start
    upper, place_start = upper[found], place_start[found]
    lower = _last_of_version(by_version, count, versions[count + asked :][found], upper)
    first = np.where(lower >= place_start, lower + 1, upper)

    # Mark each rollback's run of positions [first, upper] and keep the positions covered.
    edges = np.zeros(count + 1, dtype=np.int64)
    np.add.at(edges, first, 1)
    np.add.at(edges, upper + 1, -1)
    covered = np.cumsum(edges[:count]) > 0
    return np.unique(seqs[order][covered])


def _last_of_version(
    by_version: np.ndarray, count: int, versions: np.ndarray, before: np.ndarray
) -> np.ndarray:
    """Per query: the last position below ``before`` of a deployment of that version
    (NONE when there is none, or the version is NONE)."""
    wanted = versions * count
    at = np.searchsorted(by_version, wanted + before, side="left") - 1
    hit = by_version[np.maximum(at, 0)]
    exists = (versions != NONE) & (at >= 0) & (hit >= wanted)
    return np.where(exists, hit - wanted, NONE)


def _codes(*columns: pa.ChunkedArray) -> np.ndarray:
    """One int64 code per value over all ``columns`` end to end (equal values, equal codes);
    NONE for a null."""
    chunks = [chunk.cast(pa.string()) for column in columns for chunk in column.chunks]
    return dictionary_codes(pa.concat_arrays(chunks).dictionary_encode().indices).astype(np.int64)


def _ints(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)
