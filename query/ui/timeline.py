"""The incident timeline as SVG geometry: lanes, markers, clusters, the impact band.

Pure: markers in, positions out; the template draws them. Markers of one lane closer than
``CLUSTER_PX`` merge into one numbered cluster whose tooltip lists them all, so a busy hour
stays readable; a destructive agent action or the top suspect keeps its cluster's colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

WIDTH = 1000
LANE_H = 56
TOP = 28  # room for the time axis labels
PAD = 14
CLUSTER_PX = 14
_STEPS = [timedelta(minutes=m) for m in (5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)]


@dataclass(frozen=True)
class Marker:
    kind: str  # deployment | agent_action | config_change | rollback
    lane: str
    time: datetime
    label: str  # what it is, in words (tooltip and accessible name)
    event_id: str
    rank: int | None = None
    destructive: bool = False
    reverts: tuple[str, ...] = ()  # event ids of the deployments a rollback reverted


@dataclass(frozen=True)
class Placed:
    x: float
    y: float
    markers: tuple[Marker, ...]

    @property
    def count(self) -> int:
        return len(self.markers)

    @property
    def kind(self) -> str:
        kinds = {m.kind for m in self.markers}
        return kinds.pop() if len(kinds) == 1 else "mixed"

    @property
    def tone(self) -> str:
        """The colour class: the best rank inside, destructive actions standing out."""
        if any(m.destructive for m in self.markers):
            return "destructive"
        ranks = [m.rank for m in self.markers if m.rank is not None]
        best = min(ranks, default=None)
        if best is None:
            return "rollback" if self.kind == "rollback" else "other"
        return "r1" if best == 1 else "r2" if best <= 3 else "r3" if best <= 10 else "r4"

    @property
    def label(self) -> str:
        return "; ".join(m.label for m in self.markers)

    @property
    def anchor(self) -> str | None:
        """The suspect the marker links to (the best ranked one in a cluster)."""
        ranked = sorted((m for m in self.markers if m.rank), key=lambda m: m.rank or 0)
        return f"suspect-{ranked[0].rank}" if ranked else None


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    lanes: list[tuple[str, float]]
    ticks: list[tuple[float, str]]
    impact_x: float
    band: tuple[float, float]
    resolved: bool
    points: list[Placed]
    links: list[tuple[float, float, float, float]] = field(default_factory=list)


def layout(
    markers: list[Marker],
    start: datetime,
    end: datetime,
    impact: datetime,
    resolved_at: datetime | None,
    lanes: list[str],
) -> Timeline:
    span = max((end - start).total_seconds(), 1.0)

    def x_of(at: datetime) -> float:
        share = min(max((at - start).total_seconds() / span, 0.0), 1.0)
        return round(PAD + share * (WIDTH - 2 * PAD), 1)

    names = list(dict.fromkeys([*lanes, *(m.lane for m in markers)]))
    lane_y = {name: TOP + LANE_H * index + LANE_H * 0.62 for index, name in enumerate(names)}
    points: list[Placed] = []
    for name in names:
        in_lane = sorted((m for m in markers if m.lane == name), key=lambda m: m.time)
        points += _clusters([(x_of(m.time), m) for m in in_lane], lane_y[name])
    where = {m.event_id: p for p in points for m in p.markers}
    links = [
        (p.x, p.y, where[target].x, where[target].y)
        for p in points
        for m in p.markers
        for target in m.reverts
        if target in where and where[target] is not p
    ]
    return Timeline(
        width=WIDTH,
        height=int(TOP + LANE_H * max(len(names), 1) + 8),
        lanes=[(name, lane_y[name] - LANE_H * 0.42) for name in names],
        ticks=ticks(start, end, x_of),
        impact_x=x_of(impact),
        band=(x_of(impact), x_of(resolved_at or end)),
        resolved=resolved_at is not None,
        points=points,
        links=links,
    )


def _clusters(placed: list[tuple[float, Marker]], y: float) -> list[Placed]:
    groups: list[list[tuple[float, Marker]]] = []
    for x, marker in placed:
        if groups and x - groups[-1][0][0] <= CLUSTER_PX:
            groups[-1].append((x, marker))
        else:
            groups.append([(x, marker)])
    return [
        Placed(round(sum(x for x, _ in g) / len(g), 1), y, tuple(m for _, m in g)) for g in groups
    ]


def ticks(start: datetime, end: datetime, x_of) -> list[tuple[float, str]]:
    """At most eight labelled times on round boundaries (UTC)."""
    span = end - start
    step = next((s for s in _STEPS if span / s <= 8), _STEPS[-1])
    seconds = int(step.total_seconds())
    first = datetime.fromtimestamp(-(-int(start.timestamp()) // seconds) * seconds, tz=start.tzinfo)
    fmt = "%m-%d" if step >= timedelta(days=1) else "%H:%M"
    out, at = [], first
    while at <= end:
        out.append((x_of(at), at.strftime(fmt)))
        at += step
    return out
