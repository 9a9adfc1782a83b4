"""`provledger rebuild` replays the topic into a new file that equals the old one table by
table, and swaps it in atomically."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from provenance_ledger.ledger.rebuild import compare
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import BLOCK_SIZE, Ledger
from tests.support import eventmix
from tests.support.ledgerproc import ConsumerThread, cli, duplicates, produce
from tests.support.servers import server_env
from tests.support.waiting import OutputReader, wait_until

POISON = (None, [], b"\xff not an event")


def _ingest(settings: Settings, count: int) -> None:
    messages = list(eventmix.messages(count, fmt="avro", seed=11))
    retried = messages[10]  # a producer retry: the same event twice
    produce(settings.kafka_bootstrap, settings.topic, [*messages, POISON, retried])
    ledger = Ledger.open(settings.db_path, migrate=True)
    try:
        consumer = ConsumerThread(ledger, settings)
        wait_until(lambda: sum(ledger.counts()) >= count + 1, 120, "every event")
        wait_until(
            lambda: sum(ledger.committed_offsets(settings.topic).values()) == count + 2,
            30,
            "the retried record's offset",
        )
        consumer.stop()
    finally:
        ledger.close()


@pytest.mark.parametrize("partitions", [1, 3])
def test_rebuild_equals_the_original(
    settings: Settings, topic_factory: Callable[..., str], partitions: int
) -> None:
    settings = replace(settings, topic=topic_factory(partitions=partitions))
    _ingest(settings, 3_000)
    env = server_env(settings)
    before = cli(env, "verify").stdout
    # What serve recorded of an edited policy file: not in the log, kept by the rebuild.
    recorded = "UPDATE policy_definitions SET senior_at_least = 'principal', policy_file = 'p.yaml'"
    with duckdb.connect(str(settings.db_path)) as conn:
        conn.execute(recorded)

    result = cli(env, "rebuild")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "DIFFERS" not in result.stdout
    assert "events                 old      3000  new      3000  equal" in result.stdout
    assert "rebuilt 3000 events" in result.stdout
    # The rate of the replay itself, as the progress bar showed it.
    assert re.search(r"^replayed 3000 events in [\d.]+ s \([\d,]+ events/s\)$", result.stdout, re.M)
    assert "replaying" in result.stderr  # the progress bar

    backup = settings.db_path.with_name(settings.db_path.name + ".before-rebuild")
    tables, same_root, old_events = compare(settings.db_path, backup)
    assert old_events == 3_000
    assert tables and all(diff.equal for diff in tables), [d for d in tables if not d.equal]
    rebuilt = Ledger.open(settings.db_path, read_only=True)
    try:
        assert rebuilt.counts() == (3_000, 1)
        assert duplicates(rebuilt) == 0
        kept = "SELECT senior_at_least, policy_file FROM policy_definitions"
        assert rebuilt.cursor().execute(kept).fetchall() == [("principal", "p.yaml")]
    finally:
        rebuilt.close()
    after = cli(env, "verify")
    assert after.returncode == 0
    # The log is the topic's: the very same head whatever order the replay read the
    # partitions in (the poison record and the retry included).
    assert same_root
    assert after.stdout == before
    assert "log root: the same" in result.stdout


def _block_size(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]


def test_rebuild_gives_a_file_made_with_duckdbs_blocks_the_ledgers(
    settings: Settings, topic_factory: Callable[..., str]
) -> None:
    settings = replace(settings, topic=topic_factory(partitions=3))
    settings.db_path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(settings.db_path)).close()  # as files were made before BLOCK_SIZE
    _ingest(settings, 500)
    old_blocks = _block_size(settings.db_path)
    result = cli(server_env(settings), "rebuild")
    assert result.returncode == 0, result.stdout + result.stderr
    backup = settings.db_path.with_name(settings.db_path.name + ".before-rebuild")
    assert _block_size(backup) == old_blocks != BLOCK_SIZE
    assert _block_size(settings.db_path) == BLOCK_SIZE
    tables, same_root, _ = compare(settings.db_path, backup)
    assert same_root and tables and all(diff.equal for diff in tables)


def test_rebuild_of_a_ledger_in_a_folder_with_an_apostrophe(
    settings: Settings, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    # The rebuild attaches the old file to compare and to keep its policy: its path must go
    # into the SQL whole (it once ended the string literal, after the whole replay).
    folder = tmp_path / "o'brien's ledgers"
    folder.mkdir()
    settings = replace(
        settings, topic=topic_factory(partitions=1), db_path=folder / "ledger.duckdb"
    )
    _ingest(settings, 200)

    result = cli(server_env(settings), "rebuild")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "events                 old       200  new       200  equal" in result.stdout
    assert "DIFFERS" not in result.stdout
    backup = settings.db_path.with_name(settings.db_path.name + ".before-rebuild")
    tables, same_root, old_events = compare(settings.db_path, backup)
    assert old_events == 200
    assert same_root
    assert tables and all(diff.equal for diff in tables)


def test_rebuild_refuses_while_another_process_holds_the_file(
    settings: Settings, tmp_path: Path
) -> None:
    Ledger.open(settings.db_path, migrate=True).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(settings.db_path)!r}); "
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        OutputReader(holder.stdout).wait_for("held", 30)
        result = cli(server_env(settings), "rebuild")
        assert result.returncode == 5  # a local failure: the file is held
        assert "is in use (is `provledger serve` running?)" in result.stderr
    finally:
        holder.kill()
        holder.wait()
    # Nothing was swapped: the file is the one the holder had.
    assert not settings.db_path.with_name(settings.db_path.name + ".before-rebuild").exists()
