"""Install time and size of the base distribution (what CI emitters and AI-tool hooks need)
and of the `server` extra (DuckDB, FastAPI, uvicorn), each in a fresh venv.

1. builds the project's wheel once (what `pip install provenance-ledger` gets from an index);
2. for each of base and server, twice: a fresh venv, then `pip install` of the wheel with a
   private pip cache that starts empty ("cold": every dependency is downloaded) and then holds
   what the first run fetched ("warm");
3. reports pip's wall time, the venv's site-packages (`du -sk`, and what the install added to
   a fresh venv's), the number of distributions, and checks the install: base runs `emit` and
   refuses `serve` with the install hint (exit 2), server runs `serve --help`.

    python bench/bench_install.py [--python python3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"base": "provenance-ledger", "server": "provenance-ledger[server]"}


@dataclass
class Result:
    variant: str
    cache: str
    seconds: float
    site_kib: int
    added_kib: int
    distributions: int
    check: str


def build_wheel(out: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"building the wheel failed:\n{done.stderr}")
    (wheel,) = out.glob("provenance_ledger-*.whl")
    return wheel


def site_packages(venv: Path) -> Path:
    (found,) = venv.glob("lib/python3*/site-packages")
    return found


def kib(path: Path) -> int:
    return int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0])  # fmt: skip


def check_install(venv: Path, variant: str) -> str:
    provledger = str(venv / "bin" / "provledger")
    emit = subprocess.run([provledger, "emit", "--help"], capture_output=True, text=True)
    if emit.returncode != 0:
        return f"emit --help failed ({emit.returncode})"
    if variant == "server":
        serve = subprocess.run([provledger, "serve", "--help"], capture_output=True, text=True)
        return "serve --help ok" if serve.returncode == 0 else f"serve failed: {serve.stderr}"
    serve = subprocess.run([provledger, "serve"], capture_output=True, text=True)
    hinted = serve.returncode == 2 and "pip install 'provenance-ledger[server]'" in serve.stderr
    return "serve: hint, exit 2" if hinted else f"serve: {serve.returncode} {serve.stderr!r}"


def install(python: str, wheel: Path, variant: str, cache: Path, tmp: Path, label: str) -> Result:
    venv = tmp / f"venv-{variant}-{label}"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    empty = kib(site_packages(venv))
    spec = f"{VARIANTS[variant]} @ {wheel.as_uri()}"
    start = time.perf_counter()
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--cache-dir", str(cache), spec], check=True
    )
    seconds = time.perf_counter() - start
    listed = subprocess.run(
        [str(venv / "bin" / "pip"), "list", "--format", "freeze"],
        capture_output=True,
        text=True,
        check=True,
    )
    size = kib(site_packages(venv))
    return Result(
        variant, label, seconds, size, size - empty, len(listed.stdout.splitlines()),
        check_install(venv, variant),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="python3", help="The interpreter the venvs use.")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        start = time.perf_counter()
        wheel = build_wheel(tmp / "dist")
        print(f"wheel {wheel.name} built in {time.perf_counter() - start:.1f} s")
        for variant in VARIANTS:
            cache = tmp / f"pip-cache-{variant}"
            for label in ("cold", "warm"):
                results.append(install(args.python, wheel, variant, cache, tmp, label))
    print(f"{'install':8} {'cache':5} {'pip s':>6} {'site-packages':>14} {'added':>9} "
          f"{'dists':>5}  check")  # fmt: skip
    for r in results:
        print(f"{r.variant:8} {r.cache:5} {r.seconds:6.1f} {r.site_kib / 1024:11.1f} MiB "
              f"{r.added_kib / 1024:5.1f} MiB {r.distributions:5}  {r.check}")  # fmt: skip


if __name__ == "__main__":
    main()
