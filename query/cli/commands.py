"""The commands that run the service and ask it questions."""

COMMANDS = {
    "up": "provenance_ledger.query.cli.server:up",
    "serve": "provenance_ledger.query.cli.server:serve",
    "suspects": "provenance_ledger.query.cli.ask:suspects",
    "check": "provenance_ledger.query.cli.ask:check",
    "sql": "provenance_ledger.query.cli.sql:sql",
    "token": "provenance_ledger.query.cli.token:token",
}
