"""The one parser of numbers, sizes and durations (ledger/units.py) every setting and the
API's lookback use: good values, units, and each way a value is refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from provenance_ledger.ledger import units
from provenance_ledger.query.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("1", 1),
        ("5000", 5000),
        (" 42 ", 42),
        ("+7", 7),
        ("0" * 40 + "1", 1),
        (str(2**63 - 1), 2**63 - 1),
    ],
)
def test_counts(text, count):
    assert units.parse_count(text) == count


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1_048_576),
        ("512B", 512),
        ("64MB", 64_000_000),
        ("64mb", 64_000_000),
        ("300 MB", 300_000_000),
        ("512KiB", 512 * 1024),
        ("1GiB", 1 << 30),
        ("1.5GiB", 3 << 29),
        ("2TB", 2 * 10**12),
        ("1TiB", 1 << 40),
        ("8388607TiB", (1 << 63) - (1 << 40)),
        ("1.0001KB", 1000),  # a fraction of a byte is dropped
    ],
)
def test_sizes(text, size):
    assert units.parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30.0),
        ("0.5", 0.5),
        ("500ms", 0.5),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1.5h", 5400.0),
        ("7d", 604_800.0),
        ("2w", 1_209_600.0),
        (" 24 h ", 86_400.0),
        ("1." + "0" * 5000, 1.0),  # digits beyond any precision a setting needs are dropped
    ],
)
def test_durations(text, seconds):
    assert units.parse_seconds(text) == seconds


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (units.parse_count, "many", "a whole number such as 5000, not 'many'"),
        (units.parse_count, "1.5", "a whole number such as 5000"),
        (units.parse_count, "1e3", "a whole number such as 5000"),
        (units.parse_count, "", "a whole number such as 5000"),
        (units.parse_size, "lots", "a size such as 1048576, 512KiB or 64MB, not 'lots'"),
        (units.parse_size, "64XB", "a size such as"),
        (units.parse_size, "GB", "a size such as"),
        (units.parse_size, "1GB'; DROP TABLE events; --", "a size such as"),
        (units.parse_seconds, "soon", "a duration such as 30 (seconds), 90s, 5m or 24h"),
        (units.parse_seconds, "5M", "a duration such as"),  # minutes are m; M is not a unit
        (units.parse_seconds, "inf", "a duration such as"),
        (units.parse_seconds, "nan", "a duration such as"),
    ],
)
def test_a_value_of_the_wrong_form_says_what_was_expected(parse, text, expected):
    with pytest.raises(ValueError, match="^expected " + re.escape(expected)):
        parse(text)


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (units.parse_count, "-1"),
        (units.parse_size, "-1"),
        (units.parse_size, "-64MB"),
        (units.parse_seconds, "-5"),
        (units.parse_seconds, "-5h"),
    ],
)
def test_negative_values_are_refused(parse, text):
    with pytest.raises(ValueError, match=f"greater than 0, not '{text}'"):
        parse(text)
    with pytest.raises(ValueError, match=f"of 0 or more, not '{text}'"):
        parse(text, positive=False)


@pytest.mark.parametrize(
    ("parse", "text"),
    [(units.parse_count, "0"), (units.parse_size, "0KiB"), (units.parse_size, "0.5B")],
)
def test_zero_only_where_allowed(parse, text):
    with pytest.raises(ValueError, match="greater than 0"):
        parse(text)
    assert parse(text, positive=False) == 0
    assert units.parse_seconds("0", positive=False) == 0.0


@pytest.mark.parametrize(
    ("parse", "text", "largest"),
    [
        (units.parse_count, str(2**63), "at most 9223372036854775807"),
        (units.parse_count, "9" * 5000, "at most 9223372036854775807"),
        (units.parse_size, "8388608TiB", "at most 9223372036854775807 bytes"),
        (units.parse_size, "99999999999TiB", "at most 9223372036854775807 bytes"),
        (units.parse_seconds, "3661d", "at most 3660 days"),
        (units.parse_seconds, "999999999999999999999w", "at most 3660 days"),
    ],
)
def test_overflow_is_refused(parse, text, largest):
    with pytest.raises(ValueError, match=largest):
        parse(text)


def test_a_unit_can_be_required():
    with pytest.raises(
        ValueError, match=re.escape("a size such as 512MB, 2GB or 1.5GiB, not '512'")
    ):
        units.parse_size("512", unitless=False)
    assert units.parse_size("512MB", unitless=False) == 512_000_000
    with pytest.raises(ValueError, match="a duration such as 30m, 24h or 7d, not '24'"):
        units.parse_seconds("24", unitless=False)


def test_the_lookback_is_the_same_parser_with_a_unit():
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("3660d") == timedelta(days=3660)
    for bad in ("24", "-5h", "0h", "999999999999d", "x"):
        with pytest.raises(ValueError, match="expected a duration"):
            parse_duration(bad)
