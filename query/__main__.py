from provenance_ledger.query.cli.main import main

main()
