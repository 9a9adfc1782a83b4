"""The suspects call's in-memory copies (query/suspects/timelines.py, keptwindows.py,
keptincidents.py) must answer exactly as the SQL they replace, on a real DuckDB file: for
every incident of a varied ledger, after the first load and after rows written between
calls (deployments, actions, configuration changes, rollbacks, resolutions, verdicts),
across merges of caught-up rows into the sorted copy."""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.suspects import finder, gather, timelines
from provenance_ledger.query.suspects.finder import suspects_for
from tests.support.provstory import Story, sha, write_direct

SERVICES = ["checkout", "payments", "search", "cart", "auth", "db-main"]
ENVIRONMENTS = ["prod", "Prod", "production", "staging", None]
INCIDENTS = [f"INC-{n}" for n in range(8)]
# Every candidate is compared, not only the ten best.
EVERYTHING = 100


def _minutes(rng: random.Random, low: float, high: float) -> float:
    """A time in [low, high], often exactly on a window's edge (impact start, 24 h before
    it, a resolution) where an off-by-one in a copy would show."""
    return rng.choice([-1440.0, 0.0, 61.0, 62.0, 63.0, 64.0, rng.uniform(low, high)])


def _story(rng: random.Random, round_no: int, impact_story: Story) -> Story:
    s = Story(impact_story.impact)
    if round_no == 0:
        s.person("dev@shop", "mid")
        s.person("sam@shop", "senior")
        s.register("checkout", ["payments", "db-main"])
        s.register("payments", ["db-main", "checkout"])  # a cycle
        s.register("search", ["cart"])
    base = round_no * 1000
    for n in range(60):
        at = _minutes(rng, -1500, 90)
        service = rng.choice(SERVICES)
        env = rng.choice(ENVIRONMENTS[:4])
        tag = f"r{round_no}-{n}"
        commit = base + n
        s.change(commit, "dev@shop", at - 30, ai=[{"tool": "cursor", "mode": "agent"}])
        s.deploy(f"dep-{tag}", service, env, at, commit=sha(commit), repo="shop/checkout")
        if n % 7 == 0:
            s.rollback(f"rb-{tag}", service, env, f"dep-{tag}", f"dep-r0-{n // 2}", at + 5)
        elif n % 5 == 0:
            # A CDEvents rollback names no from_version: the latest deployment of its service
            # and environment before it is the upper bound.
            s.cdevent(
                "service_rolledback",
                f"rb-{tag}",
                at + 3,
                service,
                {"environment": {"id": rng.choice(ENVIRONMENTS[:4])}, "artifactId": f"dep-{tag}"},
            )
        if n % 3 == 0:
            target_service = rng.choice([*SERVICES, None, None, None])
            s.action(
                f"act-{tag}",
                "delete_environment" if n % 2 else "run_migration",
                _minutes(rng, -600, 60),
                destructive=bool(n % 2),
                service=target_service,
                env=rng.choice(ENVIRONMENTS if target_service else ENVIRONMENTS[:4]),
            )
        if n % 2 == 0:
            config_service = rng.choice([*SERVICES, None, None, None])
            key = f"flag-{n % 5}"
            s.config(
                f"cfg-{tag}",
                _minutes(rng, -600, 120),
                service=config_service,
                env=rng.choice(ENVIRONMENTS if config_service else ENVIRONMENTS[:4]),
                key=key,
                from_=rng.choice([False, True]),
                to=rng.choice([False, True]),
            )
    for number, incident in enumerate(INCIDENTS):
        if round_no == 0:
            s.incident(
                incident,
                [SERVICES[number % len(SERVICES)], SERVICES[(number + 2) % len(SERVICES)]],
                env=ENVIRONMENTS[number % len(ENVIRONMENTS)],
            )
        elif round_no == 1 and number % 2:
            s.add("incident.resolved", {"incident": incident}, f"res-{incident}", 60 + number % 5)
        elif round_no == 2 and number % 3 == 0:
            s.attribute(incident, "confirmed", 100, deployment=f"dep-r0-{number}")
    return s


def _suspects(ledger: Ledger, incident: str, limit: int = 10, cur: object = None) -> object:
    """The call as the API makes it: with the position the ledger knows in this process."""
    cursor = ledger.cursor() if cur is None else cur
    return suspects_for(cursor, incident, timedelta(hours=24), limit, ledger.read_position())


def _answers(
    ledger: Ledger, kept: bool, monkeypatch: pytest.MonkeyPatch, limit: int = EVERYTHING
) -> dict:
    with monkeypatch.context() as patch:
        if kept:
            # The kept path must not fall back to the window queries it replaces.
            def refused(*_: object) -> None:
                raise AssertionError("window read with SQL while the timelines are kept")

            patch.setattr(finder, "deployments_in_window", refused)
            patch.setattr(finder, "config_changes_after", refused)
        else:
            patch.setattr(finder, "kept_timelines", lambda *_: None)
            patch.setattr(gather, "kept_incidents", lambda *_: None)
        cur = ledger.cursor()
        try:
            return {incident: _suspects(ledger, incident, limit, cur) for incident in INCIDENTS}
        finally:
            cur.close()


# Text columns are dictionary-encoded when their values repeat (the share of distinct ones
# at most DICTIONARY_SHARE_MAX): as a small ledger gets them, and all of them, nulls too.
@pytest.mark.parametrize("encoded_share", [timelines.DICTIONARY_SHARE_MAX, 1.0])
def test_kept_copies_answer_as_sql_across_writes_and_merges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cdevents_dir: Path, encoded_share: float
) -> None:
    # Merge caught-up rows into the sorted copy every few rows, as a long ledger does.
    monkeypatch.setattr(timelines, "TAIL_ROWS_MIN", 16)
    monkeypatch.setattr(timelines, "DICTIONARY_SHARE_MAX", encoded_share)
    rng = random.Random(17)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        anchor = Story()
        seen_suspects = 0
        for round_no in range(4):
            write_direct(ledger, _story(rng, round_no, anchor).events)
            by_sql = _answers(ledger, kept=False, monkeypatch=monkeypatch)
            assert _answers(ledger, kept=True, monkeypatch=monkeypatch) == by_sql
            # Kept windows are narrowed in Arrow before pruning (windowdrop.py), SQL's not.
            for limit in (1, 3, 10):
                top = _answers(ledger, kept=True, monkeypatch=monkeypatch, limit=limit)
                assert top == {
                    incident: None if found is None else (found[0], found[1][:limit])
                    for incident, found in by_sql.items()
                }, limit
            for found in by_sql.values():
                assert found is not None
                seen_suspects += len(found[1])
        assert seen_suspects > 100  # the comparison covered real candidates
        resolved = _answers(ledger, kept=True, monkeypatch=monkeypatch)["INC-1"]
        assert resolved is not None and resolved[0]["resolved_at"] is not None
    finally:
        ledger.close()


def test_a_deployment_written_between_two_calls_is_a_suspect_in_the_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        first = Story()
        first.deploy("dep-old", "checkout", "prod", -300)
        first.incident("INC-T", ["checkout"], opened=30)
        write_direct(ledger, first.events)
        before = _suspects(ledger, "INC-T")
        assert before is not None
        assert [s["event_id"] for s in before[1]] == ["dep-old"]

        later = Story()
        later.deploy("dep-new", "checkout", "prod", -4)
        later.rollback("rb-new", "checkout", "prod", "dep-new", "dep-old", 10)
        later.add("incident.resolved", {"incident": "INC-T"}, "res-INC-T", 12)
        write_direct(ledger, later.events)
        after = _suspects(ledger, "INC-T")
        assert after is not None
        assert after[1][0]["event_id"] == "dep-new"
        assert after[0]["resolved_at"] is not None
        codes = {reason["code"] for reason in after[1][0]["reasons"]}
        assert "rolled_back_during_incident" in codes
        assert after == _answers_one(ledger, monkeypatch)
    finally:
        ledger.close()


def _answers_one(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as patch:
        patch.setattr(finder, "kept_timelines", lambda *_: None)
        patch.setattr(gather, "kept_incidents", lambda *_: None)
        # No position either: the queries that read it must agree with what the ledger knows.
        return suspects_for(ledger.cursor(), "INC-T", timedelta(hours=24), 10)


def test_a_call_while_another_thread_loads_reads_with_sql(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        story = Story()
        story.deploy("dep-1", "checkout", "prod", -10)
        story.incident("INC-L", ["checkout"])
        write_direct(ledger, story.events)
        cur = ledger.cursor()
        position = ledger.read_position()
        kept = timelines._KEPT.setdefault((position.path, position.ledger_id), timelines._Kept())
        with kept._lock:  # as if another thread were loading
            assert timelines.kept_timelines(cur, *position) is None
            found = _suspects(ledger, "INC-L", cur=cur)
            assert found is not None and [s["event_id"] for s in found[1]] == ["dep-1"]
        loaded = timelines.kept_timelines(cur, *position)
        assert loaded is not None and len(loaded["deployments"]) == 1
    finally:
        ledger.close()


def _kept(ledger: Ledger) -> timelines.Timelines:
    position = ledger.read_position()
    found = timelines.kept_timelines(ledger.cursor(), *position)
    assert found is not None
    return found


def test_merges_run_beside_the_calls_and_lose_no_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tail due for merging is merged on a thread of its own: the call that caught up
    returns with the tail, calls during the merge read it, rows caught up during the merge
    stay in the tail after it, and a merge that fails leaves the tails as they were."""
    monkeypatch.setattr(timelines, "TAIL_ROWS_MIN", 16)
    rng = random.Random(29)
    release = threading.Event()
    merge_of = timelines.Timeline.merged

    def held_merge(self: timelines.Timeline) -> timelines.Timeline:
        assert release.wait(60), "the test never released the merge"
        return merge_of(self)

    monkeypatch.setattr(timelines.Timeline, "merged", held_merge)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        anchor = Story()
        write_direct(ledger, _story(rng, 0, anchor).events)
        loaded = len(_kept(ledger)["deployments"])
        write_direct(ledger, _story(rng, 1, anchor).events)
        during = _kept(ledger)["deployments"]  # returns while the merge is held
        assert during.tail_rows == len(during) - loaded > 16
        assert _answers(ledger, kept=True, monkeypatch=monkeypatch) == _answers(
            ledger, kept=False, monkeypatch=monkeypatch
        )
        write_direct(ledger, _story(rng, 2, anchor).events)
        meanwhile = _kept(ledger)["deployments"].tail_rows - during.tail_rows
        release.set()
        timelines.settle_merges()
        after = _kept(ledger)["deployments"]
        assert after.tail_rows == meanwhile > 0 and len(after) == len(during) + meanwhile
        assert _answers(ledger, kept=True, monkeypatch=monkeypatch) == _answers(
            ledger, kept=False, monkeypatch=monkeypatch
        )

        def failing_merge(self: timelines.Timeline) -> timelines.Timeline:
            raise MemoryError("no room to merge")

        monkeypatch.setattr(timelines.Timeline, "merged", failing_merge)
        write_direct(ledger, _story(rng, 3, anchor).events)
        _kept(ledger)
        timelines.settle_merges()
        kept_tail = _kept(ledger)["deployments"].tail_rows
        assert kept_tail > after.tail_rows
        assert _answers(ledger, kept=True, monkeypatch=monkeypatch) == _answers(
            ledger, kept=False, monkeypatch=monkeypatch
        )
        monkeypatch.setattr(timelines.Timeline, "merged", merge_of)
        write_direct(ledger, _story(rng, 4, anchor).events)
        _kept(ledger)
        timelines.settle_merges()
        assert _kept(ledger)["deployments"].tail_rows == 0  # merged once merging works again
    finally:
        release.set()
        timelines.settle_merges()
        ledger.close()
