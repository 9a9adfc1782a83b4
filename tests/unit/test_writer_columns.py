"""The writer hands DuckDB its batch columns already typed (ledger/writer.py ``as_arrow``): left
to infer a column's type, pyarrow tries to import dateutil, which is not installed, for every
column of every batch, ~36 µs a time."""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec

import pytest

from provenance_ledger.ledger.batch import decode_batch
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix


class _ImportAttempts(MetaPathFinder):
    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        self.names.append(name)
        return None


@pytest.mark.parametrize("fmt", ["json", "avro"])
def test_writing_a_batch_tries_no_import(fmt: str) -> None:
    records = [
        KafkaRecord("t", offset % 3, offset, key, value, tuple(headers))
        for offset, (key, headers, value) in enumerate(eventmix.messages(400, fmt=fmt, seed=7))
    ]
    ledger = Ledger.open(":memory:", migrate=True)
    # The first batch may load what the writer uses once; the second must load nothing.
    ledger.write_batch(*decode_batch(records[:200], 1 << 20), {("t", 0): 200})
    second = decode_batch(records[200:], 1 << 20)
    attempts = _ImportAttempts()
    sys.meta_path.insert(0, attempts)
    try:
        result = ledger.write_batch(*second, {("t", 0): 400})
    finally:
        sys.meta_path.remove(attempts)
        ledger.close()
    assert result.accepted == 200
    assert attempts.names == []
