"""The installed distribution adds one import package, ``provenance_ledger``, and nothing else
at the top of site-packages (CONTRACT: one namespace), and carries every module and data file
of the four source folders."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("producers", "ledger", "query", "schemas")
DATA_SUFFIXES = {".py", ".sql", ".yaml", ".avsc", ".html", ".css", ".js", ".json"}
SERVER_ONLY = {"duckdb", "pyarrow", "numpy", "fastapi", "uvicorn", "jinja2"}


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("provenance_ledger-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_has_one_top_level_package_holding_every_source_file(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"provenance_ledger"}
    shipped = set(names)
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in DATA_SUFFIXES and "__pycache__" not in path.parts:
                inside = f"provenance_ledger/{path.relative_to(ROOT).as_posix()}"
                assert inside in shipped, f"{inside} is missing from the wheel"


def requirements(wheel: Path) -> dict[str, set[str]]:
    """Requirement names by extra ("" for the base install), from the wheel's METADATA."""
    archive = zipfile.ZipFile(wheel)
    (metadata,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
    by_extra: dict[str, set[str]] = {}
    for requirement in Parser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist"):
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
        extra = re.search(r"extra == ['\"]([^'\"]+)['\"]", requirement)
        by_extra.setdefault(extra.group(1) if extra else "", set()).add(name)
    return by_extra


def test_the_base_install_leaves_the_server_libraries_to_the_server_extra(wheel):
    needs = requirements(wheel)
    assert {"kafka-python", "fastavro", "pydantic", "click"} <= needs[""]
    assert not SERVER_ONLY & needs[""]
    assert needs["server"] >= SERVER_ONLY
    # The dev tools run the server's tests, so they bring the extra along.
    assert "provenance-ledger" in needs["dev"]
