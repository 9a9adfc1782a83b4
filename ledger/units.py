"""One parser for the values people write in settings and requests: whole numbers, sizes
(``1048576``, ``512KiB``, ``64MB``, ``1.5GiB``) and durations (``30``, ``90s``, ``24h``, ``7d``).

Each returns a plain int (a count, bytes) or float (seconds), or raises ``ValueError`` whose
message says what was expected and what was given. Sizes follow DuckDB: KB, MB, GB and TB are
powers of 1000, KiB, MiB, GiB and TiB powers of 1024. Nothing negative, fractional where it
cannot be, or too large for the int64 that DuckDB, Kafka and the kernel take gets through.
"""

from __future__ import annotations

import re

LARGEST = 2**63 - 1
LONGEST_S = 3660 * 86_400  # past about ten years, date arithmetic overflows
# Digits kept of an amount: more than int64 holds, and finer than any setting needs. (Exact
# integer arithmetic rather than the decimal module, which costs the hook's start-up ~2 ms.)
DIGITS = 30

_AMOUNT = r"(?P<amount>[+-]?\d+(?:\.\d+)?)"
_COUNT = re.compile(r"[+-]?\d+")
_SIZE = re.compile(rf"{_AMOUNT}\s*(?P<unit>[kmgt]i?b|b)?", re.IGNORECASE)
_DURATION = re.compile(rf"{_AMOUNT}\s*(?P<unit>ms|[smhdw])?")
SIZE_UNITS = {
    "b": 1,
    **{f"{prefix}b": 1000 ** (power + 1) for power, prefix in enumerate("kmgt")},
    **{f"{prefix}ib": 1024 ** (power + 1) for power, prefix in enumerate("kmgt")},
}
MILLISECONDS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_count(text: str, positive: bool = True) -> int:
    """A whole number such as ``5000``."""
    noun = "a whole number"
    if not _COUNT.fullmatch(text.strip()):
        raise ValueError(f"expected {noun} such as 5000, not {text!r}")
    count, _ = _exact(text.strip())
    _check(count, 1, text, noun, positive, LARGEST, str(LARGEST))
    return count


def parse_size(text: str, positive: bool = True, unitless: bool = True) -> int:
    """Bytes, from ``1048576``, ``512KiB``, ``64MB`` or ``1.5GiB`` (a fraction of a byte is
    dropped). ``unitless=False`` refuses a bare number, where one is more likely a slip than
    a number of bytes (a memory limit of ``512``)."""
    noun = "a size"
    match = _SIZE.fullmatch(text.strip())
    if not match or (match["unit"] is None and not unitless):
        examples = "1048576, 512KiB or 64MB" if unitless else "512MB, 2GB or 1.5GiB"
        raise ValueError(f"expected {noun} such as {examples}, not {text!r}")
    numerator, denominator = _exact(match["amount"])
    numerator *= SIZE_UNITS[(match["unit"] or "b").lower()]
    # Whole bytes: half a byte is no byte.
    _check(numerator, denominator, text, noun, positive, LARGEST, f"{LARGEST} bytes", whole=True)
    return numerator // denominator


def parse_seconds(text: str, positive: bool = True, unitless: bool = True) -> float:
    """Seconds, from ``30`` (a bare number is seconds) or ``500ms``, ``90s``, ``5m``, ``24h``,
    ``7d``, ``2w``; ``unitless=False`` asks for the unit."""
    noun = "a duration"
    match = _DURATION.fullmatch(text.strip())
    if not match or (match["unit"] is None and not unitless):
        examples = "30 (seconds), 90s, 5m or 24h" if unitless else "30m, 24h or 7d"
        raise ValueError(f"expected {noun} such as {examples}, not {text!r}")
    numerator, denominator = _exact(match["amount"])
    numerator *= MILLISECONDS[match["unit"] or "s"]
    denominator *= 1000
    _check(numerator, denominator, text, noun, positive, LONGEST_S, f"{LONGEST_S // 86_400} days")
    return numerator / denominator


def _exact(amount: str) -> tuple[int, int]:
    """``amount`` (``12``, ``-1.25``) as numerator and denominator; one with more than
    :data:`DIGITS` whole digits as a number beyond every limit (of its sign)."""
    sign = -1 if amount.startswith("-") else 1
    whole, _, fraction = amount.lstrip("+-").partition(".")
    whole, fraction = whole.lstrip("0"), fraction[:DIGITS]
    if len(whole) > DIGITS:
        return sign * 10**DIGITS, 1
    return sign * int(whole + fraction or "0"), 10 ** len(fraction)


def _check(
    numerator: int,
    denominator: int,
    text: str,
    noun: str,
    positive: bool,
    largest: int,
    largest_text: str,
    whole: bool = False,
) -> None:
    """Refuse a negative amount, zero where it must be positive (``whole``: zero once
    rounded down), and one beyond ``largest``."""
    zero = numerator // denominator == 0 if whole else numerator == 0
    if numerator < 0 or (positive and zero):
        floor = "greater than 0" if positive else "of 0 or more"
        raise ValueError(f"expected {noun} {floor}, not {text!r}")
    if numerator > largest * denominator:
        raise ValueError(f"expected {noun} of at most {largest_text}, not {text!r}")
