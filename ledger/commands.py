"""The ledger's own commands: its file's integrity and copies, and the local broker."""

COMMANDS = {
    "verify": "provenance_ledger.ledger.cli_ledger:verify",
    "rebuild": "provenance_ledger.ledger.cli_ledger:rebuild_command",
    "prove": "provenance_ledger.ledger.cli_proofs:prove",
    "verify-proof": "provenance_ledger.ledger.cli_proofs:verify_proof",
    "snapshot": "provenance_ledger.ledger.cli_snapshot:snapshot",
    "kafka": "provenance_ledger.ledger.cli_kafka:kafka",
    "keys": "provenance_ledger.ledger.cli_keys:keys",
}
