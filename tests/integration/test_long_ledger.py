"""Ledgers several of verify's read chunks long: verify finds nothing on an honest one and the
right row on a tampered one far past the first chunk; a snapshot copies every row.

(verify used to stream the events with ``fetchmany`` on the cursor that also looked up the
Merkle nodes; the look-ups ended the stream after one chunk, and an honest ledger longer than
that was reported TAMPERED.)
"""

from __future__ import annotations

import base64
import shutil
import signal
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from provenance_ledger.ledger import merkle, snapshot, verify
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from tests.support import eventmix, longledger
from tests.support.ledgerproc import cli, fill, health, produce, run_sql, start_serve
from tests.support.servers import free_port, server_env
from tests.support.waiting import wait_until

SIZE = int(3.5 * verify.CHUNK)


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
    assert result.stdout.strip() == f"ok: {SIZE} events, RFC 6962 root {_head_root(path)}"


def test_a_row_rewritten_with_its_hashes_far_past_the_first_chunk_is_found(ledger) -> None:
    """Only the walk over the stored tree can see this one (the columns agree with the row)."""
    path, env = ledger
    seq = 3 * verify.CHUNK + 18
    forged = "replace(canonical, '\"ci/acme', '\"ci/evil')"
    run_sql(
        path,
        f"UPDATE events SET canonical = {forged}, source = replace(source, 'ci/acme', 'ci/evil'),"
        f" content_hash = sha256({forged}) WHERE seq = {seq}",
    )
    conn = duckdb.connect(str(path))
    canonical = conn.execute(f"SELECT canonical FROM events WHERE seq = {seq}").fetchone()[0]
    assert '"ci/evil' in canonical
    conn.execute(
        f"UPDATE events SET leaf_hash = ? WHERE seq = {seq}", [merkle.leaf_hash(canonical.encode())]
    )
    conn.close()
    result = cli(env, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"TAMPERED: row seq {seq} was changed")
    assert f"rows {seq}..{seq + 1}" in result.stdout


@pytest.mark.parametrize(
    ("tamper", "first"),
    [
        # one row, in the last chunk
        (f"DELETE FROM events WHERE seq = {3 * verify.CHUNK + 5}", 3 * verify.CHUNK + 5),
        # every row of the second chunk: its range reads nothing at all
        (
            f"DELETE FROM events WHERE seq >= {verify.CHUNK} AND seq < {2 * verify.CHUNK}",
            verify.CHUNK,
        ),
        # the tail
        (f"DELETE FROM events WHERE seq >= {SIZE - 10}", SIZE - 10),
    ],
    ids=["one-row", "a-whole-chunk", "the-tail"],
)
def test_deleted_rows_past_the_first_chunk_are_found(ledger, tamper: str, first: int) -> None:
    path, env = ledger
    run_sql(path, tamper)
    result = cli(env, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"TAMPERED: row seq {first} was deleted")


@pytest.mark.parametrize("seq", [SIZE, 10**12, -7], ids=["next", "far-beyond", "negative"])
def test_an_inserted_row_is_found_wherever_its_seq(ledger, seq: int) -> None:
    path, env = ledger
    run_sql(
        path,
        f"INSERT INTO events SELECT * REPLACE ({seq} AS seq, 'forged-1' AS id) "
        f"FROM events WHERE seq = {verify.CHUNK + 3}",
    )
    result = cli(env, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"TAMPERED: row seq {seq} was inserted")


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
    assert f"ok: {SIZE + 300} events" in result.stdout


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
        assert served.stdout.startswith(f"ok: {SIZE} events, RFC 6962 root ")
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
    assert "Merkle root: the same" in rebuilt.stdout
    assert cli(env, "verify").stdout == served.stdout
