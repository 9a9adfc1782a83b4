"""PROVLEDGER_DUCKDB_MEMORY_LIMIT caps the memory of the ledger's DuckDB in `provledger serve`;
a value that is not a size, or one below what the ledger needs, stops the CLI with a usage
error naming the variable."""

from __future__ import annotations

import subprocess

import duckdb

from provenance_ledger.ledger import memorylimit
from provenance_ledger.ledger.store import Ledger
from tests.support import eventmix
from tests.support.provstory import write_direct
from tests.support.servers import free_port, provledger_command, server_env


def duckdb_spelling(size: str) -> str:
    """How DuckDB reports a memory_limit it was given (it rounds to its own units)."""
    plain = duckdb.connect()
    plain.execute(f"SET memory_limit = '{size}'")
    return plain.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_serve_runs_the_ledger_under_the_memory_limit_it_is_given(start_server):
    # SQL runs in worker processes with limits of their own, so serve reports the limit its
    # ledger's DuckDB runs under when it starts.
    server = start_server({"PROVLEDGER_DUCKDB_MEMORY_LIMIT": "300MB"})
    output = server.stop()
    assert f"(DuckDB memory limit {duckdb_spelling('300MB')})" in " ".join(output.split())
    assert (
        duckdb_spelling("300MB")
        != duckdb.connect().execute("SELECT current_setting('memory_limit')").fetchone()[0]
    )


def test_a_memory_limit_that_is_not_a_size_is_a_usage_error(settings):
    env = {**server_env(settings, free_port()), "PROVLEDGER_DUCKDB_MEMORY_LIMIT": "lots"}
    result = subprocess.run(
        [*provledger_command(), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "PROVLEDGER_DUCKDB_MEMORY_LIMIT: expected a size such as 512MB" in result.stderr
    assert "'lots'" in result.stderr


def test_serve_refuses_a_memory_limit_below_what_its_ledger_needs(settings):
    ledger = Ledger.open(settings.db_path, migrate=True)
    try:
        write_direct(ledger, list(eventmix.events(5000)))
        need = memorylimit.need_of(ledger.cursor()).bytes
    finally:
        ledger.close()
    assert need > 48 * 1000**2
    env = {**server_env(settings, free_port()), "PROVLEDGER_DUCKDB_MEMORY_LIMIT": "48MB"}
    result = subprocess.run(
        [*provledger_command(), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "PROVLEDGER_DUCKDB_MEMORY_LIMIT=48MB is below what" in line
    assert f"about {-(-need // 1000**2)}MB" in line
