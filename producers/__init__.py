"""Producers of provenance events: the emitter library, CLI helpers, git backfill, AI-tool hooks."""
