"""Avro data the consumer reads as *plain* (no ``_extra``, no float but whole ones, not too deep)
is not walked
and its canonical bytes come from msgspec's encoder (issue #18: CPU per ingested event). It
must give exactly what the walk gives: the same events and facts, the same refusals with the
same reasons, and canonical bytes equal to ``canonical_bytes(event)`` byte for byte."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from provenance_ledger.schemas import avro, jsonsafe
from provenance_ledger.schemas.codec import (
    DecodedEvent,
    DecodeError,
    KafkaRecord,
    canonical_bytes,
    decode_record,
)
from tests.support import eventmix, hostile_events
from tests.support.examples import decoded, example, record

DEPLOYED = "dev.provledger.service.deployed.v1"
AUTHORED = "dev.provledger.change.authored.v1"


def _walked(rec: KafkaRecord) -> DecodedEvent | DecodeError:
    """What the consumer gave before: every Avro datum through _from_avro, then the walk."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(avro, "_json_shaped", lambda datum: (avro._from_avro(datum), False))
        return decode_record(rec)


def _same(rec: KafkaRecord) -> DecodedEvent | DecodeError:
    fast, slow = decode_record(rec), _walked(rec)
    if isinstance(slow, DecodeError):
        assert fast == slow, rec
    else:
        assert isinstance(fast, DecodedEvent), (rec, fast)
        assert fast.canonical == slow.canonical == canonical_bytes(fast.event)
        assert fast.event == slow.event and fast.fact == slow.fact
    return fast


def _plain(rec: KafkaRecord) -> bool:
    value = rec.value
    assert value is not None
    return avro.read_data(value, rec.header("ce_type") or "")[1]


def _avro_record(event: dict[str, Any]) -> KafkaRecord:
    return record(*avro.binary_message(decoded(event)))


def _with_data(event_type: str, data: dict[str, Any]) -> KafkaRecord:
    """An Avro record of ``event_type`` whose data is ``data`` as is (unvalidated)."""
    headers, _ = avro.binary_message(decoded(example(event_type)))
    writer = avro.default_registry().current[event_type]
    return record(headers, avro.encode_with(writer, data))


def test_the_event_mix_decodes_as_on_the_walked_path() -> None:
    records = [record(*avro.binary_message(event)) for event in eventmix.events(400, seed=5)]
    for rec in records:
        assert isinstance(_same(rec), DecodedEvent)
    # Deployments carry fleet_percent, an Avro double, whole in the mix: plain too.
    assert any(rec.header("ce_type") == DEPLOYED for rec in records)
    assert all(_plain(rec) for rec in records)


def test_every_writer_schema_reads_as_on_the_walked_path() -> None:
    """Each type's example written by each writer schema the registry knows (enums, booleans,
    longs, nested records and arrays); without a float but whole ones (fleet_percent is a
    double or, in other types, an unknown field) and without _extra the data is read as
    plain."""
    for writer in avro.default_registry().by_fingerprint.values():
        event = example(writer.event_type)
        headers, _ = avro.binary_message(decoded(event))
        data = {key: value for key, value in event["data"].items() if type(value) is not float}
        for value in (data, {**data, "fleet_percent": 25.0}, {**data, "fleet_percent": 12.5}):
            rec = record(headers, avro.encode_with(writer, value))
            assert isinstance(_same(rec), DecodedEvent), writer.path
            named = {field["name"] for field in writer.parsed["fields"]}
            known = set(value) <= named  # else _extra carries the others
            whole = value.get("fleet_percent") != 12.5
            assert _plain(rec) == (known and whole), writer.path


def test_hostile_binary_records_decode_as_on_the_walked_path() -> None:
    for hostile in hostile_events.binary_records():
        result = _same(record(hostile.headers, hostile.value))
        assert isinstance(result, DecodeError) and result.code == hostile.reason, hostile.name


def test_records_the_walk_would_change_take_it() -> None:
    deployed = {**example(DEPLOYED)["data"], "fleet_percent": None}
    authored = example(AUTHORED)["data"]
    assert _plain(_with_data(DEPLOYED, deployed)) and _plain(_with_data(AUTHORED, authored))
    assert _plain(_with_data(DEPLOYED, {**deployed, "fleet_percent": 50.0}))
    for event_type, data in (
        (DEPLOYED, {**deployed, "fleet_percent": 12.5}),
        (AUTHORED, {**authored, "x": None, "y": [1, None]}),
        (AUTHORED, {**authored, "x": 1e16, "y": 1e-5}),
        (AUTHORED, {**authored, "x": 2**64}),
        (AUTHORED, {**authored, "author": {"id": "a", "x": {"a": [[[{"b": 0.5}]]]}}}),
        (AUTHORED, {**authored, "x": "\u2028"}),
    ):
        rec = _with_data(event_type, data)
        assert not _plain(rec), data
        assert isinstance(_same(rec), DecodedEvent), data


def test_refusals_on_plain_records_are_the_walked_paths() -> None:
    """Avro bodies read as plain that validation refuses: the same reason and detail."""
    base = example(AUTHORED)["data"]
    cases = [
        {**base, "commit": "not-a-sha"},
        {**base, "repo": "norepo"},
        {**base, "lines_added": -1},
        {**base, "author": {"id": ""}},
        {**base, "ai": [{"tool": "", "lines": 3}]},
        {**base, "ai": [{"tool": "x", "lines": -(2**63)}]},
    ]
    for data in cases:
        rec = _with_data(AUTHORED, data)
        assert _plain(rec), data
        assert isinstance(_same(rec), DecodeError), data
    headers, value = avro.binary_message(decoded(example(AUTHORED)))
    for name, header in [
        ("ce_time", b"2026-11-01T10:30:00"),
        ("ce_time", b"9999-12-31T23:59:59-01:00"),
        ("ce_specversion", b"0.3"),
        ("ce_type", DEPLOYED.encode()),
    ]:
        changed = [(key, header if key == name else raw) for key, raw in headers]
        assert isinstance(_same(record(changed, value)), DecodeError), (name, header)


def test_broken_bodies_are_refused_as_before() -> None:
    headers, value = avro.binary_message(decoded(example(AUTHORED)))
    writer = avro.default_registry().current[AUTHORED]
    # A string of invalid UTF-8 (a lone surrogate's bytes): fastavro refuses it.
    body = io.BytesIO()
    named = writer.parsed.get("__named_schemas", {})
    datum = avro._to_avro(writer.parsed, example(AUTHORED)["data"], named)
    fastavro.schemaless_writer(body, writer.parsed, {**datum, "message": "QQQ"})
    assert body.getvalue().count(b"QQQ") == 1
    surrogate = body.getvalue().replace(b"QQQ", b"\xed\xa0\x80")
    for broken in (
        value[:9],
        value[:-3],
        value + b"\x00",
        b"\x00" + value[1:],
        value[:10] + surrogate,
        value[:10] + b"\xff" * 40,
    ):
        result = _same(record(headers, broken))
        assert isinstance(result, DecodeError)


def _nested(levels: int) -> Any:
    datum: Any = "leaf"
    for _ in range(levels):
        datum = [datum]
    return datum


def test_a_datum_is_plain_only_within_the_walks_depth() -> None:
    """The data is the event's second level; the walk refuses containers below level 64."""
    for levels in (60, 62, 63, 64, 80):
        datum = {"service": "x", "deep": _nested(levels)}
        data, plain = avro._json_shaped(datum)
        assert data == avro._from_avro(datum)
        assert plain == (jsonsafe.depth_problem({"data": datum}) is None), levels
    assert avro._json_shaped({"a": _nested(62)})[1] and not avro._json_shaped({"a": _nested(63)})[1]


def test_only_strings_integers_booleans_whole_floats_records_and_arrays_are_plain() -> None:
    for leaf in (1.5, 2.0**53, -(2.0**53), float("nan"), float("inf"), b"bytes", None, object()):
        assert not avro._json_shaped({"a": [leaf]})[1], leaf
    # Whole floats are written as the walk writes them: as integers.
    whole = {"a": [2.0, -0.0, 2.0**53 - 1], "b": 100.0}
    assert avro._json_shaped(whole) == ({"a": [2, 0, 2**53 - 1], "b": 100}, True)
    assert not avro._json_shaped({"a": {"_extra": "{}"}})[1]
    datum = {"a": [True, -(2**63), 2**63 - 1, "s", {"_extra": None, "b": None}], "c": None}
    assert avro._json_shaped(datum) == ({"a": [True, -(2**63), 2**63 - 1, "s", {}]}, True)


TEXT = st.text(max_size=20) | st.sampled_from(["\u2028\u2029", "\x00\x1f\x7f", '\U0001f600é\\"'])
LONG = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message=TEXT,
    files=st.lists(TEXT, max_size=4),
    lines=LONG,
    name=st.none() | TEXT,
    ai=st.lists(
        st.fixed_dictionaries(
            {"tool": TEXT, "lines": st.none() | LONG, "mode": st.sampled_from(["chat", "agent"])}
        ),
        max_size=3,
    ),
    subject=TEXT,
)
def test_any_generated_record_decodes_as_on_the_walked_path(
    message: str,
    files: list[str],
    lines: int,
    name: str | None,
    ai: list[dict[str, Any]],
    subject: str,
) -> None:
    data = {
        **example(AUTHORED)["data"],
        "message": message,
        "files": files,
        "lines_added": lines,
        "author": {"id": "dev@acme.example", "name": name},
        "ai": ai,
    }
    try:
        rec = _with_data(AUTHORED, data)
    except UnicodeEncodeError:  # a lone surrogate: no emitter can write it
        assume(False)
        return
    # The first of repeated headers counts.
    headers = [("ce_subject", subject.encode("utf-8", "surrogatepass")), *rec.headers]
    result = _same(
        KafkaRecord(rec.topic, rec.partition, rec.offset, rec.key, rec.value, tuple(headers))
    )
    assert _plain(rec)
    if lines >= 0 and all(item["tool"] and (item["lines"] or 0) >= 0 for item in ai):
        assert isinstance(result, DecodedEvent), result


@settings(max_examples=300, deadline=None)
@given(
    fleet=st.floats(allow_nan=False, allow_infinity=False, width=64)
    | st.integers(-(2**60), 2**60).map(float)
    | st.sampled_from([2.0**53, 2.0**53 - 1, -0.0, 1e16, 1e21, 5e-324])
)
def test_any_fleet_percent_decodes_as_on_the_walked_path(fleet: float) -> None:
    """The float every deployment carries: a whole one is read as plain (and written as an
    integer, as the walk writes it), any other takes the walk; both give the walk's result,
    refusals (outside 0 to 100) included."""
    rec = _with_data(DEPLOYED, {**example(DEPLOYED)["data"], "fleet_percent": fleet})
    result = _same(rec)
    assert _plain(rec) == (fleet.is_integer() and abs(fleet) < 2**53)
    assert isinstance(result, DecodedEvent) == (0 <= fleet <= 100), (fleet, result)
