"""A real SQL worker process (query/sql/worker.py) under its kernel limits: a CPU-bound query
ends with the time limit, a memory bomb with a clear out-of-memory answer, a worker deaf to
everything is killed and replaced, and its spilled files go with it."""

from __future__ import annotations

import os
import signal
from dataclasses import asdict
from pathlib import Path

import duckdb
import pytest

from provenance_ledger.query.sql.pool import WorkerProcess, _raise_for
from provenance_ledger.query.sql.readonly import SqlLimits, SqlRefused, SqlTimeout

LIMITS = SqlLimits(timeout_s=1.0)
# Materialises one side of the join (800 MB) and then only counts: CPU, not memory.
CROSS_JOIN = "SELECT count(*) FROM range(100000000) a, range(100000000) b"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    path = tmp_path / "copy.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE events AS SELECT range AS seq FROM range(10)")
    return path


@pytest.fixture
def worker(tmp_path: Path):
    process = WorkerProcess(256 << 20, tmp_path / "spill")
    yield process
    process.stop()


def ask(worker: WorkerProcess, copy: Path, text: str) -> dict:
    request = {"op": "run", "path": str(copy), "sql": text, "params": {}}
    reply = worker.ask({**request, "limits": asdict(LIMITS)}, LIMITS.timeout_s + 1)
    _raise_for(reply, LIMITS)
    return reply


def test_a_small_worker_answers_and_a_cpu_bound_query_hits_the_time_limit(worker, copy):
    assert ask(worker, copy, "SELECT count(*) FROM events")["rows"] == "[[10]]"
    with pytest.raises(SqlTimeout, match="PROVLEDGER_SQL_TIMEOUT_S"):
        ask(worker, copy, CROSS_JOIN)
    assert ask(worker, copy, "SELECT max(seq) FROM events")["rows"] == "[[9]]"


@pytest.mark.parametrize(
    "bomb",
    [
        "SELECT repeat('x', 300000000)",
        "SELECT length(string_agg(repeat('x', 1000000), '')) FROM range(2000)",
    ],
)
def test_a_memory_bomb_gets_an_out_of_memory_answer_and_the_worker_goes_on(worker, copy, bomb):
    with pytest.raises(SqlRefused, match="PROVLEDGER_SQL_MEMORY_MB"):
        ask(worker, copy, bomb)
    assert ask(worker, copy, "SELECT count(*) FROM events")["rows"] == "[[10]]"


def test_memory_a_query_left_taken_does_not_fail_the_next_queries(worker, copy):
    # A 16001 x 16001 matrix: whichever limit stops it, malloc keeps most of the budget.
    with pytest.raises((SqlRefused, SqlTimeout)):
        ask(worker, copy, "SELECT damerau_levenshtein(repeat('a', 16000), repeat('b', 16000))")
    with pytest.raises(SqlTimeout, match="PROVLEDGER_SQL_TIMEOUT_S"):
        ask(worker, copy, CROSS_JOIN)
    assert ask(worker, copy, "SELECT count(*) FROM events")["rows"] == "[[10]]"


def test_a_worker_that_does_not_answer_is_killed_replaced_and_its_spill_removed(
    worker, copy, tmp_path
):
    ask(worker, copy, "SELECT 1")
    spilled = tmp_path / "spill" / "left-behind.tmp"
    spilled.parent.mkdir(exist_ok=True)
    spilled.write_bytes(b"x")
    assert worker._process is not None
    os.kill(worker._process.pid, signal.SIGSTOP)  # deaf to interrupt() and to its pipe
    with pytest.raises(SqlTimeout, match="PROVLEDGER_SQL_TIMEOUT_S"):
        ask(worker, copy, "SELECT 1")
    assert not spilled.exists()
    assert ask(worker, copy, "SELECT count(*) FROM events")["rows"] == "[[10]]"
