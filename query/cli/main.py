"""``provledger``: the command line. Each command's help ends with an example."""

from __future__ import annotations

import importlib
import logging
from typing import Any

import click

from provenance_ledger.ledger.commands import COMMANDS as ledger_commands
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers.commands import COMMANDS as producer_commands
from provenance_ledger.query.cli.commands import COMMANDS as query_commands
from provenance_ledger.query.cli.failures import ALWAYS_EXIT_ZERO, handled
from provenance_ledger.query.cli.install import needs_server_extra
from provenance_ledger.schemas.errors import EXIT_CODES

# Each folder names its own commands as "module:attribute"; a command's module is imported
# only when it runs (or is listed in help), so a hook or an emit in a CI step does not pay
# for FastAPI, uvicorn and DuckDB.
COMMANDS = {**producer_commands, **ledger_commands, **query_commands}


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        """Every command runs inside the one error handler (README, "Exit codes")."""
        with handled(ctx):
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as missing:
            return needs_server_extra(cmd_name, missing)
        return getattr(module, attribute)


@click.group(
    cls=LazyGroup,
    epilog="\b\nExit codes (every command; `hook` always exits 0):\n"
    + "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items()),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.version_option(package_name="provenance-ledger")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """provledger: which changes shipped before an outage, who wrote them with which AI
    tool and model, who reviewed them, and was that reviewer senior.

    Settings come from PROVLEDGER_* environment variables (README.md lists them all), e.g.
    PROVLEDGER_KAFKA_BOOTSTRAP, PROVLEDGER_TOPIC, PROVLEDGER_DB, PROVLEDGER_API, PROVLEDGER_TOKEN.

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
    if ctx.invoked_subcommand in ALWAYS_EXIT_ZERO:
        return  # the hook builds its own settings, where a bad value cannot fail its tool
    # A bad value raises SettingError, a UsageProblem: exit 2 naming the variable.
    ctx.obj = settings = Settings.from_env()
    if settings.cdevents_schemas is not None:
        from provenance_ledger.schemas import cdevents  # loads jsonschema: only when asked

        cdevents.use_schemas(settings.cdevents_schemas)


def main() -> None:
    cli(prog_name="provledger")
