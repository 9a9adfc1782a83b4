"""Change-failure rate on a hand-built ledger (real DuckDB file), rates computed by hand.

Deployments in the window [T0, T0 + 10 d), one per hour, and what each shipped:

    D1 checkout c1 (claude-code; junior author, senior approval)  failed: confirmed x3
    D2 cart     c2 (copilot; mid author, approved by a mid        failed: rolled back
                    promoted to senior only later)
    D3 web      c3 (no AI)                                        failed: commit c3 confirmed
    D4 checkout c4 (cursor + claude-code; junior, no review)      failed: commit c4 confirmed
    D5 web      c5 (no AI)                                        confirmed, then rejected
    D6 checkout c6 (copilot; principal author, no review)         only a rejection
    D7 pay      c1                                                rolled back AND confirmed x2
    D8 web/stg  c3 (no AI)                                        failed: commit c3 confirmed
    D9 search   c1 + c2                                           not failed
Outside: D0 (cart v1, pay v1, before T0; failed or not, never counted), D10 at T0 + 10 d.

by ai_tool: claude-code D1 D4 D7 D9 → 3/4; copilot D2 D6 D9 → 1/3; cursor D4 → 1/1;
            none D3 D5 D8 → 2/3.
by review:  ai_senior_approved D1 D7 → 2/2; ai_without_senior_approval D2 D4 D6 D9 → 2/4
            (D6: a principal author's AI change still has no senior *approval*);
            no_ai D3 D5 D8 → 2/3.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.readmodels import metrics
from provenance_ledger.query.readmodels.metrics import change_failure_rate
from tests.support.provstory import IMPACT, Story, sha, write_direct

JUN, MID, MID2, SEN, PRI = "jun@x", "mid@x", "mid2@x", "sen@x", "pri@x"
HOUR = 60
SINCE, UNTIL = IMPACT, IMPACT + timedelta(days=10)


def story() -> Story:
    s = Story()
    for who, level in ((JUN, "junior"), (MID, "mid"), (MID2, "mid"), (SEN, "senior")):
        s.person(who, level)
    s.person(PRI, "principal")
    s.person(MID2, "senior", minutes=5 * HOUR)  # promoted after reviewing c2
    claude, copilot, cursor = (
        {"tool": t, "mode": "chat"} for t in ("claude-code", "copilot", "cursor")
    )
    s.change(1, JUN, -HOUR, ai=[claude])
    s.review(1, SEN, -50)
    s.change(2, MID, -HOUR, ai=[copilot])
    s.review(2, MID2, -50)
    s.change(3, SEN, -HOUR)
    s.change(4, JUN, -HOUR, ai=[cursor, claude])
    s.change(5, MID, -HOUR)
    s.change(6, PRI, -HOUR, ai=[copilot])
    ship = {"repo": "shop/checkout"}
    s.deploy("D0-cart", "cart", "prod", -2 * HOUR, version="v1")
    s.deploy("D0-pay", "pay", "prod", -2 * HOUR, version="v1", commits=[sha(2)], **ship)
    s.deploy("D1", "checkout", "prod", 1 * HOUR, commits=[sha(1)], **ship)
    s.deploy("D2", "cart", "prod", 2 * HOUR, version="v2", commits=[sha(2)], **ship)
    s.deploy("D3", "web", "prod", 3 * HOUR, commits=[sha(3)], **ship)
    s.deploy("D4", "checkout", "prod", 4 * HOUR, commits=[sha(4)], **ship)
    s.deploy("D5", "web", "prod", 5 * HOUR, commits=[sha(5)], **ship)
    s.deploy("D6", "checkout", "prod", 6 * HOUR, commits=[sha(6)], **ship)
    s.deploy("D7", "pay", "prod", 7 * HOUR, version="v2", commits=[sha(1)], **ship)
    s.deploy("D8", "web", "staging", 8 * HOUR, commits=[sha(3)], **ship)
    s.deploy("D9", "search", "prod", 9 * HOUR, commits=[sha(1), sha(2)], **ship)
    s.deploy("D10", "checkout", "prod", 10 * 24 * HOUR, commits=[sha(4)], **ship)
    s.rollback("rb-cart", "cart", "prod", "v2", "v1", 2 * HOUR + 30)
    s.rollback("rb-pay", "pay", "prod", "v2", "v1", 7 * HOUR + 30)
    for n, incident in enumerate(("INC-A", "INC-A", "INC-B")):
        s.attribute(incident, "confirmed", 11 * HOUR + n, deployment="D1")
    s.attribute("INC-C", "confirmed", 12 * HOUR, commit=sha(3), repo="shop/checkout")
    s.attribute("INC-D", "confirmed", 12 * HOUR, commit=sha(4), repo="shop/checkout")
    s.attribute("INC-E", "confirmed", 12 * HOUR, deployment="D5")
    s.attribute("INC-E", "rejected", 13 * HOUR, deployment="D5")
    s.attribute("INC-F", "rejected", 12 * HOUR, deployment="D6")
    s.attribute("INC-G", "confirmed", 12 * HOUR, deployment="D7")
    s.attribute("INC-G", "confirmed", 12 * HOUR + 5, deployment="D7")
    s.attribute("INC-H", "confirmed", 12 * HOUR, deployment="D0-cart")
    return s


@pytest.fixture(params=["one slice", "a deployment a slice"])
def cur(request, tmp_path, monkeypatch):
    """Each expectation holds whether the window's deployments are counted in one slice or
    in one slice each (a deployment's commits, merges and failures all in its own)."""
    if request.param != "one slice":
        monkeypatch.setattr(metrics, "SLICE_DEPLOYMENTS", 1)
        monkeypatch.setattr(metrics, "MAX_SLICES", 1_000)
    s = story()
    ledger = Ledger.open(tmp_path / "metrics.duckdb", migrate=True)
    write_direct(ledger, s.events)
    yield ledger.cursor()
    ledger.close()


def groups(cur, by: str, since=SINCE, until=UNTIL) -> dict[str, tuple[int, int, float]]:
    return {
        g["group"]: (g["deployments"], g["failed"], g["rate"])
        for g in change_failure_rate(cur, by, since, until)
    }


def test_by_ai_tool(cur):
    assert groups(cur, "ai_tool") == {
        "claude-code": (4, 3, 0.75),
        "copilot": (3, 1, round(1 / 3, 6)),
        "cursor": (1, 1, 1.0),
        "none": (3, 2, round(2 / 3, 6)),
    }


def test_by_review(cur):
    assert groups(cur, "review") == {
        "ai_senior_approved": (2, 2, 1.0),
        "ai_without_senior_approval": (4, 2, 0.5),
        "no_ai": (3, 2, round(2 / 3, 6)),
    }


def test_window_is_half_open(cur):
    since = SINCE + timedelta(hours=1)
    assert groups(cur, "review", since, since + timedelta(hours=2)) == {
        "ai_senior_approved": (1, 1, 1.0),  # D1
        "ai_without_senior_approval": (1, 1, 1.0),  # D2; D3 at since + 2 h is excluded
    }


def test_without_a_window_every_deployment_counts(cur):
    rows = {g["group"]: g for g in change_failure_rate(cur, "review")}
    # Adds D0-cart (no AI, confirmed), D0-pay (c2, not failed) and D10 (c4, failed).
    assert rows["no_ai"]["deployments"] == 4 and rows["no_ai"]["failed"] == 3
    assert rows["ai_without_senior_approval"]["deployments"] == 6
    assert rows["ai_without_senior_approval"]["failed"] == 3
