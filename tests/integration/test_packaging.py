"""The installed distribution adds one import package, ``provenance_ledger``, and nothing else
at the top of site-packages (CONTRACT: one namespace), and carries every module and data file
of the four source folders."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("producers", "ledger", "query", "schemas")
DATA_SUFFIXES = {".py", ".sql", ".yaml", ".avsc", ".html", ".css", ".js", ".json"}


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


def test_the_wheel_has_one_top_level_package_holding_every_source_file(tmp_path):
    names = zipfile.ZipFile(build_wheel(tmp_path)).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"provenance_ledger"}
    shipped = set(names)
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in DATA_SUFFIXES and "__pycache__" not in path.parts:
                inside = f"provenance_ledger/{path.relative_to(ROOT).as_posix()}"
                assert inside in shipped, f"{inside} is missing from the wheel"
