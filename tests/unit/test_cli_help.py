"""Every command documents itself: help text with an example, and a mention in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from provenance_ledger.query.cli.main import cli
from tests.support.commands import commands

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize(
    ("name", "command"), commands(cli), ids=[name for name, _ in commands(cli)]
)
def test_every_command_has_help_with_an_example(name, command):
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert command.help, f"{name} has no help text"
    if not isinstance(command, click.Group):
        assert "Example:" in result.output, f"{name} --help shows no example"


@pytest.mark.parametrize(
    ("name", "command"), commands(cli), ids=[name for name, _ in commands(cli)]
)
def test_every_command_is_in_the_readme(name, command):
    assert f"provledger {name}" in README, f"README does not mention `provledger {name}`"
