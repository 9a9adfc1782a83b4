"""The consumer parses *plain* JSON with msgspec and writes its canonical bytes with msgspec's
encoder without walking it (issue #18: CPU per ingested event). It must give exactly what the
json path gives: the same parsed values, the same refusals with the same reasons, and
canonical bytes equal to ``canonical_bytes(event)`` byte for byte."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance_ledger.schemas import jsonsafe
from provenance_ledger.schemas.codec import (
    DecodedEvent,
    DecodeError,
    KafkaRecord,
    canonical_bytes,
    decode_record,
    validate_event,
)
from provenance_ledger.schemas.decoded import _ENCODER, _dumps
from tests.support import eventmix, hostile_events
from tests.support.examples import example

HOSTILE_TEXTS = [
    b'{"a":1e999}',
    b'{"a":-1e999}',
    b'{"a":NaN}',
    b'{"a":Infinity}',
    b'{"a":123456789012345678901234567890}',
    b'{"a":18446744073709551616}',
    b'{"a":9223372036854775807}',
    b'{"a":"' + b"9" * 19 + b'"}',
    b'{"a":' + b"7" * 5000 + b"}",
    b'{"a":"\\udfff"}',
    b'{"a":"\\ud800\\udc00"}',
    b'{"a":1,"a":2,"b":3}',
    b'\xef\xbb\xbf{"a":1}',
    b'{"a":"x\x01"}',
    b'{"a":"\xff"}',
    b'{"a":"\xed\xa0\x80"}',
    b'{"a":"\xc0\xaf"}',
    b'{"a":01}',
    b'{"a":1.}',
    b'{"a":.5}',
    b'{"a":+1}',
    b'{"a":-}',
    b'{"a":0x10}',
    b"[1,]",
    b'{"a":1,}',
    b"{'a':1}",
    b'{"a":true}x',
    b'{"a":1}{"b":2}',
    b'{"\\u0000":1,"\\u2028":"\\u2029"}',
    b'{"a":-0}',
    b'{"a":-0.0}',
    b'{"a":1E2}',
    b'  {"a":[1,2,{"b":"c"}]}\n\t\r ',
    b'{"a":null}',
    b'{"a":"null"}',
    b'{"a":tru}',
    b'{"a":"\\x"}',
    b'{"a":"\\u12"}',
    b'\x00{"a":1}',
    b'{"a":1}\x00',
    b'{"a":"\t"}',
    b'{"a"\x0c:1}',
    b'{"a":\xa01}',
    b'"just a string"',
    b"12",
    b"",
    b"[" * 64 + b"]" * 64,
    b"[" * 65 + b"]" * 65,
    b'{"a":"' + b"[" * 70 + b'"}',
]


def _typed(value: Any) -> Any:
    """``value`` with every leaf tagged by its type: 1, 1.0 and True compare equal."""
    if type(value) is dict:
        return {key: _typed(item) for key, item in value.items()}
    if type(value) is list:
        return [_typed(item) for item in value]
    return (type(value).__name__, repr(value))


def _json_loads(value: bytes) -> Any:
    try:
        return _typed(jsonsafe.loads(value))
    except jsonsafe.JsonProblem as exc:
        return ("refused", exc.code)


def _check_plain(value: bytes, limit: int = jsonsafe.MAX_DEPTH) -> bool:
    """loads_plain gives exactly json's value, and only plain ones; True if it took the text."""
    parsed = jsonsafe.loads_plain(value, limit)
    if parsed is jsonsafe.UNSURE:
        return False
    assert _typed(parsed) == _json_loads(value), value
    assert jsonsafe.depth_problem(parsed, limit) is None
    text = json.dumps(parsed)
    assert "null" not in text and all(type(leaf) is not float for leaf in _leaves(parsed)), value
    assert all(abs(leaf) < 2**63 for leaf in _leaves(parsed) if type(leaf) is int)
    return True


def _leaves(value: Any) -> list[Any]:
    if type(value) is dict:
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if type(value) is list:
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def test_hostile_texts_parse_as_json_parses_them_or_are_left_to_it() -> None:
    taken = [value for value in HOSTILE_TEXTS if _check_plain(value)]
    # Plain texts are taken; anything json refuses or reads otherwise is not.
    assert b'{"a":-0}' in taken and b'{"a":1,"a":2,"b":3}' in taken
    assert b'{"a":1e999}' not in taken and b'{"a":18446744073709551616}' not in taken
    assert b'{"a":"\\udfff"}' not in taken and b"[" * 65 + b"]" * 65 not in taken


def test_mutated_events_parse_as_json_parses_them_or_are_left_to_it() -> None:
    """Random byte edits of real events: whatever msgspec takes, json reads the same."""
    rng = random.Random(18)
    alphabet = b'{}[]",:.-+eE0123456789 \\/untrfalsx\x00\x1f\x7f\xc3\xa9\xe2\x80\xa8\xff'
    originals = [bytes(value) for value in _event_values(60)]
    taken = 0
    for _ in range(20_000):
        value = bytearray(rng.choice(originals))
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(value))
            edit = rng.randrange(3)
            if edit == 0:
                value[at] = rng.choice(alphabet)
            elif edit == 1:
                value.insert(at, rng.choice(alphabet))
            else:
                del value[at]
        taken += _check_plain(bytes(value))
    assert taken > 1000  # the comparison ran on many texts msgspec took


def _event_values(count: int) -> list[bytes]:
    return [original.canonical for original in eventmix.events(count, seed=3)]


PLAIN_LEAVES = (
    st.booleans() | st.integers(-(2**62), 2**62) | st.text(max_size=12) | st.just("\u2028\x00\x7f")
)
PLAIN_VALUES = st.recursive(
    PLAIN_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=25,
)


@settings(max_examples=500, deadline=None)
@given(PLAIN_VALUES)
def test_msgspec_writes_plain_values_as_json_dumps_does(value: Any) -> None:
    try:
        expected = _dumps({"v": value})
    except UnicodeEncodeError:  # a lone surrogate: neither writes it
        return
    assert _ENCODER.encode({"v": value}) == expected


def test_keys_sort_by_code_point_as_json_sorts_them() -> None:
    keys = ["b", "a", "B", "\u00e9", "\u2028", "\U0001f600", "\uffff", "a\x00", "", "Z1", "é"]
    value = {key: index for index, key in enumerate(keys)}
    assert _ENCODER.encode(value) == _dumps(value)


def _record(value: bytes, headers: tuple[tuple[str, bytes], ...] = ()) -> KafkaRecord:
    return KafkaRecord("provenance.events", 0, 0, None, value, headers)


def _json_path(value: bytes) -> DecodedEvent | DecodeError:
    """What the consumer gave before msgspec: json's parse, then the walk-first validation."""
    try:
        obj = jsonsafe.loads(value)
    except jsonsafe.JsonProblem as exc:
        return DecodeError(exc.code, exc.detail)
    return validate_event(obj)


def _same(value: bytes) -> DecodedEvent | DecodeError:
    fast, slow = decode_record(_record(value)), _json_path(value)
    if isinstance(slow, DecodeError):
        assert fast == slow, value
    else:
        assert isinstance(fast, DecodedEvent), (value, fast)
        assert fast.canonical == slow.canonical == canonical_bytes(fast.event)
        assert fast.event == slow.event and fast.fact == slow.fact
    return fast


def test_the_event_mix_decodes_as_on_the_json_path() -> None:
    values = _event_values(400)
    for value in values:
        assert isinstance(_same(value), DecodedEvent)
    plain = [value for value in values if jsonsafe.loads_plain(value) is not jsonsafe.UNSURE]
    assert len(plain) > 390  # the msgspec path is the one compared


def test_hostile_structured_records_decode_as_on_the_json_path() -> None:
    for hostile in hostile_events.structured_records():
        result = _same(hostile.value)
        assert isinstance(result, DecodedEvent) or result.code == hostile.reason, hostile.name


def test_refusals_are_the_json_paths_on_plain_events() -> None:
    """Events msgspec parses (plain) that validation refuses: the same reason and detail."""
    base = example("dev.provledger.config.changed.v1")
    cases = [
        {**base, "time": "2026-11-01T10:30:00"},
        {**base, "time": "9999-12-31T23:59:59-01:00"},
        {**base, "specversion": "0.3"},
        {**base, "data": {**base["data"], "kind": "secret", "to": "hunter2"}},
        {**base, "data": {**base["data"], "target": {}}},
        {**base, "data": {**base["data"], "fleet_percent": "50"}},
        {**base, "data": {**base["data"], "fleet_percent": 500}},
        {**base, "type": "dev.provledger.nothing.v1"},
        {key: value for key, value in base.items() if key != "id"},
        {**base, "data": [1, 2]},
    ]
    for case in cases:
        value = json.dumps(case).encode()
        assert jsonsafe.loads_plain(value) is not jsonsafe.UNSURE
        assert isinstance(_same(value), DecodeError), case


def test_a_record_with_a_float_a_null_or_a_long_number_takes_the_json_path() -> None:
    base = example("dev.provledger.service.deployed.v1")
    for data in (
        {**base["data"], "fleet_percent": 50.0},
        {**base["data"], "fleet_percent": 12.5},
        {**base["data"], "region": None},
        {**base["data"], "x": 1e16, "y": 1e-5},
        {**base["data"], "x": 2**64},
        {**base["data"], "x": 2**1100},
    ):
        value = json.dumps({**base, "data": data}).encode()
        assert jsonsafe.loads_plain(value) is jsonsafe.UNSURE
        _same(value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extra=st.dictionaries(st.from_regex(r"\Ax[a-z]{0,6}\Z"), PLAIN_VALUES, max_size=4))
def test_any_plain_event_decodes_as_on_the_json_path(extra: dict[str, Any]) -> None:
    obj = example("dev.provledger.incident.resolved.v1", **extra)
    try:
        value = json.dumps(obj, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return
    _same(value)
    _same(json.dumps(obj, indent=1).encode())
