"""The pure parts of the pages: timeline layout and weekly chart buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from provenance_ledger.query.ui import charts
from provenance_ledger.query.ui.timeline import CLUSTER_PX, Marker, layout

IMPACT = datetime(2026, 11, 20, 13, 42, tzinfo=UTC)


def marker(event_id: str, minutes: float, rank: int | None = None, **extra) -> Marker:
    return Marker(
        kind=extra.pop("kind", "deployment"),
        lane=extra.pop("lane", "checkout · prod"),
        time=IMPACT - timedelta(minutes=minutes),
        label=event_id,
        event_id=event_id,
        rank=rank,
        **extra,
    )


def test_close_markers_cluster_and_keep_the_best_rank_and_destructive_actions_stand_out():
    markers = [
        marker("a", 60, rank=3),
        marker("b", 59, rank=1),
        marker("c", 600, rank=5),
        marker("d", 599, rank=7, kind="agent_action", destructive=True),
    ]
    t = layout(markers, IMPACT - timedelta(hours=24), IMPACT, IMPACT, None, ["checkout · prod"])
    by_ids = {tuple(m.event_id for m in p.markers): p for p in t.points}
    assert set(by_ids) == {("a", "b"), ("c", "d")}
    assert by_ids[("a", "b")].tone == "r1" and by_ids[("a", "b")].anchor == "suspect-1"
    assert by_ids[("a", "b")].label == "a; b"
    assert by_ids[("c", "d")].tone == "destructive"


def test_markers_further_apart_than_the_cluster_distance_stay_apart():
    span = timedelta(hours=24)
    per_px = span / (1000 - 28)
    apart = (CLUSTER_PX + 2) * per_px.total_seconds() / 60
    markers = [marker("a", 60, rank=1), marker("b", 60 + apart, rank=2)]
    t = layout(markers, IMPACT - span, IMPACT, IMPACT, None, [])
    assert [p.count for p in t.points] == [1, 1]


def test_lanes_band_and_rollback_links():
    markers = [
        marker("dep", 30, rank=1),
        marker("rb", -10, kind="rollback", reverts=("dep",)),
        marker("other", 20, rank=2, lane="search · prod"),
    ]
    resolved = IMPACT + timedelta(minutes=40)
    end = IMPACT + timedelta(hours=1)
    t = layout(markers, IMPACT - timedelta(hours=2), end, IMPACT, resolved, ["checkout · prod"])
    assert [name for name, _ in t.lanes] == ["checkout · prod", "search · prod"]
    assert t.band[0] == t.impact_x < t.band[1] < 1000 - 14
    assert len(t.links) == 1
    rb = next(p for p in t.points if p.kind == "rollback")
    assert t.links[0][:2] == (rb.x, rb.y)
    assert rb.tone == "rollback"
    assert all(label.count(":") == 1 for _, label in t.ticks) and 2 <= len(t.ticks) <= 9


def test_weeks_cover_the_range_exactly_from_monday_buckets():
    since = datetime(2026, 10, 1, tzinfo=UTC)  # a Thursday
    until = datetime(2026, 11, 21, tzinfo=UTC)
    buckets = charts.weeks(since, until)
    assert buckets[0] == (since, datetime(2026, 10, 5, tzinfo=UTC))
    assert buckets[-1][1] == until
    assert all(a[1] == b[0] for a, b in pairwise(buckets))
    assert all(b[0].weekday() == 0 for b in buckets[1:])


def test_chart_points_leave_out_weeks_without_deployments():
    buckets = charts.weeks(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    rows = [
        {"claude-code": {"group": "claude-code", "deployments": 4, "failed": 1, "rate": 0.25}},
        {},
        {"claude-code": {"group": "claude-code", "deployments": 2, "failed": 2, "rate": 1.0}},
    ]
    chart = charts.chart(buckets, rows, ["claude-code"])
    points = chart.series[0].points
    assert len(points) == 2
    assert points[1].y < points[0].y  # a higher rate is drawn higher
    assert "1 of 4 deployments failed (25%)" in points[0].text
