"""A window read a column at a time (query/suspects/picked.py) gives what Arrow gives: masks
and values over slices of a dictionary-encoded table at every bit offset, with nulls, as
the sorted part of a kept table (codes read from the buffers) and as its tail (Arrow's
compute functions)."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance_ledger.query.suspects.picked import Dictionary, Part, Picked

NAMES = ["checkout", "payments", "cart", None, "db-main"]


def _table(rng: random.Random, rows: int) -> pa.Table:
    services = [rng.choice(NAMES) for _ in range(rows)]
    keys = [rng.choice(["a", "b", None, "c"]) for _ in range(rows)]
    table = pa.table(
        {
            "service": pc.dictionary_encode(pa.array(services, pa.string())),
            "key": pa.array(keys, pa.string()),
            "share": pa.array([rng.choice([None, 10.0, 100.0]) for _ in range(rows)]),
            "event_seq": pa.array(rng.sample(range(10 * rows), rows), pa.int64()),
            "env_lower": pc.dictionary_encode(pa.array(["prod"] * rows, pa.string())),
        }
    )
    return table.combine_chunks()


def _sorted_part(table: pa.Table, first: int, count: int) -> Part:
    dictionaries: dict[str, Dictionary] = {}

    def dictionary(column: str) -> Dictionary:
        if column not in dictionaries:
            dictionaries[column] = Dictionary(table.column(column).chunk(0).dictionary)
        return dictionaries[column]

    return Part(table.slice(first, count), dictionary)


def test_masks_and_values_match_arrow_at_every_offset() -> None:
    rng = random.Random(5)
    table = _table(rng, 300)
    checked = 0
    for first in range(0, 40):
        count = rng.randint(0, 200)
        plain = table.slice(first, count)
        for part in (_sorted_part(table, first, count), Part(plain)):
            wanted = ["checkout", "cart", "nowhere"]
            expected = pc.is_in(plain.column("service"), value_set=pa.array(wanted))
            assert part.among("service", wanted).tolist() == expected.to_pylist()
            assert part.is_null("service").tolist() == plain.column("service").is_null().to_pylist()
            assert part.among("key", ["a"]).tolist() == [k == "a" for k in plain["key"].to_pylist()]
            positions = np.asarray(sorted(rng.sample(range(count), min(count, 7))), dtype=np.int64)
            for column in ("service", "key", "share", "event_seq"):
                every = plain.column(column).to_pylist()
                assert part.values(column, positions) == [every[p] for p in positions], column
                checked += 1
    assert checked > 200


def test_picked_rows_are_the_masked_rows_in_seq_order_and_narrow() -> None:
    rng = random.Random(8)
    table = _table(rng, 120)
    parts = [_sorted_part(table, 0, 80), Part(table.slice(80, 40))]
    picked = Picked.of(parts, lambda part: part.among("service", ["checkout", "cart"]))
    everything = table.to_pylist()
    expected = sorted(
        (
            {k: v for k, v in row.items() if k != "env_lower"}
            for row in everything
            if row["service"] in ("checkout", "cart")
        ),
        key=lambda row: row["event_seq"],
    )
    assert picked.rows() == expected
    shares = picked.column("share")
    keep = np.asarray([share is None for share in shares], dtype=bool)
    narrowed = picked.kept(keep)
    assert narrowed.rows() == [row for row in expected if row["share"] is None]
    assert narrowed.rows(["event_seq"]) == [
        {"event_seq": row["event_seq"]} for row in expected if row["share"] is None
    ]
