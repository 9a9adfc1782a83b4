"""``provledger``: the command line. Each command's help ends with an example."""

from __future__ import annotations

import logging

import click

from ledger.settings import Settings
from query.cli_ask import suspects
from query.cli_emit import emit
from query.cli_kafka import kafka
from query.cli_server import serve, up


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
    ctx.obj = Settings.from_env()


for command in (up, serve, emit, suspects, kafka):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="provledger")
