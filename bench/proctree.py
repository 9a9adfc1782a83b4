"""CPU and memory of a process and its descendants, from /proc: serve's batch-preparing
worker (ledger/prepare.py), Connect's JVM, PostgreSQL's backends."""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path


def tree_cpu_s(root: int, leave_out: frozenset[int] = frozenset()) -> float:
    """User + system CPU seconds of ``root`` and its descendants: the live ones (all their
    threads) and the ones already gone (the cutime/cstime their parent reaped), but not of
    ``leave_out`` nor below it."""
    stats = {pid: fields for pid, fields in _all_stats() if pid not in leave_out}
    children = defaultdict(list)
    for pid, fields in stats.items():
        children[int(fields[1])].append(pid)
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        fields = stats.get(pid)
        if fields is None:
            continue
        # After the ")" of the command: 1 ppid, 11 utime, 12 stime, 13 cutime, 14 cstime.
        total += sum(int(value) for value in fields[11:15])
        pending.extend(children[pid])
    return total / os.sysconf("SC_CLK_TCK")


def _all_stats() -> Iterator[tuple[int, list[str]]]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                text = Path(f"/proc/{entry.name}/stat").read_text()
                # The command may hold spaces and parentheses: split after its last ")".
                yield int(entry.name), text.rsplit(")", 1)[1].split()


def descendants(root: int) -> list[int]:
    """The live processes below ``root``."""
    children = defaultdict(list)
    for pid, fields in _all_stats():
        children[int(fields[1])].append(pid)
    found, pending = [], list(children[root])
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children[pid])
    return found


def tree_rss_kib(root: int, field: str = "VmRSS") -> int:
    """Resident memory of ``root`` and its live descendants, summed (``VmHWM``: each one's
    peak, which may not have come at once, so an upper bound of the tree's)."""
    return sum(_proc_kib(pid, "status", field) for pid in [root, *descendants(root)])


def tree_peak_rss_kib(root: int) -> int:
    return tree_rss_kib(root, "VmHWM")


def tree_pss_kib(root: int) -> int:
    """Proportional set size of ``root`` and its live descendants, summed: a page that
    several of them map (DuckDB's and Arrow's libraries, in serve and its worker alike)
    counts once, where the RSS counts it in each."""
    return sum(_proc_kib(pid, "smaps_rollup", "Pss") for pid in [root, *descendants(root)])


def _proc_kib(pid: int, file: str, field: str) -> int:
    """A ``field:   N kB`` line of /proc/<pid>/<file>; 0 once the process is gone."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0
