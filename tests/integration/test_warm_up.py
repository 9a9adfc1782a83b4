"""The warm-up at server start runs the suspects call for the latest incidents, newest first."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.api.server import warm_up
from tests.support.provstory import Story, write_direct


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
