"""``provledger flush``: deliver what the emitter spooled while Kafka was away."""

from __future__ import annotations

from dataclasses import asdict

import click

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers.emitter import Emitter
from provenance_ledger.producers.spool import Spool
from provenance_ledger.query.cli.output import json_option, print_json
from provenance_ledger.schemas.errors import Unreachable


@click.command(epilog="Exit 3 when Kafka did not take every spooled event (they stay spooled).")
@click.option("--timeout", "timeout_s", default=5.0, show_default=True, help="Seconds to wait.")
@click.option("--quiet", is_flag=True, help="Print nothing when there is nothing to say.")
@click.option("--no-wait", is_flag=True, help="Exit at once if another flush is running.")
@json_option("Print delivered, remaining and busy (another flush was running) as JSON.")
@click.pass_obj
def flush(settings: Settings, timeout_s: float, quiet: bool, no_wait: bool, as_json: bool) -> None:
    """Deliver the events spooled while Kafka was unreachable, in order, each once.

    \b
    Example:
      provledger flush
      PROVLEDGER_SPOOL_DIR=/var/spool/provledger provledger flush
    """
    spool = Spool(settings.producer.spool_dir)
    emitter = Emitter(settings.kafka_bootstrap, settings.topic, timeout_s=timeout_s)
    try:
        result = spool.drain(emitter.deliver_spooled, wait_s=0 if no_wait else None)
    finally:
        emitter.abort() if spool.pending() else emitter.close()
    if as_json:
        print_json({**asdict(result), "spool": str(spool.directory)})
    if result.busy:
        return
    if result.remaining:
        raise Unreachable(
            f"delivered {result.delivered}; {result.remaining} still spooled in "
            f"{spool.directory}: Kafka at {settings.kafka_bootstrap} did not take them"
        )
    if not as_json and (result.delivered or not quiet):
        click.echo(f"delivered {result.delivered} spooled events; the spool is empty")
