"""The consumer's pipeline on the real broker and a real DuckDB file: while the writer
commits a batch, the next one is already handed to it and the one after is gathered (and,
with the worker, prepared); a batch that fails to commit takes the batches queued behind it
down with it, unwritten.

The ledger's commit is held (or made to fail) by wrapping its two write methods; everything
else is what `provledger serve` runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import pytest

from provenance_ledger.ledger import consumer
from provenance_ledger.ledger.batch import next_offsets
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger, LedgerError
from tests.support import eventmix
from tests.support.ledgerproc import ConsumerThread, duplicates, produce
from tests.support.waiting import wait_until

BATCH = 100
EVENTS = 1_000


class HeldCommits:
    """Wraps a ledger's writes: the first waits for ``release`` and then runs, or fails
    when ``fail`` is set; the rest run as they are."""

    def __init__(self, ledger: Ledger, fail: bool = False) -> None:
        self.release = threading.Event()
        self.writes = 0
        self._fail = fail
        for name in ("write_batch", "write_prepared"):
            setattr(ledger, name, self._held(getattr(ledger, name)))

    def _held(self, write: Callable[..., object]) -> Callable[..., object]:
        def held(*args, **kwargs):
            self.writes += 1
            if self.writes == 1:
                assert self.release.wait(60), "the test never released the first commit"
                if self._fail:
                    raise LedgerError("injected: the first batch's transaction failed")
            return write(*args, **kwargs)

        return held


@pytest.fixture
def batches_gathered(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many records each batch the consumer gathered held, in order."""
    sizes: list[int] = []

    def counting(records):
        sizes.append(len(records))
        return next_offsets(records)

    monkeypatch.setattr(consumer, "next_offsets", counting)
    return sizes


@pytest.fixture(params=[True, False], ids=["worker", "no-worker"])
def pipeline_settings(
    request: pytest.FixtureRequest, settings: Settings, topic_factory: Callable[..., str]
) -> Settings:
    return replace(
        settings,
        topic=topic_factory(partitions=3),
        batch_max_records=BATCH,
        prepare_worker=request.param,
    )


def test_the_next_batches_are_gathered_and_prepared_while_one_commits(
    pipeline_settings: Settings, batches_gathered: list[int]
) -> None:
    settings = pipeline_settings
    ledger = Ledger.open(settings.db_path, migrate=True)
    commits = HeldCommits(ledger)
    member = ConsumerThread(ledger, settings)
    try:
        produce(settings.kafka_bootstrap, settings.topic, eventmix.messages(EVENTS, seed=37))
        # The first batch's commit is held: the second is handed to the writer behind it,
        # and a third gathered (and sent to the worker). One batch in flight stopped at two.
        wait_until(lambda: commits.writes == 1, 60, "the first commit, held")
        wait_until(lambda: len(batches_gathered) >= 3, 60, "a third batch while one commits")
        assert commits.writes == 1
        commits.release.set()
        wait_until(lambda: ledger.counts()[0] >= EVENTS, 120, "every event")
        member.stop()
        assert ledger.counts() == (EVENTS, 0)
        assert duplicates(ledger) == 0
    finally:
        commits.release.set()
        member.consumer.stop()
        ledger.close()


def test_a_failed_commit_keeps_the_batches_behind_it_from_committing(
    pipeline_settings: Settings, batches_gathered: list[int]
) -> None:
    settings = pipeline_settings
    ledger = Ledger.open(settings.db_path, migrate=True)
    commits = HeldCommits(ledger, fail=True)
    member = ConsumerThread(ledger, settings)
    try:
        produce(settings.kafka_bootstrap, settings.topic, eventmix.messages(EVENTS, seed=38))
        wait_until(lambda: commits.writes == 1, 60, "the first commit, held")
        wait_until(lambda: len(batches_gathered) >= 3, 60, "batches queued behind the first")
        commits.release.set()
        wait_until(lambda: not member.thread.is_alive(), 60, "the consumer to stop")
        member.stop()
        # The second batch reached the writer, which refused it: had it committed, its
        # offsets would pass the first batch's records and the ledger would never see them.
        assert commits.writes == 1
        assert ledger.counts() == (0, 0)
        assert ledger.cursor().execute("SELECT count(*) FROM kafka_offsets").fetchone() == (0,)
        assert member.consumer.status.last_error == (
            "injected: the first batch's transaction failed"
        )
    finally:
        commits.release.set()
        member.consumer.stop()
        ledger.close()
