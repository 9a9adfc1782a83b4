"""``provledger snapshot PATH``: a point-in-time DuckDB copy from the running server."""

from __future__ import annotations

from pathlib import Path

import click

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.query.cli.client import api_download
from provenance_ledger.query.cli.output import json_option, print_json
from provenance_ledger.schemas.errors import UsageProblem


@click.command(
    epilog="Exit 2 when PATH exists (without --force), 3 when the API does not answer, 4 when "
    "it refuses (the admin scope is needed)."
)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@json_option("Print where the copy is, its size and how many events it holds as JSON.")
@click.pass_obj
def snapshot(settings: Settings, path: Path, force: bool, as_json: bool) -> None:
    """Write a consistent point-in-time copy of the ledger to PATH while ingestion goes on.

    Asks the running server (GET /v1/snapshot on PROVLEDGER_API, admin scope: set
    PROVLEDGER_TOKEN), since no other process may open the ledger file while it runs.
    Open the copy with the duckdb CLI or any DuckDB client.

    \b
    Example:
      provledger snapshot /tmp/ledger-$(date +%s).duckdb
      duckdb -readonly /tmp/ledger-*.duckdb "SELECT count(*) FROM events"
    """
    if path.exists() and not force:
        raise UsageProblem(f"{path} exists; choose a new path or pass --force")
    if not path.parent.is_dir():
        raise UsageProblem(f"{path.parent} is not a directory")
    headers = api_download(settings, "/v1/snapshot", path)
    size = path.stat().st_size
    events = headers.get("x-provledger-events")
    if as_json:
        print_json({"path": str(path), "bytes": size, "events": int(events) if events else None})
        return
    click.echo(
        f"snapshot of {events or '?'} events ({size / 1e6:.1f} MB) written to {path}", err=True
    )
    click.echo(f"open it with: duckdb -readonly {path}", err=True)
