"""What the ledger knows, read for the API: commits, deployments, incidents, metrics."""
