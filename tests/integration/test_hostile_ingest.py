"""One event must never stop ingestion (issue 12, item 1), on the real broker and real DuckDB.

Valid events in both modes around every reproduced crasher: each valid event is stored once,
each hostile record is a dead letter with its reason, the consumer thread stays alive, and
after a restart ingestion goes on. And the writer's own per-record failures stay per record.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from provenance_ledger.ledger.batch import Incoming
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger, LedgerError
from provenance_ledger.ledger.verify import verify
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix, hostile_events
from tests.support.ledgerproc import ConsumerThread, duplicates, produce
from tests.support.waiting import wait_until

VALID_PER_ROUND = 240


def _interleaved(seed: int) -> tuple[list, list[hostile_events.Hostile]]:
    """Valid events, half JSON and half Avro, with every hostile record spread among them."""
    hostile = hostile_events.records()
    valid = [
        *eventmix.messages(VALID_PER_ROUND // 2, fmt="json", seed=seed),
        *eventmix.messages(VALID_PER_ROUND // 2, fmt="avro", seed=seed + 1000),
    ]
    step = len(valid) // len(hostile)
    messages = []
    for index, chunk_start in enumerate(range(0, len(valid), step)):
        messages.extend(valid[chunk_start : chunk_start + step])
        if index < len(hostile):
            bad = hostile[index]
            messages.append((b"hostile", bad.headers, bad.value))
    return messages, hostile


def _dead_letters(ledger: Ledger) -> list[tuple[str, str]]:
    return (
        ledger.cursor().execute("SELECT reason, detail FROM dead_letters ORDER BY seq").fetchall()
    )


def test_hostile_records_among_valid_ones_never_stop_ingestion(settings: Settings) -> None:
    first, hostile = _interleaved(seed=21)
    second, _ = _interleaved(seed=22)
    expected_reasons = sorted(item.reason for item in hostile)
    ledger = Ledger.open(settings.db_path, migrate=True)
    try:
        consumer = ConsumerThread(ledger, settings)
        produce(settings.kafka_bootstrap, settings.topic, first)
        wait_until(lambda: sum(ledger.counts()) >= len(first), 90, "every record of round 1")
        assert consumer.thread.is_alive() and consumer.consumer.status.running
        assert consumer.error is None
        consumer.stop()
        assert ledger.counts() == (VALID_PER_ROUND, len(hostile))
        reasons = sorted(reason for reason, _ in _dead_letters(ledger))
        assert reasons == expected_reasons
        # Restarted: the next round goes in as well (nothing was left wedged).
        consumer = ConsumerThread(ledger, settings)
        produce(settings.kafka_bootstrap, settings.topic, second)
        wait_until(
            lambda: sum(ledger.counts()) >= len(first) + len(second), 90, "round 2 after restart"
        )
        assert consumer.thread.is_alive() and consumer.consumer.status.running
        consumer.stop()
        assert ledger.counts() == (2 * VALID_PER_ROUND, 2 * len(hostile))
        assert duplicates(ledger) == 0
        assert sorted(reason for reason, _ in _dead_letters(ledger)) == sorted(2 * expected_reasons)
        assert ledger.committed_offsets(settings.topic) == {0: len(first) + len(second)}
        # Every record is in the log, each hostile one as a dead letter, and it verifies.
        report = verify(ledger.cursor(), settings.topic)
        assert report.ok, report.problem
        assert report.size == len(first) + len(second)
        assert _outcomes(ledger) == {
            "accepted": 2 * VALID_PER_ROUND,
            "dead_letter": 2 * len(hostile),
        }
    finally:
        ledger.close()


def _outcomes(ledger: Ledger) -> dict[str, int]:
    rows = ledger.cursor().execute("SELECT outcome, count(*) FROM log_records GROUP BY ALL")
    return dict(rows.fetchall())


def test_a_record_failing_inside_the_writer_is_isolated(tmp_path: Path) -> None:
    good = list(eventmix.events(20, seed=23))
    bad = hostile_events.unstorable_event("bad-1")
    offsets = itertools.count()
    # The bad event has no canonical bytes to carry; the good ones carry theirs, as JSON would.
    incoming = [
        Incoming(KafkaRecord("t", 0, next(offsets), None, value), decoded)
        for decoded, value in [
            *((decoded, decoded.canonical) for decoded in good[:10]),
            (bad, b"{}"),
            *((decoded, decoded.canonical) for decoded in good[10:]),
        ]
    ]
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        result = ledger.write_batch(incoming, [], {("t", 0): len(incoming)})
        assert result.accepted == 20
        assert ledger.counts() == (20, 1)
        reason, detail, source, kafka_offset = (
            ledger.cursor()
            .execute("SELECT reason, detail, source, kafka_offset FROM dead_letters")
            .fetchone()
        )
        assert (reason, source, kafka_offset) == ("internal_error", "test/writer", 10)
        assert "UnicodeEncodeError" in detail and "surrogates not allowed" in detail
        assert ledger.committed_offsets("t") == {0: 21}
        # The failed record is in the log all the same, in its place, and the log verifies.
        assert _outcomes(ledger) == {"accepted": 20, "dead_letter": 1}
        failed = "SELECT idx, outcome FROM log_records WHERE kafka_offset = 10"
        assert ledger.cursor().execute(failed).fetchall() == [(10, "dead_letter")]
        report = verify(ledger.cursor(), "t")
        assert report.ok, report.problem
    finally:
        ledger.close()


def test_a_failing_transaction_still_raises_and_commits_nothing(tmp_path: Path) -> None:
    good = list(eventmix.events(5, seed=24))
    incoming = [
        Incoming(KafkaRecord("t", 0, at, None, b"{}"), decoded) for at, decoded in enumerate(good)
    ]
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        # The whole transaction fails (as on a full disk): not a per-record problem.
        ledger.cursor().execute("DROP TABLE kafka_offset_marks")
        try:
            ledger.write_batch(incoming, [], {("t", 0): len(incoming)})
        except LedgerError as exc:
            assert "Nothing of this batch was committed" in str(exc)
        else:
            raise AssertionError("a failed transaction must raise LedgerError")
        assert ledger.counts() == (0, 0)
    finally:
        ledger.close()
