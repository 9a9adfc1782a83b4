"""Weekly change-failure-rate charts as SVG geometry (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28
MAX_WEEKS = 26
# Colour-blind-safe (Okabe-Ito), dark enough for 3:1 against white.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8F6C00", "#56B4E9", "#000000"]


def weeks(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) weekly buckets from the Monday on or before ``since`` to ``until``,
    the first and last clipped to the range so the buckets add up to it exactly."""
    monday = (since - timedelta(days=since.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    out: list[tuple[datetime, datetime]] = []
    at = monday
    while at < until and len(out) < MAX_WEEKS:
        out.append((max(at, since), min(at + timedelta(days=7), until)))
        at += timedelta(days=7)
    return out


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Series:
    group: str
    colour: str
    points: list[Point]

    @property
    def path(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.points)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    series: list[Series]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]


def chart(
    buckets: list[tuple[datetime, datetime]], rows: list[dict[str, dict]], groups: list[str]
) -> Chart:
    """``rows[i][group]`` is the API's group row for bucket i (absent: no deployments)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(buckets) - 1, 1)
    every = max(1, len(buckets) // 6)

    def x_of(i: int) -> float:
        return round(LEFT + (i * step if len(buckets) > 1 else plot_w / 2), 1)

    series = []
    for index, group in enumerate(groups):
        points = []
        for i, (start, _) in enumerate(buckets):
            row = rows[i].get(group)
            if row is None:
                continue
            y = round(TOP + plot_h * (1 - row["rate"]), 1)
            text = (
                f"{group}, week of {start:%Y-%m-%d}: {row['failed']} of "
                f"{row['deployments']} deployments failed ({row['rate']:.0%})"
            )
            points.append(Point(x_of(i), y, text))
        series.append(Series(group, PALETTE[index % len(PALETTE)], points))
    return Chart(
        WIDTH,
        HEIGHT,
        series,
        [(round(TOP + plot_h * (1 - r), 1), f"{r:.0%}") for r in (0, 0.25, 0.5, 0.75, 1)],
        [(x_of(i), f"{start:%m-%d}") for i, (start, _) in enumerate(buckets) if i % every == 0],
    )
