"""What a dead letter keeps of a bad record, on the real broker and DuckDB file: the source, id
and type it names in either CloudEvents mode, and never a secret's values (the log holds a
refused record by the digest of its value)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.ledger.verify import verify
from provenance_ledger.schemas.codec import STRUCTURED
from tests.support.ledgerproc import ConsumerThread, produce
from tests.support.waiting import wait_until

EXAMPLE = (
    Path(__file__).parents[2] / "schemas" / "examples" / "dev.provledger.config.changed.v1.json"
)
OLD_SECRET, NEW_SECRET = "s3cr3t-old-Zq81x", "s3cr3t-new-Wp02y"


def _config_change(event_id: str, **data: Any) -> dict[str, Any]:
    event = copy.deepcopy(json.loads(EXAMPLE.read_text()))
    event["id"] = event_id
    event["data"].update(data)
    return event


def _structured(event: dict[str, Any]) -> tuple[bytes, list, bytes]:
    return (b"k", [("content-type", STRUCTURED.encode())], json.dumps(event).encode())


def _binary(event: dict[str, Any]) -> tuple[bytes, list, bytes]:
    attributes = {name: value for name, value in event.items() if name != "data"}
    headers = [(f"ce_{name}", str(value).encode()) for name, value in attributes.items()]
    headers.append(("content-type", b"application/json"))
    return (b"k", headers, json.dumps(event["data"]).encode())


def _ingest(settings: Settings, messages: list) -> Ledger:
    ledger = Ledger.open(settings.db_path, migrate=True)
    consumer = ConsumerThread(ledger, settings)
    produce(settings.kafka_bootstrap, settings.topic, messages)
    wait_until(lambda: sum(ledger.counts()) >= len(messages), 60, "every record")
    consumer.stop()
    return ledger


def _named(ledger: Ledger) -> dict[int, tuple]:
    rows = ledger.cursor().execute("SELECT kafka_offset, source, id, type FROM dead_letters")
    return {row[0]: row[1:] for row in rows.fetchall()}


def test_a_bad_record_is_named_in_either_mode(settings: Settings) -> None:
    no_target = _config_change("bad-structured", target=None)
    long_id = _config_change("x" * 5000, target=None)
    numeric_type = {**_config_change("bad-type"), "type": 7}
    messages = [
        _structured(no_target),
        _structured(long_id),
        _structured(numeric_type),
        _binary(_config_change("bad-binary", target=None)),
        (b"k", [("content-type", STRUCTURED.encode())], b"[1, 2]"),
        _structured(_config_change("good-1")),
    ]
    ledger = _ingest(settings, messages)
    try:
        assert ledger.counts() == (1, 5)
        named = _named(ledger)
        source, kind = "ci/github/acme/platform-config", "dev.provledger.config.changed.v1"
        assert named[0] == (source, "bad-structured", kind)
        assert named[1] == (source, "x" * 512, kind)
        assert named[2] == (source, "bad-type", None)
        assert named[3] == (source, "bad-binary", kind)
        assert named[4] == (None, None, None)
    finally:
        ledger.close()


def test_a_refused_secret_change_leaves_its_values_nowhere_in_the_ledger(
    settings: Settings,
) -> None:
    secret = {"kind": "secret", "from": OLD_SECRET, "to": NEW_SECRET}
    messages = [
        _structured(_config_change("secret-structured", **secret)),
        _binary(_config_change("secret-binary", **secret)),
        _structured(_config_change("config-bad", target=None)),
    ]
    ledger = _ingest(settings, messages)
    try:
        assert ledger.counts() == (0, 3)
        rows = ledger.cursor().execute(
            "SELECT id, raw_prefix IS NULL, detail, raw_size FROM dead_letters ORDER BY id"
        )
        kept = {row[0]: row[1:] for row in rows.fetchall()}
        for event_id in ("secret-binary", "secret-structured"):
            no_prefix, detail, raw_size = kept[event_id]
            assert no_prefix and "no raw_prefix kept" in detail and raw_size > 0
        # Any other refusal keeps its raw prefix as before.
        assert kept["config-bad"][0] is False
        everything = ledger.cursor().execute(
            "SELECT string_agg(CAST(COLUMNS(*) AS VARCHAR), '|') FROM dead_letters"
        )
        stored = " ".join(str(value) for value in everything.fetchone())
        events = ledger.cursor().execute("SELECT count(*) FROM events").fetchone()
        assert events == (0,)
        assert OLD_SECRET not in stored and NEW_SECRET not in stored
        # In the log all the same, by the digest of their values: it verifies.
        outcomes = ledger.cursor().execute("SELECT outcome FROM log_records").fetchall()
        assert outcomes == [("dead_letter",)] * 3
        report = verify(ledger.cursor(), settings.topic)
        assert report.ok, report.problem
    finally:
        ledger.close()
    file_bytes = settings.db_path.read_bytes()
    assert OLD_SECRET.encode() not in file_bytes and NEW_SECRET.encode() not in file_bytes
