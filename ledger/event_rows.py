"""What the writer and the worker that prepares batches (ledger/prepare.py) both build: the
``events`` columns of accepted events, and Arrow tables of a table's column types.

Apart from ledger/writer.py so that the worker never imports DuckDB, which it does not use:
the import alone is ~26 MB of its resident memory.
"""

from __future__ import annotations

import pyarrow as pa

from provenance_ledger.ledger.batch import Incoming
from provenance_ledger.ledger.projection import Accepted, Columns


def event_columns(
    items: list[Incoming], accepted: list[Accepted], leaf_of_seq: dict[int, bytes]
) -> Columns:
    """The ``events`` columns of the accepted records (``ingested_at`` is added in SQL)."""
    events = [item.decoded.event for item in accepted]
    records = [item.record for item in items]
    return {
        "seq": [item.seq for item in accepted],
        "source": [event.source for event in events],
        "id": [event.id for event in events],
        "type": [event.type for event in events],
        "time": [event.time for event in events],
        "subject": [event.subject for event in events],
        "content_hash": [item.decoded.content_hash for item in accepted],
        # Bytes: Arrow checks they are UTF-8 as it copies them (no str per event).
        "canonical": [item.decoded.canonical for item in accepted],
        "leaf_hash": [leaf_of_seq[item.seq] for item in accepted],
        "topic": [record.topic for record in records],
        "kafka_partition": [record.partition for record in records],
        "kafka_offset": [record.offset for record in records],
        "origin": [item.origin for item in items],
    }


def typed_table(columns: Columns, types: dict[str, pa.DataType]) -> pa.Table:
    """The columns as an Arrow table of the given column types (a table's, from
    ``writer.arrow_types``), in the table's order when they are all of its columns."""
    if columns.keys() == types.keys():
        columns = {name: columns[name] for name in types}  # the table's column order
    return pa.table({name: pa.array(values, types.get(name)) for name, values in columns.items()})
