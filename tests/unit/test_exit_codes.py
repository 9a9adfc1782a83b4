"""One error table and one handler at the root: each kind of failure exits with its code of
README's table, in one line on stderr, and as one JSON document when --json was asked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from provenance_ledger.query.cli import failures, main
from provenance_ledger.query.cli.output import json_option, print_json
from provenance_ledger.schemas import errors
from provenance_ledger.schemas.errors import (
    EXIT_CODES,
    KINDS,
    Finding,
    LocalFailure,
    RemoteError,
    Unreachable,
    UsageProblem,
)

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()

RAISED = {
    "finding": Finding("the ledger was tampered with"),
    "usage": UsageProblem("--since x: not a checkpoint"),
    "unreachable": Unreachable("cannot reach the provledger API"),
    "remote": RemoteError("the API answered 404: unknown incident", 404, {"error": "unknown"}),
    "local": LocalFailure("no ledger at /nowhere"),
    "bug": ValueError("a bug"),
    "interrupted": KeyboardInterrupt(),
    "click": click.FileError("/nowhere", "no such file"),
}


@click.command()
@click.argument("what", type=click.Choice(sorted(RAISED)))
@click.option("--result", is_flag=True, help="Print a result before failing.")
@json_option()
def fail(what: str, result: bool, as_json: bool) -> None:
    """A command that fails as asked, run by the real root group."""
    if result:
        print_json({"ok": False, "verdict": "tampered"})
    raise RAISED[what]


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setitem(main.COMMANDS, "fail", f"{__name__}:fail")

    def invoke(*args: str) -> click.testing.Result:
        return CliRunner().invoke(main.cli, list(args), prog_name="provledger")

    return invoke


def test_the_table_has_one_code_per_kind_and_the_readme_documents_it() -> None:
    codes = [kind.exit_code for kind in KINDS]
    assert codes == [1, 2, 3, 4, 5]
    assert set(EXIT_CODES) == {0, *codes, errors.BUG, errors.INTERRUPTED}
    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| *`?(\w*)`? *\|", section, re.MULTILINE))
    assert {int(code) for code in rows} == set(EXIT_CODES)
    for kind in KINDS:
        assert rows[str(kind.exit_code)] == kind.__name__


def test_every_error_class_of_the_project_is_of_one_kind() -> None:
    from provenance_ledger.ledger.checkpoint import CheckpointError
    from provenance_ledger.ledger.fileshape import NotALedger
    from provenance_ledger.producers.emitter import DeliveryError
    from provenance_ledger.producers.gitproc import GitError

    assert issubclass(NotALedger, LocalFailure) and issubclass(NotALedger, ValueError)
    assert issubclass(GitError, LocalFailure) and issubclass(GitError, RuntimeError)
    assert issubclass(CheckpointError, UsageProblem)
    assert issubclass(DeliveryError, Unreachable)


@pytest.mark.parametrize(
    ("what", "code"),
    [
        ("finding", 1),
        ("usage", 2),
        ("unreachable", 3),
        ("remote", 4),
        ("local", 5),
        ("click", 2),
        ("bug", 70),
        ("interrupted", 130),
    ],
)
def test_each_kind_exits_with_its_code_in_one_line(run, what: str, code: int) -> None:
    result = run("fail", what)
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("provledger: "), result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_a_bug_shows_its_traceback_only_under_verbose(run) -> None:
    quiet = run("fail", "bug")
    assert quiet.stderr.strip() == (
        "provledger: internal error: ValueError: a bug (run with -v for the traceback)"
    )
    loud = run("-v", "fail", "bug")
    assert loud.exit_code == 70
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.rstrip().endswith("provledger: internal error: ValueError: a bug")


def test_with_json_the_error_is_also_one_json_document_on_stdout(run) -> None:
    result = run("fail", "remote", "--json")
    assert result.exit_code == 4
    assert json.loads(result.stdout) == {
        "ok": False,
        "error": "the API answered 404: unknown incident",
        "kind": "remote",
        "exit_code": 4,
        "status": 404,
    }
    assert result.stderr.startswith("provledger: the API answered 404")


def test_a_result_printed_before_the_finding_stays_the_only_json_document(run) -> None:
    result = run("fail", "finding", "--json", "--result")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"ok": False, "verdict": "tampered"}
    assert result.stderr == "provledger: the ledger was tampered with\n"


def test_a_bad_flag_is_clicks_usage_error(run) -> None:
    result = run("fail", "usage", "--no-such-flag")
    assert result.exit_code == 2
    assert "Usage: provledger fail" in result.stderr
    assert "No such option '--no-such-flag'" in result.stderr


def test_the_hook_exits_0_even_for_a_bad_tool_or_flag(tmp_path) -> None:
    env = {"PROVLEDGER_HOOK_LOG": str(tmp_path / "hooks.log")}
    for args in (["hook", "no-such-tool"], ["hook", "claude-code", "--no-such-flag"]):
        result = CliRunner().invoke(main.cli, args, env=env, input="")
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.stderr


def test_kafka_status_answers_in_json_and_exits_1_when_no_broker_runs(tmp_path) -> None:
    result = CliRunner().invoke(
        main.cli, ["kafka", "status", "--data-dir", str(tmp_path), "--json"]
    )
    assert result.exit_code == 1, result.output
    status = json.loads(result.stdout)
    assert status["running"] is False and status["data_dir"] == str(tmp_path)
    assert result.stderr == f"provledger: no broker runs from {tmp_path}\n"


def test_an_api_url_that_is_not_http_is_a_usage_problem() -> None:
    env = {"PROVLEDGER_API": "localhost:8000"}
    result = CliRunner().invoke(main.cli, ["suspects", "INC-1", "--json"], env=env)
    assert result.exit_code == 2, result.output
    assert "PROVLEDGER_API='localhost:8000' is not an http(s) URL" in result.stderr
    assert json.loads(result.stdout)["kind"] == "usage"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (Finding("not compliant"), 1),
        (RemoteError("the API answered 404: unknown commit", 404, {}), 2),
        (Unreachable("cannot reach the provledger API"), 2),
        (UsageProblem("bad flag"), 2),
        (LocalFailure("no ledger"), 2),
    ],
)
def test_check_keeps_the_contracts_three_codes(error, code) -> None:
    assert failures.exit_code_for("check", error) == code
    assert failures.exit_code_for("suspects", error) == error.exit_code
