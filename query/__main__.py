from provenance_ledger.query.cli import main

main()
