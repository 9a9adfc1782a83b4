"""The hook runs on every edit an AI tool makes, so it must not import the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.producers import bare_env

HEAVY = ("kafka", "pydantic", "fastavro", "duckdb", "fastapi", "uvicorn", "httpx", "rich")
FIXTURE = Path(__file__).parents[1] / "fixtures" / "hooks" / "claude-code-write.json"

# Runs the real console entry point in a fresh interpreter, then lists what got imported.
SCRIPT = """
import json, sys
from provenance_ledger.query.cli.main import cli
try:
    cli(["hook", "claude-code"], prog_name="provledger")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


def test_hook_imports_no_heavy_library(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    payload = FIXTURE.read_text().replace("{repo}", str(repo))
    env = bare_env(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=set(HEAVY))],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    # The hook did its work (journaled the edit) rather than failing early into the log.
    assert not (tmp_path / "hooks.log").exists()
