"""Human durations such as ``24h``, ``90m``, ``2d``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 24h or 7d")
    amount, unit = match.groups()
    value = timedelta(**{_UNITS[unit]: float(amount)})
    if value <= timedelta(0):
        raise ValueError("a duration must be positive")
    return value
