"""``POST /v1/sql`` off the ledger's process: a few worker processes, each bounded by the kernel
(query/sql/worker.py), reading a copy of the ledger (query/sql/copies.py).

A query that overruns its time limit (DuckDB does not check ``interrupt()`` inside every
function) is killed with SIGKILL ``KILL_GRACE_S`` after the limit and its worker started
again; one that runs out of memory fails alone. At most ``workers`` queries run at a time; a
request waits ``queue_wait_s`` for a free worker, and a few more than that wait at all: the
rest are told 429 at once, so SQL cannot take every thread of the API.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.sql.copies import LedgerCopies, copies_folder
from provenance_ledger.query.sql.readonly import SqlLimits, SqlRefused, SqlServiceLimits, SqlTimeout
from provenance_ledger.schemas.errors import Unreachable

KILL_GRACE_S = 1.0
# glibc gives each thread that allocates an arena of its own, reserving 64 MB of address space
# each, and DuckDB starts several threads per instance: under RLIMIT_AS those reservations,
# not what a query uses, ran a 1 GB budget out (a CPU-bound cross join got "bad allocation",
# a 256 MB worker could not start a thread). Two arenas keep the count close to the use.
MALLOC_ARENAS = "2"
START_TIMEOUT_S = 30.0


class SqlBusy(RuntimeError, Unreachable):
    """Every worker is taken and the wait is over: 429."""


class SqlUnavailable(RuntimeError, Unreachable):
    """No worker or no copy of the ledger: 503."""


@dataclass(frozen=True)
class SqlAnswer:
    columns: list[str]
    rows_json: str  # the rows as JSON text, made by the worker (never parsed here)
    truncated: bool
    as_of: dict[str, Any]


def worker_env() -> dict[str, str]:
    """The server's environment less its PROVLEDGER_* settings: a worker is told what it needs
    on its command line and in each request, and the SQL it runs sits beside no secret."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith("PROVLEDGER_")}
    return {**kept, "MALLOC_ARENA_MAX": MALLOC_ARENAS}


class WorkerProcess:
    """One worker process, started on first use and again after it dies or is killed."""

    def __init__(self, memory_bytes: int, spill_dir: Path) -> None:
        self._memory_bytes = memory_bytes
        self._spill_dir = spill_dir
        self._process: subprocess.Popen | None = None
        self._requests: Connection | None = None
        self._replies: Connection | None = None

    def _start(self) -> None:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        # DuckDB's own limit well inside the kernel's: its clear out-of-memory answer (or a
        # spill to disk) comes first, and what DuckDB does not count still has room.
        duckdb_limit = f"{max(self._memory_bytes // 2, 1 << 20)}B"
        args = [str(request_read), str(reply_write), str(self._memory_bytes)]
        args += [str(self._spill_dir), duckdb_limit]
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", f"{__package__}.worker", *args],
                pass_fds=(request_read, reply_write),
                stdin=subprocess.DEVNULL,
                env=worker_env(),
            )
        finally:
            os.close(request_read)
            os.close(reply_write)
        self._requests = Connection(request_write, readable=False)
        self._replies = Connection(reply_read, writable=False)
        if not self._replies.poll(START_TIMEOUT_S):
            self.stop()
            raise SqlUnavailable("the SQL worker process did not start")
        self._replies.recv_bytes()

    def ask(self, request: dict[str, Any], wait_s: float) -> dict[str, Any]:
        if self._process is None or self._process.poll() is not None:
            self.stop()
            self._start()
        assert self._requests is not None and self._replies is not None
        try:
            self._requests.send_bytes(json.dumps(request).encode())
            if self._replies.poll(wait_s):
                reply = json.loads(self._replies.recv_bytes())
                if reply.get("retire"):
                    self.stop()  # it is ending; the next query starts a fresh one
                return reply
        except (EOFError, OSError):
            code = self.stop()
            return {"ok": False, "kind": "died", "error": _death(code)}
        self.stop()  # past the time limit and deaf to interrupt(): kill it
        return {"ok": False, "kind": "killed"}

    def stop(self) -> int | None:
        """Kill the process (if any) and return its exit status."""
        process, self._process = self._process, None
        for end in (self._requests, self._replies):
            if end is not None:
                end.close()
        self._requests = self._replies = None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        code = process.wait()
        # What DuckDB spilled is its own; a killed worker leaves it behind.
        shutil.rmtree(self._spill_dir, ignore_errors=True)
        return code


def _raise_for(reply: dict[str, Any], limits: SqlLimits) -> None:
    if reply["ok"]:
        return
    if reply["kind"] in ("timeout", "killed"):
        raise SqlTimeout(
            f"the query ran longer than {limits.timeout_s:g} s and was stopped; "
            "narrow it, or raise PROVLEDGER_SQL_TIMEOUT_S on the server"
        )
    if reply["kind"] == "memory":
        raise SqlRefused(
            f"{reply['error']}: the query needs more memory than SQL may use; narrow it, or "
            "raise PROVLEDGER_SQL_MEMORY_MB on the server"
        )
    raise SqlRefused(reply["error"])


def _death(code: int | None) -> str:
    how = {-signal.SIGXCPU: "ran out of CPU time", -signal.SIGKILL: "was killed"}.get(
        code or 0, f"ended (status {code})"
    )
    return (
        f"the query's worker process {how}: the query needs more CPU or memory than SQL may "
        "use; narrow it, or raise PROVLEDGER_SQL_TIMEOUT_S / PROVLEDGER_SQL_MEMORY_MB"
    )


class SqlService:
    def __init__(
        self, ledger: Ledger, settings: Settings, limits: SqlLimits, service: SqlServiceLimits
    ) -> None:
        self._limits = limits
        self._service = service
        self._copies = LedgerCopies(
            ledger, copies_folder(settings.db_path), service.freshness_wait_s
        )
        self._idle: queue.Queue[WorkerProcess] = queue.Queue()
        folder = copies_folder(settings.db_path)
        for index in range(service.workers):
            self._idle.put(WorkerProcess(service.memory_mb << 20, folder / f"spill-{index}"))
        self._workers = [*self._idle.queue]
        # Requests inside (running or waiting); beyond this they are refused at once.
        self._admitted = threading.BoundedSemaphore(service.workers * 3)

    def run(self, text: str, params: dict[str, Any]) -> SqlAnswer:
        if not self._admitted.acquire(blocking=False):
            raise SqlBusy(self._busy_message())
        try:
            try:
                worker = self._idle.get(timeout=self._service.queue_wait_s)
            except queue.Empty:
                raise SqlBusy(self._busy_message()) from None
            try:
                return self._ask(worker, text, params)
            finally:
                self._idle.put(worker)
        finally:
            self._admitted.release()

    def _ask(self, worker: WorkerProcess, text: str, params: dict[str, Any]) -> SqlAnswer:
        wait_s = self._limits.timeout_s + KILL_GRACE_S
        # Refusals first: they need no fresh copy of the ledger.
        _raise_for(worker.ask({"op": "check", "sql": text}, wait_s), self._limits)
        try:
            copy = self._copies.current()
        except RuntimeError as exc:
            raise SqlUnavailable(str(exc)) from exc
        request = {"op": "run", "path": str(copy.path), "sql": text, "params": params}
        request["limits"] = asdict(self._limits)
        reply = worker.ask(request, wait_s)
        _raise_for(reply, self._limits)
        return SqlAnswer(reply["columns"], reply["rows"], reply["truncated"], copy.as_of())

    def _busy_message(self) -> str:
        return (
            f"{self._service.workers} SQL queries are running and others are waiting; retry "
            "shortly (the server's PROVLEDGER_SQL_WORKERS)"
        )

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._copies.close()
