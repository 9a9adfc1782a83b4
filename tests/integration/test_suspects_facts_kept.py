"""Commit facts the suspects call keeps in memory (query/suspects/keptfacts.py): a fact written
between two calls (a review, an authored change) must count in the second, the kept facts
must never be read again while nothing about their commits was written, and each ledger
file keeps its own."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.readmodels import changes
from provenance_ledger.query.suspects.finder import suspects_for
from provenance_ledger.query.suspects.keptfacts import kept_facts
from tests.support.provstory import Story, sha, write_direct

DEV, SENIOR = "dev@shop", "sam@shop"


def _story() -> Story:
    s = Story()
    s.person(DEV, "mid")
    s.person(SENIOR, "senior")
    s.change(3, DEV, -120, ai=[{"tool": "cursor", "mode": "agent"}], files=["src/pay.py"])
    s.deploy("dep-3", "checkout", "prod", -20, repo="shop/checkout", commit=sha(3))
    s.deploy("dep-5", "checkout", "prod", -30, repo="shop/checkout", commit=sha(5))
    s.incident("INC-K", ["checkout"])
    return s


def _suspects(ledger: Ledger) -> dict[str, dict]:
    found = suspects_for(ledger.cursor(), "INC-K", timedelta(hours=24), 10)
    assert found is not None
    return {suspect["event_id"]: suspect for suspect in found[1]}


def _codes(suspect: dict) -> set[str]:
    return {reason["code"] for reason in suspect["reasons"]}


def test_facts_written_between_two_calls_count_in_the_second(tmp_path: Path, monkeypatch) -> None:
    read: list[list[str]] = []

    def counted(cur, commits: list[str]) -> list[dict]:
        read.append(commits)
        return changes.fetch_facts(cur, commits)

    monkeypatch.setattr("provenance_ledger.query.suspects.keptfacts.fetch_facts", counted)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, _story().events)
        first = _suspects(ledger)
        assert "ai_without_senior_approval" in _codes(first["dep-3"])
        assert first["dep-5"]["changes"][0]["author"] is None  # sha(5) not authored yet
        assert "docs_only" not in _codes(first["dep-5"])
        assert sorted(c for commits in read for c in commits) == [sha(3), sha(5)]

        assert _suspects(ledger) == first
        assert len(read) == 1  # nothing written: both commits served from memory

        later = Story()
        later.review(3, SENIOR, -60)
        later.change(5, DEV, -90, files=["docs/notes.md"])
        write_direct(ledger, later.events)
        second = _suspects(ledger)
        assert "ai_without_senior_approval" not in _codes(second["dep-3"])
        assert second["dep-3"]["changes"][0]["reviews"][0]["reviewer"] == SENIOR
        assert second["dep-5"]["changes"][0]["author"] == DEV
        assert "docs_only" in _codes(second["dep-5"])
        assert sorted(read[-1]) == [sha(3), sha(5)]  # only the commits written about
    finally:
        ledger.close()


def test_each_ledger_file_keeps_its_own_facts(tmp_path: Path) -> None:
    one = Ledger.open(tmp_path / "one.duckdb", migrate=True)
    two = Ledger.open(tmp_path / "two.duckdb", migrate=True)
    try:
        write_direct(one, _story().events)
        reviewed = _story()
        reviewed.review(3, SENIOR, -60)
        write_direct(two, reviewed.events)
        assert "ai_without_senior_approval" in _codes(_suspects(one)["dep-3"])
        assert "ai_without_senior_approval" not in _codes(_suspects(two)["dep-3"])
        assert "ai_without_senior_approval" in _codes(_suspects(one)["dep-3"])
    finally:
        one.close()
        two.close()


def test_another_ledger_at_the_same_path_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    reviewed = _story()
    reviewed.review(3, SENIOR, -60)
    first = Ledger.open(path, migrate=True)
    try:
        write_direct(first, reviewed.events)
        assert "ai_without_senior_approval" not in _codes(_suspects(first)["dep-3"])
    finally:
        first.close()
    path.unlink()
    # Fewer rows than the first file: none of them is above the last seq read there.
    second = Ledger.open(path, migrate=True)
    try:
        write_direct(second, _story().events)
        assert "ai_without_senior_approval" in _codes(_suspects(second)["dep-3"])
    finally:
        second.close()


def test_an_artifact_built_between_two_calls_counts_in_the_second(
    tmp_path: Path, monkeypatch
) -> None:
    read: list[list[str]] = []

    def counted(cur, names: list[str]) -> list[tuple]:
        read.append(names)
        return changes.built_from(cur, names)

    monkeypatch.setattr("provenance_ledger.query.suspects.keptfacts.built_from", counted)
    image = "oci://shop/checkout@sha256:abc"
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        s = _story()
        s.deploy("dep-img", "checkout", "prod", -10, artifact=image)
        write_direct(ledger, s.events)
        first = _suspects(ledger)
        assert first["dep-img"]["changes"] == []
        assert _suspects(ledger) == first
        assert read == [[image]]  # nothing written: the artifact served from memory

        built = Story()
        built.add(
            "artifact.built",
            {"artifact": image, "repo": "shop/checkout", "commit": sha(3)},
            "art-img",
            -15,
        )
        write_direct(ledger, built.events)
        second = _suspects(ledger)
        assert [c["commit"] for c in second["dep-img"]["changes"]] == [sha(3)]
        assert read == [[image], [image]]
    finally:
        ledger.close()


def test_rows_read_while_a_catch_up_forgot_them_are_not_kept(tmp_path: Path, monkeypatch) -> None:
    """A call reads sha(5)'s facts (none yet); meanwhile its change.authored is written and
    another call catches up. What the first read must not stay kept: the next call sees the
    author."""
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, _story().events)
        cur = ledger.cursor()
        position = ledger.read_position()
        kept = kept_facts(cur, position.path, position.ledger_id, position.newest)
        assert kept is not None

        def stale_while_written(read_cur, commits: list[str]) -> list[dict]:
            before = changes.fetch_facts(read_cur, commits)
            later = Story()
            later.change(5, DEV, -90, files=["docs/notes.md"])
            write_direct(ledger, later.events)
            kept.catch_up(ledger.cursor(), ledger.read_position().newest)
            return before

        monkeypatch.setattr(
            "provenance_ledger.query.suspects.keptfacts.fetch_facts", stale_while_written
        )
        assert kept.fetch(cur, [sha(5)]) == []
        monkeypatch.setattr(
            "provenance_ledger.query.suspects.keptfacts.fetch_facts", changes.fetch_facts
        )
        assert [row["fact"] for row in kept.fetch(cur, [sha(5)])] == ["authored"]
    finally:
        ledger.close()
