"""The one deduplication rule both write paths apply (ledger/writer.py ``judge_repeat``)."""

from __future__ import annotations

from provenance_ledger.ledger.writer import Repeat, judge_repeat


def test_a_key_first_seen_is_new_and_known_from_then_on() -> None:
    known: dict[tuple[str, str], str] = {("ci", "stored"): "h0"}
    assert judge_repeat(known, ("ci", "e1"), "h1") is Repeat.NEW
    assert known == {("ci", "stored"): "h0", ("ci", "e1"): "h1"}


def test_a_repeat_is_a_duplicate_with_the_same_content_and_a_conflict_with_other() -> None:
    known = {("ci", "e1"): "h1"}
    assert judge_repeat(known, ("ci", "e1"), "h1") is Repeat.SAME
    assert judge_repeat(known, ("ci", "e1"), "h2") is Repeat.OTHER
    # The first content stays the one later repeats are judged against.
    assert known == {("ci", "e1"): "h1"}
    assert judge_repeat(known, ("ci", "e1"), "h1") is Repeat.SAME


def test_the_key_is_source_and_id_together() -> None:
    known = {("ci", "e1"): "h1"}
    assert judge_repeat(known, ("other-ci", "e1"), "h2") is Repeat.NEW
    assert judge_repeat(known, ("ci", "e2"), "h1") is Repeat.NEW
