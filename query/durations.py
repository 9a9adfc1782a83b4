"""Human durations such as ``24h``, ``90m``, ``2d``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_LONGEST = timedelta(days=3660)
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 24h or 7d")
    amount, unit = match.groups()
    try:
        value = timedelta(**{_UNITS[unit]: float(amount)})
    except OverflowError:
        value = _LONGEST + _LONGEST
    if value <= timedelta(0):
        raise ValueError("a duration must be positive")
    if value > _LONGEST:  # beyond this, date arithmetic overflows: refuse, never a 500
        raise ValueError(f"{text!r} is longer than {_LONGEST.days} days")
    return value
