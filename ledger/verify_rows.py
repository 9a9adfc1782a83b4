"""Tie the ledger's rows to its log: each event row agrees with its canonical JSON, is the
value of one accepted record and has a (source, id) no other row has; each dead letter names a
record of the log with its digest.

In SQL, a range of event seqs at a time (:data:`ROW_SPAN`): each join then holds one range's
rows, so verify keeps to its memory cap whatever the ledger's size (over whole tables, a
10M-event ledger ran out of the 256 MB cap). The value digest a record entry ends with is
``0x01 || SHA-256(value)`` (ledger/recordlog.py), i.e. the last 66 hex digits of the entry.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from provenance_ledger.ledger import keyindex, recordlog
from provenance_ledger.ledger.verify_log import Problem
from provenance_ledger.ledger.writer import EVENT_JSON_COLUMNS
from provenance_ledger.schemas.codec import DecodeError, decode_record

DECODE_CHUNK = 2048
# Event seqs checked per range: ~120 MB of join at most under the default cap.
ROW_SPAN = 500_000
# Event seqs decoded per query: its join and sort hold each event's canonical JSON and value
# (~1.6 KB a row for Avro); over a whole range, a 1M-event Avro ledger ran out of the 256 MB cap.
DECODE_SPAN = 50_000

# A row whose columns disagree with the canonical event they were cut from was edited. A
# canonical that is no longer JSON (or whose time no longer parses) was edited too: it reads
# as NULL here, so the query reports it rather than failing.
_COLUMNS_AGREE = f"""
SELECT seq FROM (
    SELECT seq, source, id, type, subject, time, data, attributes, content_hash, valid,
           canonical->>'source' AS c_source, canonical->>'id' AS c_id,
           canonical->>'type' AS c_type, canonical->>'subject' AS c_subject,
           TRY_CAST(canonical->>'time' AS TIMESTAMPTZ) AS c_time,
           sha256(raw) AS c_hash {EVENT_JSON_COLUMNS.replace(" AS ", " AS c_")}
    FROM (
        SELECT * REPLACE (CASE WHEN json_valid(canonical) THEN canonical END AS canonical),
               canonical AS raw, json_valid(canonical) AS valid
        FROM events WHERE seq >= $low AND seq < $high
    )
)
WHERE seq >= 0 AND seq < $events AND (
      NOT valid OR source IS DISTINCT FROM c_source OR id IS DISTINCT FROM c_id
   OR type IS DISTINCT FROM c_type OR subject IS DISTINCT FROM c_subject
   OR time IS DISTINCT FROM c_time OR content_hash IS DISTINCT FROM c_hash
   OR data::VARCHAR IS DISTINCT FROM c_data::VARCHAR
   OR attributes::VARCHAR IS DISTINCT FROM c_attributes::VARCHAR)
ORDER BY seq LIMIT 1
"""

# The record's value is the event's canonical JSON unless the ledger kept another value.
_NOT_ITS_RECORD = """
SELECT e.seq FROM (SELECT seq, canonical FROM events WHERE seq >= $low AND seq < $high) e
LEFT JOIN (
    SELECT event_seq, entry, value FROM log_records
    WHERE outcome = 'accepted' AND event_seq >= $low AND event_seq < $high
) r ON r.event_seq = e.seq
WHERE e.seq >= 0 AND e.seq < $events AND (r.event_seq IS NULL
   OR right(hex(r.entry), 66) <> '01' || upper(sha256(coalesce(r.value, encode(e.canonical)))))
ORDER BY e.seq LIMIT 1
"""

_WITHOUT_ROW = """
SELECT r.event_seq FROM log_records r
ANTI JOIN (SELECT seq FROM events WHERE seq >= $low AND seq < $high) e ON e.seq = r.event_seq
WHERE r.outcome = 'accepted' AND r.event_seq >= $low AND r.event_seq < $high
ORDER BY r.event_seq LIMIT 1
"""

# Every seq an accepted record or an event row may name: the ranges checked cover them all.
_SEQ_BOUNDS = """
SELECT least(0, coalesce(min(event_seq), 0)), greatest($events, coalesce(max(event_seq) + 1, 0))
FROM log_records WHERE outcome = 'accepted'
"""

_BEYOND_HEAD = "SELECT min(seq) FROM events WHERE seq < 0 OR seq >= $events"

_DEAD_LETTER_NOT_IN_LOG = """
SELECT d.seq FROM dead_letters d
LEFT JOIN log_records r
    ON r.kafka_partition = d.kafka_partition AND r.kafka_offset = d.kafka_offset
WHERE d.kafka_partition IS NOT NULL AND (r.idx IS NULL
   OR (d.raw_size > 0 AND right(hex(r.entry), 64) IS DISTINCT FROM upper(d.raw_sha256)))
ORDER BY d.seq LIMIT 1
"""


def _first(cur: duckdb.DuckDBPyConnection, query: str, params: dict[str, int] | None = None) -> Any:
    """The first column of the query's first row, or None (the result read to its end)."""
    rows = cur.execute(query, params or {}).fetchall()
    return rows[0][0] if rows else None


def first_bad_row(cur: duckdb.DuckDBPyConnection, events: int) -> Problem | None:
    """The first event row (by seq) that is edited, inserted or deleted, else the first dead
    letter that names no record of the log."""
    found = []
    beyond = _first(cur, _BEYOND_HEAD, {"events": events})
    if beyond is not None:
        found.append((beyond, "inserted", f"not in the log (its head counts {events} events)"))
    low, high = cur.execute(_SEQ_BOUNDS, {"events": events}).fetchall()[0]
    # Ranges in seq order: the first range with a problem holds the first problem.
    for start in range(low, high, ROW_SPAN):
        in_range = _problems_between(cur, events, start, start + ROW_SPAN)
        if in_range:
            found += in_range
            break
    repeated = _first_repeated_key(cur, low, high)
    if repeated is not None:
        found.append(repeated)
    if found:
        seq, kind, detail = min(found, key=lambda problem: problem[0])
        return Problem(f"row seq {seq}", kind, detail, seq, _event_row(cur, seq))
    dead = _first(cur, _DEAD_LETTER_NOT_IN_LOG)
    if dead is not None:
        return Problem(
            f"dead letter seq {dead}", "changed", "it names no record of the log with its value"
        )
    return None


def _problems_between(
    cur: duckdb.DuckDBPyConnection, events: int, low: int, high: int
) -> list[tuple[int, str, str]]:
    """The first problem of each kind among the event seqs in [low, high)."""
    span = {"events": events, "low": low, "high": high}
    found = []
    for query, detail in (
        (_COLUMNS_AGREE, "its columns no longer match the event it was stored as"),
        (_NOT_ITS_RECORD, "it is not the value of the record the log holds for it"),
    ):
        seq = _first(cur, query, span)
        if seq is not None:
            found.append((seq, "changed", detail))
    deleted = _first(cur, _WITHOUT_ROW, {"low": low, "high": high})
    if deleted is not None:
        found.append((deleted, "deleted", "the log holds its record but the row is missing"))
    undecoded = _first_not_decoded(cur, low, high)
    if undecoded is not None:
        found.append((undecoded, "changed", "it is not what the value the log holds decodes to"))
    return found


def _first_repeated_key(
    cur: duckdb.DuckDBPyConnection, low: int, high: int
) -> tuple[int, str, str] | None:
    """The first event (by seq) whose (source, id) an earlier event has: the file has no
    index that refuses one (the writer's key index keeps keys unique), so it is checked
    here. Key hashes are gathered a range at a time (8 bytes an event, outside DuckDB's
    cap); only keys whose hash repeats are read again."""
    hashes = np.concatenate(
        [np.zeros(0, np.uint64)]
        + [
            cur.execute(
                f"SELECT {keyindex.KEY_HASH} AS h FROM events WHERE seq >= ? AND seq < ?",
                [start, start + ROW_SPAN],
            ).fetchnumpy()["h"]
            for start in range(low, high, ROW_SPAN)
        ]
    )
    hashes.sort()
    shared = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    if not len(shared):
        return None
    # Joined, not a list to search per row: a tampered file may repeat a million keys.
    cur.register("shared_key_hashes", pa.table({"h": shared}))
    rows = cur.execute(
        "SELECT min(seq) AS first, arg_min(seq, seq, 2)[2] AS again FROM events "
        f"JOIN shared_key_hashes ON h = {keyindex.KEY_HASH} "
        "GROUP BY source, id HAVING count(*) > 1 ORDER BY again LIMIT 1"
    ).fetchall()
    cur.unregister("shared_key_hashes")
    if not rows:
        return None  # a hash shared by different keys
    first, again = rows[0]
    return again, "inserted", f"its (source, id) is the event's at seq {first}, stored twice"


def _first_not_decoded(cur: duckdb.DuckDBPyConnection, low: int, high: int) -> int | None:
    """The first event (by seq, in [low, high)) whose record's kept value (Avro, binary mode,
    JSON spelled otherwise) does not decode to its canonical JSON: the digest ties the value
    to the log, decoding ties the row to the value. The loop issues no query while the
    result streams."""
    for start in range(low, high, DECODE_SPAN):
        end = min(start + DECODE_SPAN, high)
        result = cur.execute(
            "SELECT e.seq, e.canonical, r.entry, r.value FROM log_records r "
            "JOIN events e ON e.seq = r.event_seq WHERE r.value IS NOT NULL "
            "AND r.event_seq >= ? AND r.event_seq < ? AND e.seq >= ? AND e.seq < ? "
            "ORDER BY e.seq",
            [start, end, start, end],
        )
        while rows := result.fetchmany(DECODE_CHUNK):
            for seq, canonical, entry, value in rows:
                if not _decodes_to(bytes(entry), bytes(value), canonical):
                    result.fetchall()  # end the stream: the cursor takes more queries after
                    return seq
    return None


def _decodes_to(entry: bytes, value: bytes, canonical: str) -> bool:
    try:
        record = recordlog.parse_entry(entry, value)
    except ValueError:
        return False
    decoded = decode_record(record)
    return not isinstance(decoded, DecodeError) and decoded.canonical == canonical.encode()


def _event_row(cur: duckdb.DuckDBPyConnection, seq: int) -> dict[str, Any] | None:
    rows = cur.execute(
        "SELECT seq, source, id, type, time::VARCHAR, kafka_partition, kafka_offset, "
        "canonical FROM events WHERE seq = ?",
        [seq],
    ).fetchall()
    if not rows:
        return None
    found = rows[0]
    names = ("seq", "source", "id", "type", "time", "kafka_partition", "kafka_offset", "canonical")
    return dict(zip(names, found, strict=True))
