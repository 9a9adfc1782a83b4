"""DuckDB values as plain JSON for SQL answers, and what they weigh."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any


def json_size(value: Any) -> int:
    """About how many bytes ``value`` (already :func:`jsonable`) takes in JSON."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, list):
        return sum(json_size(item) for item in value) + 2
    if isinstance(value, dict):
        return sum(len(key) + json_size(item) for key, item in value.items()) + 2
    return 8


def jsonable(value: Any) -> Any:
    """A DuckDB value as plain JSON: times in ISO 8601, blobs in hex, NaN/Infinity as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    return str(value)
