"""Exit codes and --json as a script meets them, on a real `provledger serve` and Kafka:
0 ok, 1 a finding, 2 usage, 3 unreachable, 4 the API's error (README, "Exit codes"); every
command that prints a result prints one JSON document with --json, failing or not."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

from tests.support import git_repo
from tests.support.ledgerproc import cli, run_sql
from tests.support.provstory import JO, MIA, PIA, SAM, TEAM, Story, sha

REPO = "shop/checkout"


def closed_port() -> int:
    """A loopback port nothing listens on: the API or broker is 'down'."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def story() -> Story:
    """Commit 1 is AI-written and approved only by a junior (not compliant); commit 2 is
    compliant; the deployment of commit 1 precedes INC-9."""
    s = Story()
    s.people(TEAM)
    ai = [{"tool": "claude-code", "model": "claude-sonnet-4-5", "mode": "agent", "lines": 40}]
    s.change(1, MIA, -300, lines_added=50, files=["src/pay/retry.py"], ai=ai)
    s.review(1, JO, -240)
    s.change(2, SAM, -400, lines_added=6, files=["src/banner.py"])
    s.review(2, PIA, -380)
    s.deploy("dep-1", "checkout", "prod", -40, version="v2", repo=REPO, commit=sha(1))
    s.incident("INC-9", ["checkout"], resolved=28, title="Checkout 500s")
    return s


def run(env: dict[str, str], *args: str):
    return cli(env, *args, timeout=120)


def as_json(result) -> dict | list:
    """The one JSON document on stdout (json.loads refuses anything after it)."""
    return json.loads(result.stdout)


def test_check_verify_and_queries_follow_the_table(start_server, tmp_path: Path) -> None:
    server = start_server().load(story().events)
    env = server.env

    compliant = run(env, "check", "--repo", REPO, "--commit", sha(2), "--json")
    assert compliant.returncode == 0, compliant.stderr
    assert as_json(compliant)["compliant"] is True
    violating = run(env, "check", "--repo", REPO, "--commit", sha(1))
    assert violating.returncode == 1, violating.stderr
    assert "VIOLATION" in violating.stderr
    assert violating.stderr.splitlines()[-1].startswith(f"provledger: {REPO}@{sha(1)} is not")
    violating_json = run(env, "check", "--repo", REPO, "--commit", sha(1), "--json")
    assert violating_json.returncode == 1
    assert as_json(violating_json)["violations"][0]["rule"] == "ai-change-needs-senior-approval"
    unknown = run(env, "check", "--repo", REPO, "--commit", sha(999), "--json")
    assert unknown.returncode == 2, unknown.stderr  # the contract's gate: 2 for anything else
    assert as_json(unknown)["status"] == 404 and as_json(unknown)["kind"] == "remote"
    bad_flag = run(env, "check", "--repo", REPO, "--commit", sha(1), "--no-such-flag")
    assert bad_flag.returncode == 2 and "No such option" in bad_flag.stderr

    verified = run(env, "verify", "--json")  # the server holds the file: through its API
    assert verified.returncode == 0, verified.stderr
    # Loaded through the API: one record per event, so the log's size is the events'.
    assert as_json(verified)["ok"] is True and as_json(verified)["events"] >= 8
    assert as_json(verified)["size"] == as_json(verified)["events"]
    suspects = run(env, "suspects", "INC-9", "--json")
    assert suspects.returncode == 0 and as_json(suspects)["suspects"][0]["event_id"] == "dep-1"
    assert run(env, "suspects", "INC-404").returncode == 4
    sql = run(env, "sql", "SELECT count(*) AS n FROM events", "--json")
    assert sql.returncode == 0 and as_json(sql)["columns"] == ["n"]
    assert run(env, "sql", "DROP TABLE events", "--json").returncode == 4
    copy = tmp_path / "copy.duckdb"
    snapshot = run(env, "snapshot", str(copy), "--json")
    assert snapshot.returncode == 0, snapshot.stderr
    assert as_json(snapshot) == {
        "path": str(copy),
        "bytes": copy.stat().st_size,
        "events": as_json(verified)["events"],
    }
    assert run(env, "snapshot", str(copy)).returncode == 2  # exists, no --force

    down = {**env, "PROVLEDGER_API": f"http://127.0.0.1:{closed_port()}"}
    for args, code in (
        (["check", "--repo", REPO, "--commit", sha(1)], 2),  # the gate's contract: 0, 1 or 2
        (["verify"], 3),
        (["suspects", "INC-9"], 3),
    ):
        result = run(down, *args, "--json")
        assert result.returncode == code, (args, result.stdout, result.stderr)
        assert as_json(result)["kind"] == "unreachable"
        assert result.stderr.startswith("provledger: "), result.stderr
        assert "Traceback" not in result.stderr


def test_rebuild_then_a_tampered_ledger_is_a_finding(start_server) -> None:
    server = start_server().load(story().events)
    stored = server.get("/healthz").json()["events"]
    server.process.send_signal(signal.SIGINT)
    server.process.wait(timeout=30)
    env = server.env

    rebuilt = run(env, "rebuild", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    report = as_json(rebuilt)
    assert report["events"] == stored
    assert all(table["equal"] for table in report["tables"])
    assert run(env, "verify", "--json").returncode == 0

    run_sql(Path(env["PROVLEDGER_DB"]), "UPDATE events SET source = 'ci/forged' WHERE seq = 3")
    tampered = run(env, "verify", "--json")
    assert tampered.returncode == 1, tampered.stderr
    assert as_json(tampered)["ok"] is False and as_json(tampered)["problem"]["seq"] == 3
    assert tampered.stderr == "provledger: the ledger was tampered with: row seq 3 was changed\n"


def test_producers_answer_in_json_and_spooling_under_strict_is_unreachable(
    start_server, tmp_path: Path
) -> None:
    server = start_server()
    env = {**server.env, "PROVLEDGER_SPOOL_DIR": str(tmp_path / "spool")}
    kafka_down = {**env, "PROVLEDGER_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}"}
    opened = '{"incident": "INC-1", "severity": "sev2", "services": ["checkout"]}'

    sent = run(env, "emit", "incident.opened", "--data", opened, "--json")
    assert sent.returncode == 0, sent.stderr
    assert as_json(sent)["delivered"] is True and as_json(sent)["topic"] == env["PROVLEDGER_TOPIC"]
    spooled = run(kafka_down, "emit", "incident.resolved", "--data", '{"incident": "INC-1"}',
                  "--timeout", "1", "--json")  # fmt: skip
    assert spooled.returncode == 0, spooled.stderr
    assert as_json(spooled)["delivered"] is False
    assert as_json(spooled)["spool"] == str(tmp_path / "spool")
    strict = run(kafka_down, "emit", "incident.resolved", "--data", '{"incident": "INC-2"}',
                 "--timeout", "1", "--strict", "--json")  # fmt: skip
    assert strict.returncode == 3, strict.stderr
    assert as_json(strict)["kind"] == "unreachable"

    stuck = run(kafka_down, "flush", "--timeout", "1", "--json")
    assert stuck.returncode == 3
    assert as_json(stuck)["remaining"] == 2 and as_json(stuck)["delivered"] == 0
    flushed = run(env, "flush", "--json")
    assert flushed.returncode == 0, flushed.stderr
    assert as_json(flushed)["delivered"] == 2 and as_json(flushed)["remaining"] == 0
    server.wait_for_events(3)

    repo = git_repo.init(tmp_path / "shop")
    git_repo.commit(repo, "first", {"a.txt": "a\n"})
    git_repo.commit(repo, "second", {"b.txt": "b\n"}, when=60)
    backfilled = run(env, "backfill", "git", str(repo), "--json")
    assert backfilled.returncode == 0, backfilled.stderr
    assert as_json(backfilled)["commits"] == 2 and as_json(backfilled)["delivered"] is True
    (tmp_path / "not-git").mkdir()
    assert run(env, "backfill", "git", str(tmp_path / "not-git")).returncode == 5


def test_tokens_answer_in_json(tmp_path: Path) -> None:
    env = {
        "PROVLEDGER_TOKENS_FILE": str(tmp_path / "tokens.json"),
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    created = run(env, "token", "create", "--scope", "read", "--name", "ci", "--json")
    assert created.returncode == 0, created.stderr
    token = as_json(created)
    assert token["token"].startswith("plg_") and token["scope"] == "read"
    listed = run(env, "token", "list", "--json")
    assert [entry["name"] for entry in as_json(listed)] == ["ci"]
    assert token["token"] not in listed.stdout
    assert run(env, "token", "revoke", "nobody").returncode == 2
