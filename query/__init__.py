"""Questions asked of the ledger: the HTTP API, its CLI client, and the query logic behind both."""
