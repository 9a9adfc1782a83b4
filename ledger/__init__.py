"""The ledger: consumes provenance events from Kafka into DuckDB, exactly once."""
