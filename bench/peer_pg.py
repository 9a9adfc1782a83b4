"""A throwaway PostgreSQL cluster for bench/bench_peer.py (Debian's binaries, started and stopped
by the benchmark), the events table both peers fill, and the CPU of a process tree from /proc.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

# Both peers write the same table; (source, id) is the CloudEvents identity they deduplicate on.
TABLES = """
DROP TABLE IF EXISTS events, kafka_offsets;
CREATE TABLE events (
    source text NOT NULL, id text NOT NULL, type text NOT NULL, time timestamptz,
    subject text, data jsonb, PRIMARY KEY (source, id));
CREATE TABLE kafka_offsets (
    topic text NOT NULL, part integer NOT NULL, next_offset bigint NOT NULL,
    PRIMARY KEY (topic, part));
"""


class Postgres:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.dsn = f"host={folder} port={port} user=bench dbname=postgres"
        self.jdbc_url = f"jdbc:postgresql://127.0.0.1:{port}/postgres"

    def postmaster_pid(self) -> int:
        return int((self.folder / "data" / "postmaster.pid").read_text().split()[0])

    def reset(self) -> None:
        """Empty tables, and a checkpoint so the last run's dirty pages are not this run's."""
        with psycopg.connect(self.dsn, autocommit=True) as db:
            db.execute(TABLES)
            db.execute("CHECKPOINT")

    @contextlib.contextmanager
    def counter(self) -> Iterator[tuple[int, Callable[[int], bool]]]:
        """(the pid of its backend, to leave out of PostgreSQL's CPU; a check that ``count``
        rows are in). The activity statistics' insert count is cheap but behind: a busy
        backend reports it once a second, an idle one after 10 s. So an exact count(*) (a scan
        of the table) once it says 90 % are in, or when it has not moved for a second."""
        with psycopg.connect(self.dsn, autocommit=True) as db:
            backend = db.execute("SELECT pg_backend_pid()").fetchone()[0]
            last = {"estimate": -1, "moved": time.monotonic()}

            def done(count: int) -> bool:
                row = db.execute(
                    "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'events'"
                ).fetchone()
                estimate, now = row[0] if row else 0, time.monotonic()
                if estimate != last["estimate"]:
                    last.update(estimate=estimate, moved=now)
                if estimate < 0.9 * count and now - last["moved"] < 1:
                    return False
                last["moved"] = now  # a stalled estimate: the next exact count in a second
                return db.execute("SELECT count(*) FROM events").fetchone()[0] >= count

            yield backend, done


@contextlib.contextmanager
def cluster(port: int) -> Iterator[Postgres]:
    """initdb in a temp folder, postgres on 127.0.0.1:``port`` and a socket in that folder,
    stopped and removed after. As root, the server runs as the postgres user (it refuses root)."""
    binaries = _binaries()
    folder = Path(tempfile.mkdtemp(prefix="bench-peer-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(folder, account.pw_uid, account.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    try:
        _run([*run_as, str(binaries / "initdb"), "-D", str(data), "-U", "bench",
              "--auth=trust", "-E", "UTF8", "--locale=C"])  # fmt: skip
        options = (
            f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder}"
        )
        _run([*run_as, str(binaries / "pg_ctl"), "start", "-w", "-D", str(data),
              "-l", str(folder / "server.log"), "-o", options])  # fmt: skip
        try:
            yield Postgres(folder, port)
        finally:
            _run([*run_as, str(binaries / "pg_ctl"), "stop", "-m", "fast", "-D", str(data)])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _binaries() -> Path:
    """The folder of initdb and pg_ctl: Debian keeps them off PATH, in /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts)
    if not versions:
        raise SystemExit("PostgreSQL's initdb not found: apt-get install postgresql")
    return versions[-1].parent


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def wait_for(
    check: Callable[[], bool],
    what: str,
    timeout: float,
    interval: float,
    explain: Callable[[], str] = lambda: "",
) -> None:
    """Until ``check()``; past ``timeout`` seconds, exit naming ``what`` and ``explain()``
    (a log's tail: a Connect task that failed leaves its worker running)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}\n{explain()}")
        time.sleep(interval)
