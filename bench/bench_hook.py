"""Start-up of `provledger hook TOOL`, which AI coding tools run after every edit.

1. wall: min and median over --runs (20) fresh interpreters running
   `provledger hook claude-code` on tests/fixtures/hooks/claude-code-write.json (an edit in a
   throwaway git repository; background delivery off, so only the hook itself is timed);
2. imports: `python -X importtime` cumulative time of the hook's import path (the root group
   plus the hook command), min and median over the same runs, and the slowest modules' own time.

The goal is under 100 ms of imports.

    python bench/bench_hook.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "hooks" / "claude-code-write.json"
IMPORTS = "import provenance_ledger.query.cli.main, provenance_ledger.producers.cli_hook"


def provledger() -> list[str]:
    script = shutil.which("provledger", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "provenance_ledger.query"]


def hook_env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(tmp),
        "XDG_DATA_HOME": str(tmp / "data"),
        "PROVLEDGER_SPOOL_DIR": str(tmp / "spool"),
        "PROVLEDGER_HOOK_LOG": str(tmp / "hooks.log"),
        "PROVLEDGER_HOOK_DELIVERY": "spool",
    }


def time_hook(tmp: Path, runs: int) -> list[float]:
    repo = tmp / "repo"
    (repo / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    payload = FIXTURE.read_text().replace("{repo}", str(repo)).encode()
    env = hook_env(tmp)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([*provledger(), "hook", "claude-code"], input=payload, env=env, check=True)
        seconds.append(time.perf_counter() - start)
    if (tmp / "hooks.log").exists():
        sys.exit(f"the hook failed; see {tmp / 'hooks.log'}")
    return seconds


def import_profile() -> tuple[int, list[tuple[int, str]]]:
    """Microseconds of the whole import path, and each module's own microseconds."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", IMPORTS],
        capture_output=True,
        text=True,
        check=True,
    )
    total, own_times = 0, []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        # importtime indents nested modules; the top-level rows add up to the whole.
        if not name[1:].startswith(" "):
            total += int(cumulative)
        own_times.append((int(own), name.strip()))
    return total, sorted(own_times, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wall = time_hook(Path(tmp), args.runs)
    profiles = [import_profile() for _ in range(args.runs)]
    imports = [total / 1000 for total, _ in profiles]
    print(f"hook wall ({args.runs} runs): min {min(wall) * 1000:.0f} ms, "
          f"median {statistics.median(wall) * 1000:.0f} ms")  # fmt: skip
    print(f"hook imports (-X importtime): min {min(imports):.0f} ms, "
          f"median {statistics.median(imports):.0f} ms (goal < 100 ms)")  # fmt: skip
    print("slowest modules, own time of the last run:")
    for own, name in profiles[-1][1][:8]:
        print(f"  {own / 1000:6.1f} ms  {name}")


if __name__ == "__main__":
    main()
