"""The policy gate over a real DuckDB ledger, through the API route (levels at the right
time from person.registered, the exact revision, the author excluded, agent sessions)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from provenance_ledger.ledger.health import ConsumerStatus
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.api.app import create_app
from provenance_ledger.query.api.state import AppState
from provenance_ledger.query.policy import inforce
from tests.support.provstory import Story, sha, write_direct

REPO = "shop/checkout"
AI = [{"tool": "claude-code", "model": "claude-sonnet-4-5", "mode": "agent", "session": "s-9"}]
JUN, MID, SEN, PRI = "jun@x", "mid@x", "sen@x", "pri@x"
RISER, LATE, SELF = "riser@x", "late@x", "self@x"
RULE_AI = "ai-change-needs-senior-approval"
RULE_ACT = "destructive-agent-action-needs-authorization"


def story() -> Story:
    s = Story()
    for who, level in ((JUN, "junior"), (MID, "mid"), (SEN, "senior"), (PRI, "principal")):
        s.person(who, level)
    for who in (RISER, LATE, SELF):
        s.person(who, "mid")
    s.person(RISER, "senior", minutes=-50)  # promoted between authoring (-100) and review (-40)
    s.person(LATE, "senior", minutes=-10)  # promoted only after reviewing (-40)
    s.person(SELF, "senior", minutes=-60)  # promoted, then approved her own change
    cases = {
        1: (JUN, SEN, AI),  # junior author, senior approval → ok
        2: (MID, PRI, AI),  # mid author, principal approval → ok
        3: ("ghost@x", SEN, AI),  # never registered author, senior approval → ok
        4: ("ghost@x", MID, AI),  # never registered author, mid approval → violation
        5: (MID, RISER, AI),  # reviewer senior at review time → ok
        6: (MID, LATE, AI),  # reviewer still mid at review time → violation
        7: (SELF, SELF, AI),  # self approval → violation
        8: (SEN, None, AI),  # senior author needs none → ok
        9: (JUN, None, []),  # no AI → ok
    }
    for n, (author, reviewer, ai) in cases.items():
        s.change(n, author, -100, ai=ai and [{**ai[0], "session": f"s-{n}"}])
        if reviewer:
            s.review(n, reviewer, -40)
    # Revision 10 was approved by a senior; revision 11 (same PR, pushed after) was not.
    s.change(10, JUN, -100, ai=AI)
    s.review(10, SEN, -90, change="shop/checkout#7")
    s.change(11, JUN, -80, ai=AI)
    # The agent session s-9 that wrote 10/11 also dropped a table, unauthorized.
    s.action("act-drop", "apply_migration", -70, True, session="s-9")
    s.action("act-ok", "delete_environment", -60, True, authorized_by=SEN, session="ops")
    s.action("act-by-mid", "delete_environment", -60, True, authorized_by=MID, session="ops")
    # Merge 20 of main brought in 1 (fine) and 4 (violation).
    s.add(
        "change.merged",
        {"repo": REPO, "commit": sha(20), "commits": [sha(1), sha(4)], "change": "#8"},
        "merge-20",
        -30,
    )
    return s


@pytest.fixture
def api(tmp_path):
    ledger = Ledger.open(tmp_path / "policy.duckdb", migrate=True)
    write_direct(ledger, story().events)
    state = AppState(
        ledger=ledger,
        settings=Settings(db_path=tmp_path / "policy.duckdb"),
        consumer_status=ConsumerStatus,
        publish=lambda events: None,
    )
    # A loopback name: with no token configured the API answers nothing else (DNS rebinding).
    with TestClient(create_app(state), base_url="http://127.0.0.1") as client:
        yield client
    ledger.close()


def check(api, n: int) -> dict:
    response = api.get("/v1/policy/check", params={"repo": REPO, "commit": sha(n)})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9])
def test_compliant_changes(api, n):
    body = check(api, n)
    assert body == {**body, "compliant": True, "violations": []}


@pytest.mark.parametrize("n", [4, 6, 7])
def test_changes_lacking_a_senior_approval(api, n):
    body = check(api, n)
    assert body["compliant"] is False
    assert [v["rule"] for v in body["violations"]] == [RULE_AI]


def test_levels_are_taken_at_review_time(api):
    assert check(api, 5)["compliant"] is True  # promoted before reviewing
    late = check(api, 6)["violations"][0]["detail"]
    assert "late@x approved but was mid at review time" in late


def test_self_approval_never_counts(api):
    detail = check(api, 7)["violations"][0]["detail"]
    assert "the author's own review does not count" in detail


def test_approval_of_an_earlier_revision_does_not_carry_over(api):
    assert [v["rule"] for v in check(api, 10)["violations"]] == [RULE_ACT]
    rules = [v["rule"] for v in check(api, 11)["violations"]]
    assert rules == [RULE_AI, RULE_ACT]


def test_destructive_actions_of_the_writing_session_are_checked(api):
    body = check(api, 11)
    assert "act-drop" in body["violations"][1]["detail"]
    assert "action act-drop" in body["checked"]


def test_agent_actions_checked_by_id(api):
    def rules(action: str) -> list[str]:
        response = api.get("/v1/policy/check", params={"action": action})
        assert response.status_code == 200
        return [v["rule"] for v in response.json()["violations"]]

    assert rules("act-ok") == []
    assert rules("act-by-mid") == [RULE_ACT]
    assert rules("act-drop") == [RULE_ACT]


def test_a_merge_commit_is_judged_by_what_it_brought_in(api):
    body = check(api, 20)
    assert body["compliant"] is False
    assert sha(4)[:12] in body["violations"][0]["detail"]


def test_unknown_commit_is_404(api):
    response = api.get("/v1/policy/check", params={"repo": REPO, "commit": sha(999)})
    assert response.status_code == 404
    assert response.json()["ok"] is False


def test_rules_file_from_the_settings(api, tmp_path, monkeypatch):
    rules = tmp_path / "strict.yaml"
    rules.write_text(
        "rules:\n  - id: principal-only\n    kind: ai-change-approval\n"
        "    approver_at_least: principal\n"
    )
    monkeypatch.setattr(inforce, "policy_file", rules)  # as serve passes PROVLEDGER_POLICY
    assert [v["rule"] for v in check(api, 1)["violations"]] == ["principal-only"]
    assert check(api, 2)["compliant"] is True
