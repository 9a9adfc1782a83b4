"""Ledgers several of verify's read chunks long: verify finds nothing on an honest one and the
right row or record on a tampered one far past the first chunk; a snapshot copies every row.

(verify used to stream with ``fetchmany`` on the cursor that also looked up the Merkle nodes;
the look-ups ended the stream after one chunk, and an honest ledger longer than that was
reported TAMPERED. The log's walk now reads each partition in chunks of ``verify_log.CHUNK``.)
"""

from __future__ import annotations

import base64
import shutil
import signal
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from provenance_ledger.ledger import merkle, recordlog, snapshot, verify_log
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix, longledger
from tests.support.ledgerproc import cli, fill, health, produce, run_sql, start_serve
from tests.support.servers import free_port, server_env
from tests.support.waiting import wait_until

CHUNK = verify_log.CHUNK
SIZE = int(3.5 * CHUNK)


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "ledger.duckdb"
    longledger.build(path, SIZE, seed=5)
    return path


@pytest.fixture
def ledger(long_file: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the long ledger for one test to change, and the CLI's environment for it."""
    path = tmp_path / "ledger.duckdb"
    shutil.copyfile(long_file, path)
    settings = replace(Settings(), db_path=path, topic="long.test", group_id="long-test")
    return path, server_env(settings)


def _head_root(path: Path) -> str:
    ledger = Ledger.open(path, read_only=True)
    try:
        size, root = ledger.head()
    finally:
        ledger.close()
    assert size == SIZE
    return base64.b64encode(root).decode()


def test_an_honest_ledger_several_chunks_long_verifies(ledger) -> None:
    path, env = ledger
    result = cli(env, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"ok: {SIZE} records ({SIZE} events), root {_head_root(path)}"


def test_a_row_rewritten_with_its_hashes_far_past_the_first_chunk_is_found(ledger) -> None:
    """The columns agree with the rewritten canonical: only its record in the log tells."""
    path, env = ledger
    seq = 3 * CHUNK + 18
    forged = "replace(canonical, '\"ci/acme', '\"ci/evil')"
    run_sql(
        path,
        f"UPDATE events SET canonical = {forged}, source = replace(source, 'ci/acme', 'ci/evil')"
        f" WHERE seq = {seq}",
        f"UPDATE events SET content_hash = sha256(canonical) WHERE seq = {seq}",
    )
    result = cli(env, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"TAMPERED: row seq {seq} was changed")
    assert "not the value of the record the log holds" in result.stdout
    assert "ci/evil" in result.stdout


def test_a_record_rewritten_with_its_leaf_far_past_the_first_chunk_is_found(ledger) -> None:
    """The entry makes its stored leaf again: only the walk over the stored tree can see it,
    by the node over the record and its neighbour."""
    path, env = ledger
    index = 3 * CHUNK + 18
    conn = duckdb.connect(str(path))
    try:
        (offset,) = conn.execute(
            "SELECT kafka_offset FROM log_records WHERE kafka_partition = 0 AND idx = ?", [index]
        ).fetchone()
        entry = recordlog.record_entry(KafkaRecord("t", 0, offset, None, b'{"forged": true}'))
        conn.execute(
            "UPDATE log_records SET entry = ?, leaf_hash = ? WHERE kafka_partition = 0 AND idx = ?",
            [entry, merkle.leaf_hash(entry), index],
        )
    finally:
        conn.close()
    result = cli(env, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"TAMPERED: partition 0 record {index} was changed")
    assert f"records {index}..{index + 1}" in result.stdout


# (table, where its rows are numbered, how verify names one)
EVENT_ROWS = ("events", "seq", "row seq")
LOG_RECORDS = ("log_records", "idx", "partition 0 record")
PAST_THE_FIRST_CHUNK = [
    # one row, in the last chunk
    (3 * CHUNK + 5, 3 * CHUNK + 6),
    # every row of the second chunk: its range reads nothing at all
    (CHUNK, 2 * CHUNK),
    # the tail
    (SIZE - 10, SIZE),
]


@pytest.mark.parametrize("table", [EVENT_ROWS, LOG_RECORDS], ids=["events", "log-records"])
@pytest.mark.parametrize(
    ("first", "end"), PAST_THE_FIRST_CHUNK, ids=["one-row", "a-whole-chunk", "the-tail"]
)
def test_deleted_rows_past_the_first_chunk_are_found(ledger, table, first: int, end: int) -> None:
    path, env = ledger
    name, number, where = table
    run_sql(path, f"DELETE FROM {name} WHERE {number} >= {first} AND {number} < {end}")
    result = cli(env, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"TAMPERED: {where} {first} was deleted")


@pytest.mark.parametrize("table", [EVENT_ROWS, LOG_RECORDS], ids=["events", "log-records"])
@pytest.mark.parametrize("number", [SIZE, 10**12, -7], ids=["next", "far-beyond", "negative"])
def test_an_inserted_row_is_found_wherever_its_number(ledger, table, number: int) -> None:
    path, env = ledger
    name, column, where = table
    # (source, id) is unique among the events: the forged row needs its own id.
    forged_id = ", 'forged-1' AS id" if name == "events" else ""
    run_sql(
        path,
        f"INSERT INTO {name} SELECT * REPLACE ({number} AS {column}{forged_id}) "
        f"FROM {name} WHERE {column} = {CHUNK + 3}",
    )
    result = cli(env, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"TAMPERED: {where} {number} was inserted")


def test_growth_of_a_long_ledger_is_proven_from_a_kept_checkpoint(ledger, tmp_path) -> None:
    """The proof's nodes are picked up across every chunk of the walk."""
    path, env = ledger
    kept = tmp_path / "checkpoint.txt"
    kept.write_text(cli(env, "verify", "--checkpoint").stdout)
    grown = Ledger.open(path, migrate=True)
    fill(grown, eventmix.events(300, seed=6), batch=100)
    grown.close()
    result = cli(env, "verify", "--since", str(kept))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"consistent: the ledger only grew since the checkpoint of size {SIZE}" in result.stdout
    assert f"ok: {SIZE + 300} records ({SIZE + 300} events)" in result.stdout


def test_a_snapshot_of_a_long_ledger_has_every_row(ledger, tmp_path, monkeypatch) -> None:
    """Rows stream into the copy in Arrow batches: make every table take several."""
    path, _ = ledger
    monkeypatch.setattr(snapshot, "BATCH_ROWS", 1000)
    source = Ledger.open(path, read_only=True)
    try:
        info = snapshot.write_snapshot(source.cursor(), tmp_path / "snap.duckdb")
        cursor = source.cursor()
        expected = {
            table: cursor.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in info.tables
        }
    finally:
        source.close()
    assert info.events == SIZE
    assert info.tables == expected
    assert sum(count > 3 * snapshot.BATCH_ROWS for count in expected.values()) >= 2
    copy = duckdb.connect(str(info.path), read_only=True)
    try:
        counted = {
            table: copy.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in expected
        }
        assert copy.execute("SELECT max(seq) FROM events").fetchone()[0] == SIZE - 1
    finally:
        copy.close()
    assert counted == expected


def test_a_long_ledger_ingested_across_kills_verifies_snapshots_and_rebuilds(
    settings: Settings, tmp_path: Path
) -> None:
    """The reported run: one partition, `serve` SIGKILLed during ingestion, then verify (through
    the server that holds the file, and on the file), snapshot and rebuild, all exact."""
    produce(settings.kafka_bootstrap, settings.topic, eventmix.messages(SIZE, "avro", seed=8))
    port = free_port()
    env = {
        **server_env(settings, port),
        "PROVLEDGER_BATCH_MAX": "1000",
        "PROVLEDGER_TOKENS_FILE": str(tmp_path / "no-tokens.json"),
    }
    log = tmp_path / "serve.log"
    for fraction in (0.2, 0.45, 0.7):
        server = start_serve(env, port, log)
        target = int(fraction * SIZE)
        wait_until(lambda n=target: (health(port) or {}).get("events", 0) >= n, 120, f"{target}")
        server.kill()  # SIGKILL: no chance to finish a batch
        server.wait(timeout=30)
    server = start_serve(env, port, log)
    try:
        wait_until(lambda: (health(port) or {}).get("events") == SIZE, 180, "every event")
        served = cli(env, "verify")
        assert served.returncode == 0, served.stdout + served.stderr + log.read_text()[-2000:]
        assert served.stdout.startswith(f"ok: {SIZE} records ({SIZE} events), root ")
        snap = tmp_path / "snap.duckdb"
        taken = cli(env, "snapshot", str(snap))
        assert taken.returncode == 0, taken.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert cli(env, "verify").stdout == served.stdout  # on the file, no server
    copy = duckdb.connect(str(snap), read_only=True)
    try:
        assert copy.execute("SELECT count(*), max(seq) FROM events").fetchone() == (SIZE, SIZE - 1)
    finally:
        copy.close()

    rebuilt = cli(env, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "DIFFERS" not in rebuilt.stdout
    assert f"rebuilt {SIZE} events" in rebuilt.stdout
    assert "log root: the same" in rebuilt.stdout
    assert cli(env, "verify").stdout == served.stdout
