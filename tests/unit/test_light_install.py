"""The base install (no `server` extra) runs every producer command and the HTTP-client ones;
the server commands say what to install instead of a traceback. A fresh interpreter refuses to
import the extra's libraries, standing in for an environment that lacks them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from provenance_ledger.query.cli.install import MISSING_EXTRA_EXIT, SERVER_MODULES
from tests.support import git_repo
from tests.support.producers import bare_env

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hooks"
HINT = "pip install 'provenance-ledger[server]'"

# Refuses the extra's modules, then runs the console entry point with this script's arguments.
SCRIPT = f"""
import sys

class RefuseServerExtra:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {set(SERVER_MODULES) | {"httptools"}!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, RefuseServerExtra())
from provenance_ledger.query.cli.main import main
main()
"""


def run(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # Nothing listens on port 1: an emit spools, as in a CI step whose Kafka is away.
    env = bare_env(tmp_path, PROVLEDGER_KAFKA_BOOTSTRAP="127.0.0.1:1")
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


CLIENT_COMMANDS = ["emit", "flush", "hook", "backfill git", "catalog import", "suspects", "check"]


@pytest.mark.parametrize("command", [*CLIENT_COMMANDS, "sql", "snapshot", "token create"])
def test_client_commands_show_their_help_without_the_extra(tmp_path, command):
    done = run(tmp_path, *command.split(), "--help")
    assert done.returncode == 0, done.stderr
    assert "Example:" in done.stdout


def test_emit_spools_without_the_extra(tmp_path):
    data = json.dumps({"incident": "INC-7", "severity": "sev2", "services": ["checkout"]})
    done = run(tmp_path, "emit", "incident.opened", "--data", data, "--timeout", "1")
    assert done.returncode == 0, done.stderr
    assert "spooled" in done.stderr
    assert (tmp_path / "spool" / "events.jsonl").read_text().count("\n") == 1


@pytest.mark.parametrize("fixture", ["claude-code-write.json", "claude-code-bash.json"])
def test_hook_journals_without_the_extra(tmp_path, fixture):
    repo = git_repo.init(tmp_path / "repo")
    payload = (FIXTURES / fixture).read_text().replace("{repo}", str(repo))
    done = run(tmp_path, "hook", "claude-code", stdin=payload)
    assert done.returncode == 0, done.stderr
    # The hook never fails its tool: a failure would only show in its log.
    assert not (tmp_path / "hooks.log").exists()


def test_backfill_dry_run_without_the_extra(tmp_path):
    repo = git_repo.init(tmp_path / "repo")
    git_repo.commit(repo, "first", {"a.txt": "a\n"})
    git_repo.commit(repo, "second", {"b.txt": "b\n"}, when=1)
    done = run(tmp_path, "backfill", "git", str(repo), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would emit change.authored for 2 commits" in done.stderr


@pytest.mark.parametrize(
    "args", [["serve", "--help"], ["serve", "--port", "8001"], ["up"], ["verify"], ["rebuild"]]
)
def test_server_commands_name_the_install_and_exit_2(tmp_path, args):
    done = run(tmp_path, *args)
    assert done.returncode == MISSING_EXTRA_EXIT == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"provledger: `provledger {args[0]}` needs the server extra")
    assert line.endswith(HINT)


def test_root_help_lists_the_server_commands_as_needing_the_extra(tmp_path):
    done = run(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    serve = next(line for line in done.stdout.splitlines() if line.strip().startswith("serve"))
    assert "needs the server extra" in serve
