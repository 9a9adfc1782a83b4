"""``provledger``: the command line. Each command's help ends with an example."""

from __future__ import annotations

import logging

import click

from ledger.settings import Settings
from query.cli_ask import check, suspects
from query.cli_emit import emit
from query.cli_kafka import kafka
from query.cli_ledger import rebuild_command, verify
from query.cli_producers import backfill, flush, hook
from query.cli_server import serve, up
from query.cli_snapshot import snapshot
from query.cli_sql import sql
from query.cli_token import token


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.version_option(package_name="provenance-ledger")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """provledger: which changes shipped before an outage, who wrote them with which AI
    tool and model, who reviewed them, and was that reviewer senior.

    Settings come from PROVLEDGER_* environment variables: PROVLEDGER_KAFKA_BOOTSTRAP,
    PROVLEDGER_TOPIC, PROVLEDGER_DB, PROVLEDGER_API, PROVLEDGER_TOKEN.

    \b
    Example:
      provledger up                 # broker, ledger, API and a demo incident
      provledger suspects INC-DEMO-1
    """
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kafka-python reports transient states (a topic being created, a slow poll) as warnings
    # and errors it then recovers from; show them only when asked to.
    logging.getLogger("kafka").setLevel(level if verbose else logging.CRITICAL)
    ctx.obj = Settings.from_env()


for command in (
    up,
    serve,
    emit,
    suspects,
    check,
    kafka,
    flush,
    backfill,
    hook,
    verify,
    rebuild_command,
    sql,
    snapshot,
    token,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="provledger")
