"""Rows of a kept timeline (query/suspects/timelines.py) picked by a time range and a mask,
read a column at a time.

On the bench ledger with a dependency graph, each Arrow compute call on a day of
deployments cost 150-200 µs (``is_in`` and ``filter`` on dictionary-encoded columns, the
casts that decode them) and turning whole rows into dicts ~3 µs a row; a suspects call made
dozens of the one and hundreds of the other. The sorted part of a timeline is one chunk,
so there a dictionary column's codes are a NumPy view, a mask over them is one index into a
table of the wanted codes (a few µs), and values come out of a NumPy take on the
dictionary's values. The rows caught up since the last merge (the tail, a few thousand at
most) go through Arrow's compute functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import chain, compress
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class Dictionary:
    """One dictionary column of a timeline's sorted part, as Python: its values (and None
    for a null, last) and each value's code."""

    def __init__(self, dictionary: pa.Array) -> None:
        values = dictionary.to_pylist()
        self.values = np.array([*values, None], dtype=object)
        self.codes = {value: code for code, value in enumerate(values)}

    def wanted(self, names: Iterable[str]) -> np.ndarray:
        """Per code (null last): whether its value is among ``names``."""
        table = np.zeros(len(self.values), dtype=bool)
        table[[self.codes[name] for name in names if name in self.codes]] = True
        return table


class Part:
    """A contiguous run of a timeline's rows: a slice of its sorted part, whose dictionary
    columns are read through ``dictionaries`` (the timeline's, made once), or rows of its
    tail (``dictionaries`` None)."""

    def __init__(
        self, rows: pa.Table, dictionaries: Callable[[str], Dictionary] | None = None
    ) -> None:
        self.rows = rows
        self._dictionaries = dictionaries
        self._codes: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return self.rows.num_rows

    def among(self, column: str, names: Iterable[str]) -> np.ndarray:
        """Per row: whether ``column`` is one of ``names`` (false for a null)."""
        codes = self._coded(column)
        if codes is not None:
            assert self._dictionaries is not None
            return self._dictionaries(column).wanted(names)[codes]
        wanted = pa.array(list(names), pa.string())
        return _bools(pc.is_in(self.rows.column(column), value_set=wanted))

    def is_null(self, column: str) -> np.ndarray:
        codes = self._coded(column)
        if codes is not None:
            return codes < 0
        return _bools(self.rows.column(column).is_null())

    def values(self, column: str, positions: np.ndarray) -> list[Any]:
        """The values of ``column`` at ``positions`` (row numbers within this part)."""
        codes = self._coded(column)
        if codes is not None:
            assert self._dictionaries is not None
            return self._dictionaries(column).values[codes[positions]].tolist()
        array = self.rows.column(column)
        numeric = pa.types.is_integer(array.type) or pa.types.is_floating(array.type)
        if numeric and array.num_chunks == 1 and not array.null_count:
            return array.chunk(0).to_numpy()[positions].tolist()
        return decoded(array.take(pa.array(positions, pa.int64()))).to_pylist()

    def _coded(self, column: str) -> np.ndarray | None:
        """The codes of a dictionary column of the sorted part (-1 for a null); None for
        any other column."""
        if self._dictionaries is None:
            return None
        codes = self._codes.get(column)
        if codes is None:
            array = self.rows.column(column)
            if not pa.types.is_dictionary(array.type) or array.num_chunks != 1:
                return None
            codes = self._codes[column] = dictionary_codes(array.chunk(0).indices)
        return codes


def decoded(values: pa.Array) -> pa.Array:
    """``values`` with a dictionary type cast to its value type; any other as it is."""
    return values.cast(values.type.value_type) if pa.types.is_dictionary(values.type) else values


def dictionary_codes(indices: pa.Array) -> np.ndarray:
    """A dictionary array's indices as NumPy, -1 where null: read from the buffers (Arrow's
    ``fill_null`` and ``to_numpy`` with nulls each cost ~15 µs a call)."""
    first, count = indices.offset, len(indices)
    dtype = np.dtype(indices.type.to_pandas_dtype())
    codes = np.frombuffer(indices.buffers()[1], dtype=dtype)[first : first + count]
    validity = indices.buffers()[0]
    if validity is None or not indices.null_count:
        return codes
    bits = np.frombuffer(validity, dtype=np.uint8)[first // 8 : (first + count + 7) // 8 + 1]
    valid = np.unpackbits(bits, bitorder="little")[first % 8 : first % 8 + count]
    return np.where(valid.astype(bool), codes, -1)


def _bools(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


PartMask = Callable[[Part], np.ndarray]


class Picked:
    """Rows picked from a timeline's parts: per part, the row numbers kept."""

    def __init__(self, picks: list[tuple[Part, np.ndarray]], columns: list[str]) -> None:
        self._picks = picks
        self.columns = columns  # what ``rows`` gives (the lower-case environment left out)
        self._read: dict[str, list[Any]] = {}

    @classmethod
    def of(cls, parts: list[Part], mask: PartMask) -> Picked:
        """The rows of ``parts`` that ``mask`` keeps (masks never give null)."""
        picks = [(part, np.flatnonzero(mask(part))) for part in parts if len(part)]
        columns = parts[0].rows.column_names[:-1] if parts else []
        return cls(picks, columns)

    def __len__(self) -> int:
        return sum(len(positions) for _, positions in self._picks)

    def column(self, name: str) -> list[Any]:
        """The values of column ``name``, part after part (read once: not to be changed)."""
        found = self._read.get(name)
        if found is None:
            parts = [part.values(name, positions) for part, positions in self._picks]
            found = self._read[name] = parts[0] if len(parts) == 1 else list(chain(*parts))
        return found

    def kept(self, keep: np.ndarray) -> Picked:
        """These rows where ``keep`` (one flag per row, in ``column`` order) is true."""
        picks, first = [], 0
        for part, positions in self._picks:
            picks.append((part, positions[keep[first : first + len(positions)]]))
            first += len(positions)
        narrowed = Picked(picks, self.columns)
        # Columns already read are narrowed too rather than read again (a read costs tens
        # of µs: Arrow's ``take`` per call).
        for name, values in self._read.items():
            narrowed._read[name] = list(compress(values, keep))
        return narrowed

    def rows(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The rows (``names`` of their columns, all by default) as dicts in seq order, as a
        table scan gives them."""
        if not len(self):
            return []
        names = list(self.columns if names is None else names)
        values = [self.column(name) for name in names]
        rows = [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
        seqs = (
            values[names.index("event_seq")] if "event_seq" in names else self.column("event_seq")
        )
        order = sorted(range(len(rows)), key=seqs.__getitem__)
        return [rows[position] for position in order]
