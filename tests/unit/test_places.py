"""The rollback bound a kept deployments timeline answers (query/suspects/places.py) is the
one a scan of its rows gives: the latest row of a place, of a version or any, in a time range,
before a seq at the range's end; over dictionary-encoded and plain columns, with nulls, ties
at one instant and places that never deployed; and a timeline's, over its sorted rows and the
rows caught up since, out of time order."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from provenance_ledger.query.suspects.places import Places
from provenance_ledger.query.suspects.timelines import Timeline

SERVICES = ["checkout", "payments", "cart", "db-main", None]
ENVIRONMENTS = ["prod", "staging", None]
VERSIONS = ["1.0.0", "1.0.1", "2.0.0", None]


def _rows(
    rng: random.Random, count: int, encoded: bool, services: list, environments: list
) -> pa.Table:
    times = sorted(rng.randrange(0, count // 2 + 1) for _ in range(count))
    seqs = list(range(1, count + 1))
    columns = {
        "service": pa.array([rng.choice(services) for _ in range(count)], pa.string()),
        "environment": pa.array([rng.choice(environments) for _ in range(count)], pa.string()),
        "version": pa.array([rng.choice(VERSIONS) for _ in range(count)], pa.string()),
        "deployed_at": pa.array(times, pa.int64()),
        "event_seq": pa.array(seqs, pa.int64()),
    }
    if encoded:
        for name in ("service", "environment", "version"):
            columns[name] = pc.dictionary_encode(columns[name])
    return pa.table(columns)


def _scanned(
    rows: list[dict], place: tuple[str, str], version: str | None, high: int, seq, low: int
) -> tuple[int, int] | None:
    found = [
        (row["deployed_at"], row["event_seq"])
        for row in rows
        if (row["service"], row["environment"]) == place
        and (version is None or row["version"] == version)
        and low <= row["deployed_at"] <= high
        and not (row["deployed_at"] == high and seq is not None and row["event_seq"] >= seq)
    ]
    return max(found, default=None)


# Wide: more places than a 16-bit sort key holds (the other sort).
WIDE = ([f"svc-{n}" for n in range(400)] + [None], [f"env-{n}" for n in range(200)] + [None])


@pytest.mark.parametrize("shape", ["narrow", "wide"])
@pytest.mark.parametrize("encoded", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_the_latest_row_of_a_place_is_the_one_a_scan_finds(
    shape: str, encoded: bool, seed: int
) -> None:
    rng = random.Random(seed)
    services, environments = WIDE if shape == "wide" else (SERVICES, ENVIRONMENTS)
    if shape == "wide":  # the few places asked for below get rows too
        services, environments = services + SERVICES * 40, environments + ENVIRONMENTS * 40
    table = _rows(rng, 2000 if shape == "wide" else 600, encoded, services, environments)
    places = Places(table, table.column("deployed_at").to_numpy())
    rows = table.to_pylist()
    asked = 0
    for _ in range(1500):
        place = (rng.choice([*SERVICES[:-1], "never"]), rng.choice(ENVIRONMENTS[:-1]))
        version = rng.choice([None, *VERSIONS[:-1], "9.9.9"])
        low, high = sorted(rng.randrange(-5, 310) for _ in range(2))
        seq = rng.choice([None, rng.randrange(1, 602)])
        expected = _scanned(rows, place, version, high, seq, low)
        assert places.latest(place, version, high, seq, low) == expected
        asked += expected is not None
    assert asked > 300  # most questions have an answer, so the comparison means something


def test_a_place_with_one_row_and_an_empty_table() -> None:
    one = pa.table(
        {
            "service": ["checkout"],
            "environment": ["prod"],
            "version": ["1.0.0"],
            "deployed_at": pa.array([10], pa.int64()),
            "event_seq": pa.array([7], pa.int64()),
        }
    )
    places = Places(one, np.array([10]))
    assert places.latest(("checkout", "prod"), "1.0.0", 10, None, 0) == (10, 7)
    assert places.latest(("checkout", "prod"), None, 10, 7, 0) is None
    assert places.latest(("checkout", "prod"), "1.0.1", 10, None, 0) is None
    empty = Places(one.slice(0, 0), np.array([], dtype=np.int64))
    assert empty.latest(("checkout", "prod"), None, 10, None, 0) is None


@pytest.mark.parametrize("encoded", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_a_timeline_with_rows_caught_up_out_of_time_order_answers_as_a_scan(
    encoded: bool, seed: int
) -> None:
    """A timeline's tail holds rows in seq order, not time order (a deployment reported
    late): its bound must be the same as a scan of the sorted part and the tail together."""
    rng = random.Random(100 + seed)
    table = _rows(rng, 900, encoded, SERVICES, ENVIRONMENTS)
    sorted_part, caught_up = table.slice(0, 600), table.slice(600)
    # Seqs after the sorted part's, times anywhere in it: the tail is out of time order.
    times = [rng.randrange(0, 451) for _ in range(caught_up.num_rows)]
    caught_up = caught_up.set_column(3, "deployed_at", pa.array(times, pa.int64()))
    timeline = Timeline("deployed_at", sorted_part, caught_up)
    rows = sorted_part.to_pylist() + caught_up.to_pylist()
    asked = 0
    for _ in range(1500):
        place = (rng.choice(SERVICES[:-1]), rng.choice(ENVIRONMENTS[:-1]))
        version = rng.choice([None, *VERSIONS[:-1]])
        low, high = sorted(rng.randrange(-5, 460) for _ in range(2))
        seq = rng.choice([None, rng.randrange(1, 902)])
        expected = _scanned(rows, place, version, high, seq, low)
        assert timeline.latest_at(place, version, high, seq, low) == expected
        asked += expected is not None
    assert asked > 300
