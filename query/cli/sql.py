"""``provledger sql``: read-only SQL over the live ledger, through the API."""

from __future__ import annotations

import csv
import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.query.cli.client import api_post
from provenance_ledger.query.cli.output import ask_for_json, json_option, print_json


def parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``name=text`` binds a string; ``name:=json`` binds a JSON value (number, list, …)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.rstrip(":"):
            raise click.BadParameter(
                f"{pair!r} is not name=value or name:=json", param_hint="--param"
            )
        if name.endswith(":"):
            try:
                params[name[:-1]] = json.loads(value)
            except ValueError as exc:
                raise click.BadParameter(f"{pair!r}: {exc}", param_hint="--param") from exc
        else:
            params[name] = value
    return params


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def render(answer: dict[str, Any], fmt: str) -> None:
    columns, rows = answer["columns"], answer["rows"]
    if fmt == "json":
        print_json(answer)
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_cell(value) for value in row] for row in rows)
    else:
        table = Table(*columns, show_lines=False)
        for row in rows:
            table.add_row(*(_cell(value) for value in row))
        Console(soft_wrap=False).print(table)
        as_of = answer.get("as_of") or {}
        copy = f"; ledger as of {as_of['taken_at']}" if "taken_at" in as_of else ""
        click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''}{copy})", err=True)
    if answer.get("truncated"):
        click.echo(
            f"warning: truncated at {len(rows)} rows (the server's PROVLEDGER_SQL_MAX_ROWS / "
            "PROVLEDGER_SQL_MAX_BYTES); aggregate or add a LIMIT",
            err=True,
        )


@click.command(
    epilog="Exit 4 when the server refuses the SQL (not a read, too slow, bad parameter) or "
    "the token lacks the read scope, 3 when the API does not answer."
)
@click.argument("query", metavar="SQL")
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Bind $NAME to the string VALUE; NAME:=JSON binds a JSON value (42, true, [1,2]).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    callback=ask_for_json,
)
@json_option("The same as --format json.")
@click.pass_obj
def sql(settings: Settings, query: str, params: tuple[str, ...], fmt: str, as_json: bool) -> None:
    """Run read-only SQL on the ledger while it ingests (POST /v1/sql on PROVLEDGER_API).

    SELECT, WITH, EXPLAIN, DESCRIBE, SHOW and SUMMARIZE only; no file or network access.
    The server runs it in a worker process on a copy of the ledger (the answer's as_of says
    when it was taken), stops it after PROVLEDGER_SQL_TIMEOUT_S (5 s) and caps the answer at
    PROVLEDGER_SQL_MAX_ROWS (10,000). SQL `-` reads the query from stdin. Tables and
    views are documented in ledger/SCHEMA.md.

    \b
    Example:
      provledger sql "SELECT type, count(*) AS n FROM events GROUP BY ALL ORDER BY n DESC"
      provledger sql 'SELECT * FROM deployments_with_changes WHERE service = $s' -p s=checkout
      provledger sql "SELECT * FROM ai_changes_without_senior_approval" --format csv
    """
    if query == "-":
        query = sys.stdin.read()
    answer = api_post(settings, "/v1/sql", {"sql": query, "params": parse_params(params)})
    render(answer, "json" if as_json else fmt)
