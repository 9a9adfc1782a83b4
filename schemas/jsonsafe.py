"""JSON that every later step can handle: bounded nesting, finite numbers, valid Unicode.

Python's ``json`` recurses once per nesting level, accepts ``NaN``/``Infinity`` (not JSON),
keeps lone surrogates from ``\\udfff`` escapes (not encodable as UTF-8) and refuses integers
longer than 4300 digits with a ValueError. Each of these once killed the ledger's consumer,
so :func:`loads` bounds the depth before parsing, :func:`depth_problem` bounds a parsed value's
depth without recursing, and :func:`problem` names what else is wrong with it. Failures are
:class:`JsonProblem` with a reason code of ``schemas.codec``.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import Any

import msgspec

from provenance_ledger.schemas.errors import UsageProblem

MAX_DEPTH = 64
"""Nesting of objects and arrays in one event, envelope included: far above any real event."""
MAX_INT_BITS = 1024
"""An integer beyond a double's range is a number most JSON readers cannot hold (RFC 7493)."""

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class JsonProblem(ValueError, UsageProblem):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def _reject_constant(name: str) -> Any:
    raise JsonProblem("malformed_json", f"{name} is not a JSON number")


# One decoder: json.loads with any option builds a new decoder (and scanner) per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the brackets outside strings nest deeper than ``limit`` (a scan, no parse)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for char in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        depth += 1 if char in "[{" else -1
        if depth > limit:
            return True
    return False


def loads(value: bytes | str, what: str = "value", limit: int = MAX_DEPTH) -> Any:
    """Parse UTF-8 JSON text nested at most ``limit`` deep, without NaN or Infinity, or raise
    JsonProblem. Values are checked by :func:`problem` (``validate_event`` does)."""
    try:
        text = value.removeprefix(codecs.BOM_UTF8).decode() if isinstance(value, bytes) else value
    except UnicodeDecodeError as exc:
        raise JsonProblem("malformed_json", f"{what} is not UTF-8 text: {exc}") from None
    if too_deep(text, limit):
        raise JsonProblem("too_deep", f"{what} nests objects/arrays deeper than {limit}")
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise JsonProblem("malformed_json", f"{what} is not JSON: {exc}") from None
    except JsonProblem:
        raise
    except ValueError as exc:  # an integer past Python's int-string limit
        raise JsonProblem("invalid_field", f"{what} holds a number too large: {exc}") from None


UNSURE: Any = object()
"""What :func:`loads_plain` returns when it leaves the text to :func:`loads`."""


def _not_plain(literal: str) -> float:
    raise ValueError(f"a float: {literal}")


# Strict RFC 8259 (no NaN, lone surrogate, BOM; strict UTF-8), integers kept exact, and any
# float refused (tests/unit/test_verbatim_canonical.py holds it to json on hostile text).
_PLAIN = msgspec.json.Decoder(float_hook=_not_plain)
# Every digit to "0", to find a run of them with one bytes search.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def loads_plain(value: bytes, limit: int = MAX_DEPTH) -> Any:
    """What :func:`loads` gives for ``value``, by msgspec's decoder (C), when the value is
    *plain*: at most ``limit`` brackets (so at most as deep), no null, no float and no run of
    19 digits (so no integer of 64 bits or more), strings included. Such a value's
    :func:`~schemas.decoded.normal_body` is itself. :data:`UNSURE` for any other text (also a
    BOM, NaN, a lone surrogate or not JSON): :func:`loads` then parses it or says why not."""
    if (
        value.count(b"[") + value.count(b"{") > limit
        or b"null" in value
        or _LONG_NUMBER in value.translate(_DIGITS_AS_ZERO)
    ):
        return UNSURE
    try:
        return _PLAIN.decode(value)
    except msgspec.DecodeError:
        return UNSURE


def depth_problem(value: Any, limit: int = MAX_DEPTH) -> JsonProblem | None:
    """The value nests deeper than ``limit``; level by level, containers only (it runs on every
    event: leaves are checked as the canonical bytes are written)."""
    level = [value] if type(value) is dict or type(value) is list else []
    for _ in range(limit):
        deeper = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) is dict or type(child) is list:
                    deeper.append(child)
        if not deeper:
            return None
        level = deeper
    return JsonProblem("too_deep", f"the event nests objects/arrays deeper than {limit}")


def problem(value: Any, limit: int = MAX_DEPTH) -> JsonProblem | None:
    """What makes a parsed value unfit to be an event's JSON, and where, or None. Iterative: a
    value nested a million deep is refused, not a RecursionError."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, where, depth = stack.pop()
        if type(node) is dict:
            items: Any = node.items()
        elif type(node) is list:
            items = enumerate(node)
        else:
            continue
        if depth > limit:
            return JsonProblem("too_deep", f"{where or 'the event'}: nested deeper than {limit}")
        for key, item in items:
            # isascii() first: it is the common case and far cheaper than encoding.
            if type(key) is str and not key.isascii() and not _unicode(key):
                return JsonProblem("invalid_field", f"{where}: a key is not valid Unicode")
            kind = type(item)
            if kind is str:
                if not item.isascii() and not _unicode(item):
                    return JsonProblem(
                        "invalid_field", f"{_at(where, key)}: not valid Unicode (a lone surrogate)"
                    )
            elif kind is int:
                if item.bit_length() > MAX_INT_BITS:
                    return JsonProblem(
                        "invalid_field", f"{_at(where, key)}: integer beyond a double's range"
                    )
            elif kind is float:
                if not math.isfinite(item):
                    return JsonProblem(
                        "invalid_field", f"{_at(where, key)}: {item} is not a JSON number"
                    )
            elif kind is dict or kind is list:
                stack.append((item, _at(where, key), depth + 1))
    return None


def _at(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
