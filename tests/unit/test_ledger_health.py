"""When /healthz says degraded, and when a topic would lose the log of record (pure rules)."""

from __future__ import annotations

import pytest

from provenance_ledger.ledger.health import ConsumerStatus, problem
from provenance_ledger.ledger.topic import history_problems


def _status(**fields) -> ConsumerStatus:
    status = ConsumerStatus(running=True, started_at=0.0, progress_at=0.0)
    for name, value in fields.items():
        setattr(status, name, value)
    return status


def test_idle_and_caught_up_is_ok_however_long() -> None:
    assert problem(_status(topic_lag=0, lag_read_at=999.0), now=1000.0, after_s=30) is None


def test_behind_with_nothing_committed_for_the_stall_period_is_degraded() -> None:
    status = _status(topic_lag=1, lag_read_at=99.0, progress_at=60.0)
    assert problem(status, now=89.0, after_s=30) is None
    reason = problem(status, now=100.0, after_s=30)
    assert reason is not None and "1 records behind" in reason and "40 s" in reason


def test_a_loop_that_stopped_measuring_is_degraded_with_its_last_error() -> None:
    status = _status(topic_lag=0, lag_read_at=10.0, last_error="no broker at 127.0.0.1:1")
    reason = problem(status, now=50.0, after_s=30)
    assert reason is not None and "no broker at 127.0.0.1:1" in reason
    # Just started: a grace period before the first measurement.
    assert problem(_status(), now=20.0, after_s=30) is None


def test_a_stopped_or_refusing_consumer_is_degraded_with_why() -> None:
    assert problem(ConsumerStatus(), now=0.0, after_s=30) == "the ledger consumer is not running"
    refused = ConsumerStatus(refused="the topic t would delete history", last_error="x")
    assert problem(refused, now=0.0, after_s=30) == "the topic t would delete history"


def test_health_lag_covers_every_partition_once_measured() -> None:
    status = ConsumerStatus(lag={0: 2})
    assert status.total_lag == 2
    status.topic_lag = 7
    assert status.total_lag == 7


@pytest.mark.parametrize(
    ("configs", "named"),
    [
        ({"retention.ms": "604800000"}, "retention.ms=604800000"),
        ({"retention.bytes": "1073741824"}, "retention.bytes=1073741824"),
        ({"cleanup.policy": "compact"}, "cleanup.policy=compact"),
        ({"cleanup.policy": "compact,delete"}, "cleanup.policy=compact,delete"),
    ],
)
def test_topics_that_delete_history_are_named(configs: dict[str, str], named: str) -> None:
    problems = history_problems(configs)
    assert len(problems) == 1 and named in problems[0]


def test_a_topic_that_keeps_everything_passes() -> None:
    keep = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
    assert history_problems(keep) == []
