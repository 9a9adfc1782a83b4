"""What a commit's reads cost on a large ledger: the policy gate's (is the commit known, what
its merge brought in, the facts it judges) and a commit's provenance (``GET /v1/commits/{sha}``),
CPU per call at p50 / p95 over a sample of the ledger's commits (merges and plain changes).

CI asks the gate on every build, so its reads must stay index look-ups as the ledger grows;
docs/benchmarks.md, section "Memory" ("Four indexes fewer"), has the figures.

    python bench/bench_commit_reads.py /tmp/mem/p1m.duckdb
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import duckdb

from provenance_ledger.query.policy.facts import commit_facts, commit_known
from provenance_ledger.query.policy.inforce import seniority_in_force
from provenance_ledger.query.readmodels.provenance import commit_provenance


def cpu_ms(call: Callable[[], object]) -> float:
    began = time.process_time()
    call()
    return (time.process_time() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ledger", type=Path, help="a ledger file (read only)")
    parser.add_argument("--commits", type=int, default=40, help="commits in the sample")
    args = parser.parse_args()
    con = duckdb.connect(str(args.ledger), read_only=True)
    half = max(1, args.commits // 2)
    sample = con.execute(
        f"(SELECT repo, commit FROM merges USING SAMPLE {half} ROWS (reservoir, 7)) UNION ALL "
        f"(SELECT repo, commit FROM changes USING SAMPLE {half} ROWS (reservoir, 7))"
    ).fetchall()
    seniority = seniority_in_force()
    calls: dict[str, Callable[[str, str], object]] = {
        "gate: is the commit known": lambda repo, sha: commit_known(con, repo, sha),
        "gate: the facts it judges": lambda repo, sha: commit_facts(con, repo, sha, seniority),
        "provenance (GET /v1/commits/SHA)": lambda repo, sha: commit_provenance(con, sha, repo),
    }
    print(f"{args.ledger}: {len(sample)} commits, CPU per call (after one warm-up call)")
    for name, call in calls.items():
        repo, sha = sample[0]
        call(repo, sha)
        times = sorted(cpu_ms(partial(call, repo, sha)) for repo, sha in sample)
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(f"  {name:34} p50 {statistics.median(times):7.2f} ms   p95 {p95:7.2f} ms")


if __name__ == "__main__":
    main()
