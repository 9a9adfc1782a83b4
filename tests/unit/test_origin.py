"""The origin MAC binds the origin to the exact record: any change to the origin, the value
(hence the event's source and id) or the other headers makes the record's origin ``kafka``."""

from __future__ import annotations

import json
import os
import stat

import pytest

from provenance_ledger.ledger import origin
from provenance_ledger.ledger.batch import decode_batch
from provenance_ledger.ledger.settings import Secrets, Settings
from provenance_ledger.schemas.codec import STRUCTURED, KafkaRecord

KEY = origin.OriginKey(b"k" * 32)
EVENT = {
    "specversion": "1.0",
    "id": "r-1",
    "source": "ci/github/acme/shop",
    "type": "dev.provledger.change.reviewed.v1",
    "time": "2026-11-20T12:00:00+00:00",
    "data": {
        "repo": "acme/shop",
        "commit": "a" * 40,
        "reviewer": {"id": "sam@acme.example"},
        "decision": "approved",
    },
}


def record(headers, value: bytes) -> KafkaRecord:
    return KafkaRecord("provenance.events", 0, 7, None, value, tuple(headers))


def signed(event=EVENT, who: str = "webhook:github"):
    value = json.dumps(event).encode()
    return KEY.sign(who, [("content-type", STRUCTURED.encode())], value), value


def test_a_signed_record_has_its_origin():
    headers, value = signed()
    assert KEY.origin_of(record(headers, value)) == "webhook:github"


def test_no_origin_headers_means_kafka():
    value = json.dumps(EVENT).encode()
    assert KEY.origin_of(record([("content-type", STRUCTURED.encode())], value)) == "kafka"


@pytest.mark.parametrize("field", ["id", "source"])
def test_changing_the_events_identity_breaks_the_mac(field):
    headers, _ = signed()
    changed = json.dumps({**EVENT, field: EVENT[field] + "x"}).encode()
    assert KEY.origin_of(record(headers, changed)) == "kafka"


def test_changing_the_value_breaks_the_mac():
    headers, value = signed()
    assert KEY.origin_of(record(headers, value.replace(b"approved", b"commented"))) == "kafka"


def test_changing_the_origin_breaks_the_mac():
    headers, value = signed()
    forged = [
        (name, b"api-token:ci" if name == origin.ORIGIN_HEADER else raw) for name, raw in headers
    ]
    assert KEY.origin_of(record(forged, value)) == "kafka"


def test_changing_another_header_breaks_the_mac():
    headers, value = signed()
    assert KEY.origin_of(record([("ce_id", b"other"), *headers], value)) == "kafka"


def test_another_key_does_not_verify():
    headers, value = signed()
    assert origin.OriginKey(b"o" * 32).origin_of(record(headers, value)) == "kafka"


def test_a_forged_mac_is_kafka():
    value = json.dumps(EVENT).encode()
    forged = [(origin.ORIGIN_HEADER, b"webhook:github"), (origin.MAC_HEADER, b"0" * 64)]
    assert KEY.origin_of(record(forged, value)) == "kafka"


def test_decoding_gives_events_and_dead_letters_their_origin():
    headers, value = signed()
    bad_headers = KEY.sign("api-token:ci", [], b"not json")
    incoming, rejected = decode_batch(
        [record(headers, value), record(bad_headers, b"not json")], 1 << 20, KEY
    )
    assert [item.origin for item in incoming] == ["webhook:github"]
    assert [item.origin for item in rejected] == ["api-token:ci"]
    unsigned, _ = decode_batch([record(headers, value)], 1 << 20)
    assert unsigned[0].origin == "kafka"


def test_the_key_file_is_made_once_private_and_reused(tmp_path):
    settings = Settings(db_path=tmp_path / "ledger.duckdb")
    first = origin.load_key(settings)
    path = origin.key_file(settings.db_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    headers, value = signed()
    made = first.sign("webhook:github", [], value)
    assert origin.load_key(settings).origin_of(record(made, value)) == "webhook:github"
    assert headers != made


def test_the_setting_wins_over_the_key_file(tmp_path):
    settings = Settings(db_path=tmp_path / "l.duckdb", secrets=Secrets(origin_key="s" * 32))
    value = json.dumps(EVENT).encode()
    made = origin.OriginKey(b"s" * 32).sign("api-token:ci", [], value)
    assert origin.load_key(settings).origin_of(record(made, value)) == "api-token:ci"
    assert not origin.key_file(settings.db_path).exists()
    assert "s" * 32 not in repr(settings)


def test_trusted_origins_match_globs():
    assert origin.trusted("kafka", None)
    assert origin.trusted("webhook:github", ["webhook:*"])
    assert origin.trusted("api-token:ci-reviews", ["webhook:*", "api-token:ci-reviews"])
    assert not origin.trusted("kafka", ["webhook:*"])
    assert not origin.trusted("api-token:other", ["api-token:ci-reviews"])
    assert not origin.trusted(None, ["*"])
