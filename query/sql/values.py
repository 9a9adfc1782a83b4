"""DuckDB values as plain JSON for SQL answers, and what they weigh.

Every walk here is iterative: a value nested hundreds of levels deep (lists of lists,
structs of structs) must not hit Python's recursion limit.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

_CONTAINERS = (list, tuple, dict)


def _scalar(value: Any) -> Any:
    """A DuckDB scalar as plain JSON: times in ISO 8601, blobs in hex, NaN/Infinity as text."""
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
    return str(value)


def _empty(value: list | tuple | dict) -> list | dict:
    return {} if isinstance(value, dict) else []


def jsonable(value: Any) -> Any:
    """``value`` with every scalar made plain JSON (see :func:`_scalar`); lists, tuples and
    dicts become lists and dicts with string keys."""
    if not isinstance(value, _CONTAINERS):
        return _scalar(value)
    root = _empty(value)
    pending: list[tuple[Any, list | dict]] = [(value, root)]
    while pending:
        source, target = pending.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            converted = _empty(item) if isinstance(item, _CONTAINERS) else _scalar(item)
            if isinstance(target, dict):
                target[str(key)] = converted
            else:
                target.append(converted)
            if isinstance(item, _CONTAINERS):
                pending.append((item, converted))
    return root


def json_size(value: Any) -> int:
    """About how many bytes ``value`` (already :func:`jsonable`) takes in JSON."""
    size = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            size += len(item) + 2
        elif isinstance(item, list):
            size += 2
            pending.extend(item)
        elif isinstance(item, dict):
            size += 2 + sum(len(key) + 3 for key in item)
            pending.extend(item.values())
        else:
            size += 8
    return size


def to_json(value: Any) -> str:
    """JSON text of ``value`` (already :func:`jsonable`), built without recursion."""
    parts: list[str] = []
    # A stack of pieces still to write: either text, or a value to open.
    pending: list[tuple[bool, Any]] = [(False, value)]
    while pending:
        is_text, item = pending.pop()
        if is_text:
            parts.append(item)
        elif isinstance(item, list):
            pieces: list[tuple[bool, Any]] = [(True, "[")]
            for index, element in enumerate(item):
                if index:
                    pieces.append((True, ","))
                pieces.append((False, element))
            pieces.append((True, "]"))
            pending.extend(reversed(pieces))
        elif isinstance(item, dict):
            pieces = [(True, "{")]
            for index, (key, element) in enumerate(item.items()):
                prefix = "," if index else ""
                pieces.append((True, prefix + json.dumps(key, ensure_ascii=False) + ":"))
                pieces.append((False, element))
            pieces.append((True, "}"))
            pending.extend(reversed(pieces))
        else:
            parts.append(json.dumps(item, ensure_ascii=False, allow_nan=False))
    return "".join(parts)
