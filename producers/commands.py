"""The commands CI steps and AI-tool hooks run: light to import, never fatal to a build."""

COMMANDS = {
    "emit": "provenance_ledger.producers.cli_emit:emit",
    "flush": "provenance_ledger.producers.cli_flush:flush",
    "backfill": "provenance_ledger.producers.cli_backfill:backfill",
    "hook": "provenance_ledger.producers.cli_hook:hook",
    "catalog": "provenance_ledger.producers.cli_catalog:catalog_group",
    "people": "provenance_ledger.producers.cli_people:people_group",
}
