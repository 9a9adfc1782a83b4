"""The policy gate for configuration changes (rule kind config-change-authorization) over a
real DuckDB ledger, through the API route: `GET /v1/policy/check?config_change=EVENT_ID`."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from provenance_ledger.ledger.health import ConsumerStatus
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.api.app import create_app
from provenance_ledger.query.api.state import AppState
from provenance_ledger.query.policy import inforce
from tests.support.provstory import Story, person, sha, write_direct

RULE = "ai-config-change-needs-senior-authorization"
JUN, MID, SEN, RISER = "jun@x", "mid@x", "sen@x", "riser@x"
AGENT = {"id": "agent@x", "kind": "ai_agent"}
AI = [{"tool": "claude-code", "mode": "agent", "session": "ops-1"}]
FLAG = {"key": "new-pricing", "from_": False, "to": True}
INFRA = "infrastructure"


def story() -> Story:
    s = Story()
    for who, level in ((JUN, "junior"), (MID, "mid"), (SEN, "senior"), (RISER, "mid")):
        s.person(who, level)
    s.person(RISER, "senior", minutes=30)  # promoted only after authorizing (at -10)
    s.change(1, JUN, -100, repo="shop/infra", files=["db.tf"])
    s.review(1, SEN, -90, repo="shop/infra")
    s.change(2, JUN, -100, repo="shop/infra", files=["db.tf"])
    s.review(2, MID, -90, repo="shop/infra")
    s.config("flag-agent", -10, actor=AGENT, **FLAG)
    s.config("flag-tool", -10, ai=AI, **FLAG)  # an AI tool made it, no actor kind
    s.config("flag-by-sen", -10, actor=AGENT, authorized_by=person(SEN), **FLAG)
    s.config("flag-by-mid", -10, actor=AGENT, authorized_by=person(MID), **FLAG)
    s.config("flag-by-riser", -10, actor=AGENT, authorized_by=person(RISER), **FLAG)
    s.config("flag-human", -10, actor={"id": JUN, "kind": "human"}, **FLAG)
    s.config("flag-staging", -10, env="staging", actor=AGENT, **FLAG)
    s.config("flag-everywhere", -10, env=None, actor=AGENT, **FLAG)  # no environment: all
    s.config("config-agent", -10, kind="config", actor=AGENT, key="timeout", to=30)
    destroy = {"key": "aws_db_instance.orders", "action": "delete", "actor": AGENT, "ai": AI}
    s.config("tf-reviewed", -5, INFRA, None, "production", repo="shop/infra", commit=sha(1),
             **destroy)  # fmt: skip
    s.config("tf-mid-review", -5, INFRA, None, "prod", repo="shop/infra", commit=sha(2),
             **destroy)  # fmt: skip
    s.config("tf-no-commit", -5, INFRA, None, "prod", **destroy)
    return s


@pytest.fixture
def api(tmp_path):
    ledger = Ledger.open(tmp_path / "config-policy.duckdb", migrate=True)
    write_direct(ledger, story().events)
    state = AppState(
        ledger=ledger,
        settings=Settings(db_path=tmp_path / "config-policy.duckdb"),
        consumer_status=ConsumerStatus,
        publish=lambda events: None,
    )
    with TestClient(create_app(state), base_url="http://127.0.0.1") as client:
        yield client
    ledger.close()


def check(api, event_id: str) -> dict:
    response = api.get("/v1/policy/check", params={"config_change": event_id})
    assert response.status_code == 200, response.text
    return response.json()


def rules(api, event_id: str) -> list[str]:
    return [v["rule"] for v in check(api, event_id)["violations"]]


@pytest.mark.parametrize(
    "event_id", ["flag-agent", "flag-tool", "flag-by-mid", "flag-everywhere", "tf-no-commit"]
)
def test_an_ai_change_in_production_without_a_senior_authorization(api, event_id):
    assert rules(api, event_id) == [RULE]


@pytest.mark.parametrize(
    "event_id",
    # senior authorized_by; a human's change; another environment; another kind; applied
    # from a commit a senior approved
    ["flag-by-sen", "flag-human", "flag-staging", "config-agent", "tf-reviewed"],
)
def test_out_of_scope_or_authorized_changes_are_compliant(api, event_id):
    body = check(api, event_id)
    assert body == {**body, "compliant": True, "violations": []}
    assert body["checked"] == [f"config change {event_id}"]


def test_the_authorizers_level_is_taken_at_the_time_of_the_change(api):
    [violation] = check(api, "flag-by-riser")["violations"]
    assert "authorized by riser@x (mid at the time)" in violation["detail"]


def test_a_review_by_someone_not_senior_does_not_authorize_the_apply(api):
    [violation] = check(api, "tf-mid-review")["violations"]
    assert f"shop/infra@{sha(2)[:12]}" in violation["detail"]
    assert "approved by mid@x (mid then)" in violation["detail"]
    assert "made by AI (claude-code)" in violation["detail"]


def test_unknown_configuration_change_is_404(api):
    response = api.get("/v1/policy/check", params={"config_change": "no-such-change"})
    assert response.status_code == 404 and response.json()["ok"] is False


def test_the_rule_is_configurable(api, tmp_path, monkeypatch):
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        "rules:\n  - id: every-prod-change-by-a-principal\n    kind: config-change-authorization\n"
        "    kinds: ['*']\n    ai_only: false\n    authorizer_at_least: principal\n"
    )
    monkeypatch.setattr(inforce, "policy_file", strict)  # as serve passes PROVLEDGER_POLICY
    assert rules(api, "flag-human") == ["every-prod-change-by-a-principal"]
    assert rules(api, "flag-by-sen") == ["every-prod-change-by-a-principal"]
    assert rules(api, "config-agent") == ["every-prod-change-by-a-principal"]
    assert check(api, "flag-staging")["compliant"] is True
