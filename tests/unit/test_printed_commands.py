"""Every command provledger prints for the user runs as printed: the bare name only when the
shell's PATH finds this very provledger, else a path that does."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from provenance_ledger.query.cli.install import pip_install_server
from provenance_ledger.schemas.commandline import runnable


def install(root: Path) -> Path:
    """A venv-like bin directory holding a python and a provledger script."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "provledger", "pip"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


@pytest.fixture
def venv(tmp_path, monkeypatch) -> Path:
    # A space in the path: the printed command must quote it.
    bin_dir = install(tmp_path / "my venv")
    monkeypatch.setattr(sys, "argv", [str(bin_dir / "provledger"), "up"])
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    return bin_dir


def test_the_bare_name_when_path_finds_the_running_provledger(venv, monkeypatch):
    monkeypatch.setenv("PATH", f"{venv}:/usr/bin:/bin")
    assert runnable("suspects INC-1") == "provledger suspects INC-1"
    assert pip_install_server() == "pip install 'provenance-ledger[server]'"


def test_the_absolute_path_when_the_venv_is_not_on_path(venv, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    printed = shlex.split(runnable("suspects INC-1"))
    assert printed == [str(venv / "provledger"), "suspects", "INC-1"]
    pip = shlex.split(pip_install_server())
    assert pip == [str(venv / "python"), "-m", "pip", "install", "provenance-ledger[server]"]


def test_the_absolute_path_when_path_finds_another_provledger(venv, tmp_path, monkeypatch):
    other = install(tmp_path / "other")
    monkeypatch.setenv("PATH", f"{other}:{venv}")
    assert shlex.split(runnable("flush"))[0] == str(venv / "provledger")


def test_python_m_when_no_provledger_script_is_installed(tmp_path, monkeypatch):
    python = tmp_path / "bare" / "python"
    python.parent.mkdir()
    python.write_text("")
    monkeypatch.setattr(sys, "argv", ["/somewhere/__main__.py"])
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert shlex.split(runnable("flush")) == [str(python), "-m", "provenance_ledger.query", "flush"]
