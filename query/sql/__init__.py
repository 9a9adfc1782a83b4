"""Read-only SQL for SREs, run in bounded worker processes."""
