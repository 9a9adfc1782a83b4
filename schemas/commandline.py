"""How the user's shell reaches the running ``provledger``, so every command the product
prints (in an error, a hint, a banner) runs as printed.

Standard library only, and below every folder: the ledger, the producers and the query side
all print commands, and the AI-tool hook imports this on every edit."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path


def runnable(args: str) -> str:
    """``provledger ARGS`` as this shell can run it: the bare name when PATH finds the running
    ``provledger``, else its absolute path (a venv that is not activated), else
    ``python -m``."""
    return f"{_provledger()} {args}"


def _provledger() -> str:
    running = _running_script()
    if running is None:
        return f"{shlex.quote(sys.executable)} -m provenance_ledger.query"
    on_path = shutil.which("provledger")
    if on_path and Path(on_path).resolve() == running.resolve():
        return "provledger"
    return shlex.quote(str(running))


def _running_script() -> Path | None:
    script = Path(sys.argv[0])
    if script.name == "provledger" and script.is_file():
        return script.absolute()
    # Run as `python -m` or in-process: the script this interpreter's install put beside it.
    beside = Path(sys.executable).parent / "provledger"
    return beside if beside.is_file() else None
