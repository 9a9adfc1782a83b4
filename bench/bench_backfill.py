"""Git backfill speed vs plain ``git log --numstat``, both on one repository in one run.

The repository is generated here with ``git fast-import`` (no network): COMMITS commits over
a few hundred files, each commit changing 1-3 files, one in five with an AI trailer. It is
cached under the temp dir, so later runs skip the generation.

Measured (best of --rounds, wall clock):
1. ``git log --numstat`` read to the end through a pipe;
2. ``provledger backfill git --dry-run``: the whole command (Python start-up included):
   git log parsing, AI detection, building and validating every change.authored event;
3. with --publish, the real backfill to the broker at PROVLEDGER_KAFKA_BOOTSTRAP.

    python bench/bench_backfill.py [--commits 12000] [--rounds 3] [--publish]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TRAILERS = [
    "Co-Authored-By: Claude Opus 4.1 <noreply@anthropic.com>",
    "Co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>",
    "Co-authored-by: Cursor Agent <cursoragent@cursor.com>",
    "Assisted-by: Gemini:gemini-2.5-pro",
    "Co-authored-by: aider (openai/gpt-4o) <noreply@aider.chat>",
]


def fast_import_stream(commits: int, files: int = 300, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    contents = {f"src/mod{n:03d}.py": [f"line {n} {i}" for i in range(40)] for n in range(files)}
    names = list(contents)
    out: list[bytes] = []
    when = 1_700_000_000
    for number in range(1, commits + 1):
        when += rng.randint(60, 3600)
        message = f"Change {number}: adjust the retry policy\n"
        if number % 5 == 0:
            message += f"\n{TRAILERS[number // 5 % len(TRAILERS)]}\n"
        body = message.encode()
        out.append(b"commit refs/heads/main\n")
        out.append(f"mark :{number}\n".encode())
        out.append(
            f"author Dev {number % 17} <dev{number % 17}@acme.example> {when} +0000\n".encode()
        )
        out.append(f"committer Dev <dev@acme.example> {when} +0000\n".encode())
        out.append(f"data {len(body)}\n".encode() + body)
        if number > 1:
            out.append(f"from :{number - 1}\n".encode())
        for name in rng.sample(names, rng.randint(1, 3)):
            lines = contents[name]
            for _ in range(rng.randint(1, 4)):
                lines[rng.randrange(len(lines))] = f"edited {number} {rng.random():.6f}"
            if rng.random() < 0.5:
                lines.append(f"added {number}")
            data = ("\n".join(lines) + "\n").encode()
            out.append(f"M 100644 inline {name}\ndata {len(data)}\n".encode() + data + b"\n")
        out.append(b"\n")
    return b"".join(out)


def make_repo(path: Path, commits: int) -> Path:
    marker = path / ".bench-commits"
    if marker.exists() and marker.read_text() == str(commits):
        return path
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "remote", "add", "origin",
                    "git@github.com:bench/generated.git"], check=True)  # fmt: skip
    stream = fast_import_stream(commits)
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=stream, check=True)
    subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", "main"], check=True)
    marker.write_text(str(commits))
    return path


def best_of(rounds: int, command: list[str], env: dict[str, str] | None = None) -> Timing:
    """Best wall clock of ``rounds`` runs, and the CPU seconds (process + children) of that run."""
    best = Timing(float("inf"), 0.0)
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = subprocess.run(command, capture_output=True, env=env)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {process.stderr.decode()[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if elapsed < best.wall_s:
            best = Timing(elapsed, cpu)
    return best


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=12000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--publish", action="store_true", help="also time a real backfill")
    args = parser.parse_args()
    repo = make_repo(Path(tempfile.gettempdir()) / "provledger-bench-backfill", args.commits)
    count = subprocess.run(["git", "-C", str(repo), "rev-list", "--count", "HEAD"],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    provledger = [sys.executable, "-m", "provenance_ledger.query"]
    commits = int(count)
    git_t = best_of(args.rounds, ["git", "-C", str(repo), "log", "--numstat"])
    dry_t = best_of(args.rounds, [*provledger, "backfill", "git", str(repo), "--dry-run"])
    start_t = best_of(args.rounds, [sys.executable, "-c", "import query.cli"])
    print(f"repository: generated with git fast-import, {commits} commits, at {repo}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for label, timing in (
        ("git log --numstat", git_t),
        ("provledger backfill git --dry-run", dry_t),
        ("  of which CLI start-up (import)", start_t),
    ):
        rate = commits / timing.wall_s
        print(f"{label:36} {timing.wall_s:6.2f} s wall {timing.cpu_s:6.2f} s CPU  {rate:9,.0f}/s")
    ratio = dry_t.wall_s / git_t.wall_s
    work = (dry_t.wall_s - start_t.wall_s) / git_t.wall_s
    print(f"ratio backfill / git log, wall:      {ratio:6.2f}x  (target: within 2x)")
    print(f"ratio without the CLI start-up:      {work:6.2f}x")
    if args.publish:
        env = {**os.environ, "PROVLEDGER_TOPIC": f"bench.backfill.{int(time.time())}",
               "PROVLEDGER_SPOOL_DIR": tempfile.mkdtemp(prefix="bench-spool-")}  # fmt: skip
        pub_s = best_of(1, [*provledger, "backfill", "git", str(repo)], env).wall_s
        rate = commits / pub_s
        print(f"provledger backfill (to Kafka):  {pub_s:6.2f} s  ({rate:8,.0f} commits/s)")


if __name__ == "__main__":
    main()
