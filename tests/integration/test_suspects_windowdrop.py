"""The window's rows dropped before they become dicts (query/suspects/windowdrop.py) never
change the answer, in the cases where a row's rank depends on another row: a restart of
the version before it, a canary of the same version promoted, a verdict. Each story is
built so that getting its rule wrong changes the top suspects; the answer with a small
limit must be the first rows of the answer with no pruning at all."""

from __future__ import annotations

from datetime import timedelta

import pytest

from provenance_ledger.query.suspects.finder import suspects_for
from tests.support.provstory import Story, sha

EVERYTHING = 10_000
AGENT = {"id": "ops-agent@shop", "name": "Ops agent", "kind": "ai_agent"}


def _restart(s: Story) -> str:
    """checkout's v1 deployed 20 h before impact and restarted 5 min before: the restart
    ships nothing (redeploy), so the deployment of cart 8 min before ranks first. The first
    v1 is far below any bound: dropped alone, the restart would look new."""
    s.deploy("first-v1", "checkout", "prod", -1200, version="v1")
    s.deploy("restart-v1", "checkout", "prod", -5, version="v1")
    s.deploy("cart-x1", "checkout", "prod", -8, version="x1", region="eu-west-1")
    return "cart-x1"


def _promoted(s: Story) -> str:
    """A v1 canary (10 %) 10 h before impact, promoted to the whole fleet 5 min before,
    shipping an AI-written change no senior approved: not a restart, and second only to an
    agent's delete 3 min before. Counted as a restart at best, it would be dropped."""
    s.people({"dev@shop": "mid"})
    s.change(1, "dev@shop", -300, lines_added=1500, ai=[{"tool": "claude-code", "mode": "agent"}])
    commits = {"repo": "shop/checkout", "commits": [sha(1)]}
    s.deploy("canary-v1", "checkout", "prod", -600, version="v1", fleet_percent=10, **commits)
    s.deploy("promoted-v1", "checkout", "prod", -5, version="v1", **commits)
    s.config("delete-db", -3, kind="infrastructure", action="delete", actor=AGENT)
    s.config("flag-on", -1, key="flag", from_=False, to=True, actor=AGENT)
    return "promoted-v1"


def _docs_restart(s: Story) -> str:
    """A restart 1 min before impact of a version that shipped only documentation: worse
    than a flag changed 90 min before (no commit: its score is exact). Its worst case must
    count the restart, or it would seem to outrank the flag for certain."""
    s.people({"dev@shop": "mid"})
    s.change(2, "dev@shop", -2000, files=["README.md"])
    commits = {"repo": "shop/checkout", "commits": [sha(2)]}
    s.deploy("docs-v1", "checkout", "prod", -1200, version="v1", **commits)
    s.deploy("docs-restart-v1", "checkout", "prod", -1, version="v1", **commits)
    s.config("flag-90", -90, key="flag", from_=False, to=True)
    return "flag-90"


def _flag_put_back(s: Story) -> str:
    """A flag turned on 10 h before impact and off 10 min into it, after which the incident
    resolved: the flag is the top suspect, though its time alone puts it far below the
    deployment 8 min before. Its key comes up once in the window and once after impact."""
    s.config("flag-on-early", -600, key="checkout-v2", from_=False, to=True)
    s.config("flag-off", 10, key="checkout-v2", from_=True, to=False)
    s.deploy("near-deploy", "checkout", "prod", -8, version="n1")
    return "flag-on-early"


def _rejected(s: Story) -> str:
    """A deployment 1 min before impact that a responder rejected ranks last; the one 5 h
    before is the top suspect, though far below the rejected one's worst case."""
    s.deploy("near-rejected", "checkout", "prod", -1, version="r2", region="eu-west-1")
    s.deploy("far", "checkout", "prod", -300, version="f1", region="us-east-1")
    return "far"


@pytest.mark.parametrize(
    ("story", "top", "limit"),
    [
        (_restart, 0, 1),
        (_promoted, 1, 2),
        (_docs_restart, 0, 1),
        (_flag_put_back, 0, 1),
        (_rejected, 0, 1),
    ],
    ids=["restart", "promoted", "docs-restart", "flag-put-back", "rejected"],
)
def test_rows_whose_rank_depends_on_another_are_not_dropped(story_ledger, story, top, limit):
    s = Story()
    expected = story(s)
    s.incident("INC-W", ["checkout"], resolved=30)
    if story is _rejected:
        s.attribute("INC-W", "rejected", 20, deployment="near-rejected")
    cur = story_ledger(s).cursor()
    everything = suspects_for(cur, "INC-W", timedelta(hours=24), EVERYTHING)
    assert everything is not None
    _, unpruned = everything
    assert unpruned[top]["event_id"] == expected, [row["event_id"] for row in unpruned]
    answer = suspects_for(cur, "INC-W", timedelta(hours=24), limit)
    assert answer is not None
    assert answer[1] == unpruned[:limit]
