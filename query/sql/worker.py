"""The SQL worker process: runs read-only SQL on a copy of the ledger, inside hard limits.

``python -m provenance_ledger.query.sql.worker REQUEST_FD REPLY_FD MEMORY_BYTES SPILL_DIR \
DUCKDB_MEMORY_LIMIT``

The kernel, not DuckDB, bounds what one query can take: the address space of this process
(``RLIMIT_AS``: its size once DuckDB is loaded, room for the instance that reads the copy, and
``MEMORY_BYTES``) and its CPU time per query (``RLIMIT_CPU``, reset before each). A query past
its memory gets an allocation error; one that ignores ``interrupt()`` is killed by the server
(query/sql/pool.py) and the worker is started again. The ledger's own process, its consumer
included, is never at stake.

Inside that, DuckDB keeps to ``DUCKDB_MEMORY_LIMIT`` (half the budget, see the pool) and spills
what does not fit to ``SPILL_DIR``, up to ``SPILL_FACTOR`` times the budget: a join or sort that is
merely slow runs until its time limit, and only what needs more than memory and disk together
gets DuckDB's out-of-memory answer. The server runs this process with ``MALLOC_ARENA_MAX``
set (query/sql/pool.py), so the address space it counts is what is used, not reserved.

Requests and replies are JSON messages on two pipes (no pickle: the server trusts no byte
from here). A request names the copy to read (query/sql/copies.py); the worker reopens when
the name changes, read-only.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import duckdb

from provenance_ledger.query.sql import readonly as sql
from provenance_ledger.query.sql.values import to_json

# The worker reads one copy; one DuckDB thread keeps a core free for ingestion.
DUCKDB_THREADS = 1
CPU_GRACE_S = 2
# Disk DuckDB may spill to, per worker, in multiples of its memory budget.
SPILL_FACTOR = 4
# A worker whose address space stays above its baseline by this share of the budget after a
# query is replaced (query/sql/pool.py).
RETIRE_FRACTION = 4


def _address_space() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


class Worker:
    def __init__(self, duckdb_memory_limit: str, spill_dir: str, spill_bytes: int) -> None:
        self.config: dict[str, str | bool | int | float | list[str]] = {
            "threads": str(DUCKDB_THREADS),
            "memory_limit": duckdb_memory_limit,
            "temp_directory": spill_dir,
            "max_temp_directory_size": f"{spill_bytes}B",
        }
        self.path: str | None = None
        self.conn: duckdb.DuckDBPyConnection | None = None
        # The guard only parses: it needs no copy of the ledger, so a refusal waits for none.
        self.parser = duckdb.connect(config={"threads": str(DUCKDB_THREADS)})
        sql.lock_down(self.parser)

    def check(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            sql.check(self.parser, request["sql"])
        except sql.SqlRefused as exc:
            return {"ok": False, "kind": "refused", "error": str(exc).splitlines()[0]}
        return {"ok": True}

    def open(self, path: str) -> duckdb.DuckDBPyConnection:
        if self.conn is not None and path == self.path:
            return self.conn
        if self.conn is not None:
            self.conn.close()
        self.conn = duckdb.connect(path, read_only=True, config=self.config)
        self.conn.execute("SET TimeZone = 'UTC'")  # as the ledger: every time in UTC
        sql.lock_down(self.conn)
        self.path = path
        return self.conn

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        limits = sql.SqlLimits(**request["limits"])
        _limit_cpu(limits.timeout_s)
        try:
            cursor = self.open(request["path"]).cursor()
            try:
                result = sql.run(cursor, request["sql"], request["params"], limits)
            finally:
                cursor.close()
        except sql.SqlTimeout as exc:
            return {"ok": False, "kind": "timeout", "error": str(exc)}
        except (sql.SqlRefused, duckdb.Error) as exc:
            return {"ok": False, "kind": "refused", "error": str(exc).splitlines()[0]}
        return {
            "ok": True,
            "columns": result.columns,
            "rows": to_json(result.rows),
            "truncated": result.truncated,
        }


def _limit_cpu(timeout_s: float) -> None:
    """CPU seconds this query may add; SIGXCPU ends the process past them."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    soft = math.ceil(used + timeout_s * DUCKDB_THREADS) + CPU_GRACE_S
    resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))


def main(argv: list[str]) -> int:
    requests = Connection(int(argv[0]), writable=False)
    replies = Connection(int(argv[1]), readable=False)
    memory = int(argv[2])
    before = _address_space()
    # DuckDB is loaded (the parser's instance) before the baseline the budget adds to.
    worker = Worker(argv[4], argv[3], memory * SPILL_FACTOR)
    loaded = _address_space()
    # Anything DuckDB or Python prints goes to stderr, never into the reply pipe.
    os.dup2(2, 1)
    # The copy is read by a second DuckDB instance, opened later under this limit: its own
    # threads (DuckDB starts several whatever ``threads`` says) and their stacks cost what
    # the parser's did, which must not come out of the query's budget.
    limit = loaded + (loaded - before) + memory
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    replies.send_bytes(json.dumps({"ok": True, "ready": True, "pid": os.getpid()}).encode())
    while True:
        try:
            message = requests.recv_bytes()
        except (EOFError, OSError):  # the server went away
            return 0
        started = time.monotonic()
        try:
            request = json.loads(message)
            reply = worker.check(request) if request["op"] == "check" else worker.answer(request)
        except MemoryError:
            reply = {"ok": False, "kind": "memory", "error": "out of memory"}
        except RuntimeError as exc:  # e.g. no address space left for the time limit's thread
            reply = {"ok": False, "kind": "memory", "error": f"out of memory ({exc})"}
        reply["elapsed_s"] = round(time.monotonic() - started, 3)
        # malloc keeps what a big query freed (a failed 2 GB allocation left 200 MB of a
        # 256 MB budget taken): the next query would fail for want of it. Start afresh.
        reply["retire"] = _address_space() > limit - memory + memory // RETIRE_FRACTION
        replies.send_bytes(json.dumps(reply).encode())
        if reply["retire"]:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
