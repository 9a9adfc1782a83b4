"""``--json`` for every command that prints a result: one JSON document on stdout.

The root handler reads what this module records in the context's ``meta`` (shared by every
nested context): whether ``--json`` was asked, and whether the result was already printed,
so a failing command still leaves exactly one JSON document on stdout. Click and the
standard library only: the root group imports it for every command, the hook's included.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

JSON_ASKED = "provledger.json_asked"
JSON_PRINTED = "provledger.json_printed"


def ask_for_json(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """An option callback: this run answers in JSON (``--json``, or ``--format json``)."""
    if value is True or value == "json":
        ctx.meta[JSON_ASKED] = True
    return value


def json_option(
    help: str = "Print the result as one JSON document on stdout.",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--json", "as_json", is_flag=True, callback=ask_for_json, help=help)


def print_json(document: Any) -> None:
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[JSON_PRINTED] = True
    click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))
