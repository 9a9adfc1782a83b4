"""A lookback such as ``24h``, ``90m``, ``2d``: the duration parser settings use
(ledger/units.py), with the unit required and up to ten years (beyond, date arithmetic
overflows: refuse, never a 500)."""

from __future__ import annotations

from datetime import timedelta

from provenance_ledger.ledger.units import parse_seconds


def parse_duration(text: str) -> timedelta:
    return timedelta(seconds=parse_seconds(text, unitless=False))
