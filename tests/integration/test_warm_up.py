"""The warm-up at server start runs the suspects call for the latest incidents, newest first;
then incidents written while serving, and opened recently, are prepared as they arrive."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.api.warming import keep_warm, prepare, prepare_written, warm_up
from provenance_ledger.query.suspects.keptfacts import kept_facts
from tests.support.provstory import Story, sha, write_direct
from tests.support.waiting import wait_until


@pytest.fixture(autouse=True)
def _collector_as_before() -> Iterator[None]:
    """The warm-up freezes what exists for the collector; give it back to the test run."""
    yield
    gc.unfreeze()


def test_warm_up_visits_the_latest_incidents_newest_first(tmp_path):
    story = Story()
    story.deploy("dep-1", "checkout", "prod", -10)
    story.incident("INC-OLD", ["checkout"], opened=1)
    story.incident("INC-NEW", ["checkout"], opened=5)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, story.events)
        assert warm_up(ledger) == ["INC-NEW", "INC-OLD"]
        assert warm_up(ledger, incidents=1) == ["INC-NEW"]
        stopped = threading.Event()
        stopped.set()
        assert warm_up(ledger, stop=stopped) == []
        # Past its budget after the first: one incident a round, never none.
        assert prepare(ledger, ["INC-OLD", "INC-NEW"], budget_s=0) == ["INC-OLD"]
    finally:
        ledger.close()


def test_warm_up_of_an_empty_ledger_does_nothing(tmp_path):
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        assert warm_up(ledger) == []
    finally:
        ledger.close()


def test_what_the_warm_up_kept_is_out_of_the_collectors_full_passes(tmp_path):
    story = Story()
    story.deploy("dep-1", "checkout", "prod", -10)
    story.incident("INC-1", ["checkout"])
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, story.events)
        gc.unfreeze()
        assert gc.get_freeze_count() == 0
        warm_up(ledger)
        assert gc.get_freeze_count() > 0
    finally:
        ledger.close()


def _facts_kept(ledger: Ledger, commit: str) -> bool:
    cur = ledger.cursor()
    try:
        position = ledger.read_position()
        kept = kept_facts(cur, position.path, position.ledger_id, position.newest)
        return kept is not None and kept.holds(commit)
    finally:
        cur.close()


def _story_now() -> Story:
    """A story whose impact started an hour ago: its incidents are recent."""
    return Story(impact=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))


def test_incidents_written_while_serving_are_prepared_and_only_recent_new_ones(tmp_path):
    shipped = _story_now()
    shipped.change(1, "mia@shop", -60)
    shipped.deploy("dep-1", "checkout", "prod", -10, commit=sha(1), repo="shop/checkout")
    shipped.incident("INC-BEFORE", ["checkout"], opened=1)
    opened = _story_now()
    opened.incident("INC-NEW", ["checkout"], opened=5)
    # Replayed history: opened three days ago, written now.
    opened.incident("INC-REPLAYED", ["checkout"], opened=-3 * 24 * 60)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, shipped.events)
        before = ledger.read_position().newest
        assert not _facts_kept(ledger, sha(1))
        write_direct(ledger, opened.events)
        newest = ledger.read_position().newest
        assert prepare_written(ledger, before, newest) == ["INC-NEW"]
        assert _facts_kept(ledger, sha(1))
        assert prepare_written(ledger, newest, newest) == []
        # Seen from three days later, nothing written is recent.
        later = datetime.now(UTC) + timedelta(days=3)
        assert prepare_written(ledger, -1, newest, now=later) == []
    finally:
        ledger.close()


def test_serving_keeps_preparing_incidents_as_they_are_written(tmp_path):
    shipped = _story_now()
    shipped.change(2, "mia@shop", -60)
    shipped.deploy("dep-2", "checkout", "prod", -10, commit=sha(2), repo="shop/checkout")
    opened = _story_now()
    opened.incident("INC-LIVE", ["checkout"], opened=5)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    stop = threading.Event()
    thread = threading.Thread(target=keep_warm, args=(ledger, stop, 0.05))
    try:
        write_direct(ledger, shipped.events)
        thread.start()
        write_direct(ledger, opened.events)
        wait_until(lambda: _facts_kept(ledger, sha(2)), 30, "INC-LIVE's commit prepared")
    finally:
        stop.set()
        thread.join(timeout=30)
        ledger.close()
    assert not thread.is_alive()


def test_preparing_reads_the_facts_of_every_candidate_the_incident_page_draws(tmp_path):
    story = _story_now()
    ai = [{"tool": "claude-code", "model": "claude-sonnet-4-5", "mode": "agent", "lines": 180}]
    # Twelve AI-written deployments just before impact fill the API's 10 suspects, so its
    # call leaves the facts of thirty deployments of the day before unread; the incident
    # page draws all 42.
    near, far = range(1, 13), range(100, 130)
    for n in near:
        story.change(n, "mia@shop", -300 + n, ai=ai, lines_added=500)
        story.deploy(f"near-{n}", "checkout", "prod", -3 - n, commit=sha(n), repo="shop/checkout")
    for n in far:
        story.change(n, "mia@shop", -1530 + n)
        story.deploy(f"far-{n}", "checkout", "prod", -1520 + n, commit=sha(n), repo="shop/checkout")
    story.incident("INC-WIDE", ["checkout"], opened=5)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, story.events)
        assert prepare(ledger, ["INC-WIDE"]) == ["INC-WIDE"]
        assert [n for n in [*near, *far] if not _facts_kept(ledger, sha(n))] == []
    finally:
        ledger.close()
