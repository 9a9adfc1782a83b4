"""`provledger snapshot PATH` against the running server while events keep arriving: the
file opens read-only (Python duckdb and, where installed, the `duckdb` CLI) with exactly the
rows committed up to the snapshot."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import httpx

from tests.support.servers import Feeder, events_stored
from tests.support.waiting import wait_until


def duckdb_cli() -> str | None:
    """The `duckdb` CLI (the duckdb-cli dev dependency puts it beside this Python)."""
    beside = Path(sys.executable).parent / "duckdb"
    return str(beside) if beside.exists() else shutil.which("duckdb")


def test_snapshot_while_ingesting(start_server, tmp_path):
    tokens_file = tmp_path / "tokens.json"
    running = start_server({"PROVLEDGER_TOKENS_FILE": str(tokens_file)})
    env = {**running.env, "PROVLEDGER_TOKENS_FILE": str(tokens_file)}
    made = subprocess.run(
        [sys.executable, "-m", "provenance_ledger.query", "token", "create", "--scope", "admin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    admin = made.stdout.strip()
    feeder = Feeder(running.url, token=admin)
    feeder.start()
    try:
        wait_until(lambda: events_stored(running.url) >= 5, 60, "5 events fed")
        before = events_stored(running.url)
        dest = tmp_path / "snap.duckdb"
        result = subprocess.run(
            [sys.executable, "-m", "provenance_ledger.query", "snapshot", str(dest)],
            env={**env, "PROVLEDGER_TOKEN": admin},
            capture_output=True,
            text=True,
            timeout=120,
        )
        after = events_stored(running.url)
        assert result.returncode == 0, result.stderr
        wait_until(lambda: events_stored(running.url) > after, 60, "ingestion to go on")
    finally:
        feeder.stop()
    reported = int(re.search(r"snapshot of (\d+) events", result.stderr).group(1))
    assert before <= reported <= after

    copy = duckdb.connect(str(dest), read_only=True)
    try:
        count, last = copy.execute("SELECT count(*), max(seq) FROM events").fetchone()
        # The rows committed up to one instant: a gap-free prefix of the ledger, with the
        # projection of exactly those events.
        assert count == reported and last == count - 1
        assert copy.execute("SELECT count(*) FROM changes").fetchone()[0] == count
        assert copy.execute("SELECT count(*) FROM deployments_with_changes").fetchone() == (0,)
    finally:
        copy.close()

    cli = duckdb_cli()
    if cli is not None:  # installed by the dev extras (duckdb-cli), so CI runs this part
        opened = subprocess.run(
            [cli, "-readonly", "-csv", "-noheader", str(dest), "-c", "SELECT count(*) FROM events"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert opened.returncode == 0, opened.stderr
        assert opened.stdout.strip() == str(reported)

    again = subprocess.run(
        [sys.executable, "-m", "provenance_ledger.query", "snapshot", str(dest)],
        env={**env, "PROVLEDGER_TOKEN": admin},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 2 and "exists" in again.stderr
    forbidden = httpx.get(f"{running.url}/v1/snapshot", timeout=30)
    assert forbidden.status_code == 401
