"""How provledger is installed here: which commands this install can run, and the pip command
that adds what is missing (schemas/commandline.py says how the shell reaches ``provledger``).

The standard library and click only: the root group imports this for every command, the
hook's included."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import click

from provenance_ledger.schemas.errors import UsageProblem

# Top-level modules only the `server` extra installs (DuckDB, Arrow, the API and its UI).
SERVER_MODULES = frozenset(
    {"duckdb", "pyarrow", "numpy", "fastapi", "starlette", "uvicorn", "jinja2", "swagger_ui_bundle"}
)
# This install cannot run the command as asked: a usage problem (README, "Exit codes").
MISSING_EXTRA_EXIT = UsageProblem.exit_code


def pip_install_server() -> str:
    """The pip command that adds the server extra to the environment provledger runs in."""
    pip = shutil.which("pip")
    here = Path(sys.executable).parent
    prefix = "pip" if pip and Path(pip).parent == here else f"{shlex.quote(sys.executable)} -m pip"
    return f"{prefix} install 'provenance-ledger[server]'"


class ServerExtraMissing(click.ClickException):
    exit_code = MISSING_EXTRA_EXIT


def needs_server_extra(name: str, missing: ModuleNotFoundError) -> click.Command:
    """A stand-in for command NAME, whose module needs the server extra: listed in help, and
    running it (even with --help) says what to install and exits 2. Any other missing module
    is a broken install and is raised as is."""
    if (missing.name or "").split(".")[0] not in SERVER_MODULES:
        raise missing
    hint = f"needs the server extra (DuckDB, FastAPI, uvicorn): {pip_install_server()}"

    def refuse(args: tuple[str, ...]) -> None:
        raise ServerExtraMissing(f"`provledger {name}` {hint}")

    return click.Command(
        name,
        callback=refuse,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        help=f"Not installed: {hint}",
        short_help="(needs the server extra: see its --help)",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
