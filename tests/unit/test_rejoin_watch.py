"""When an idle ledger consumer rejoins its group (ledger.watches.RejoinWatch)."""

from __future__ import annotations

from provenance_ledger.ledger.watches import RejoinWatch


def test_no_rejoin_while_partitions_are_assigned() -> None:
    watch = RejoinWatch(after_s=30, max_s=600)
    assert not any(watch.due(True, t) for t in range(0, 1000, 5))


def test_rejoin_after_a_while_without_partitions_then_less_and_less_often() -> None:
    watch = RejoinWatch(after_s=30, max_s=100)
    due = [t for t in range(0, 400) if watch.due(False, t)]
    # Idle from t=0: rejoins at 30, then waits 60, then 100 (the cap), then 100 again.
    assert due == [30, 90, 190, 290, 390]


def test_partitions_reset_the_wait() -> None:
    watch = RejoinWatch(after_s=30, max_s=600)
    assert [t for t in range(0, 80) if watch.due(False, t)] == [30]
    assert not watch.due(True, 80)
    # Idle again from t=81: the first wait is 30 s again (111), not the doubled 60 (141).
    assert [t for t in range(81, 200) if watch.due(False, t)] == [111, 171]
