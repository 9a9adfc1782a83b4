"""One definition of "senior": a real `provledger serve` on a real ledger file, with its policy
file edited while it runs. Suspects, /v1/commits, the deployments list, the change-failure
rate by review, the gate (HTTP and `provledger check`) and the SQL views all follow the file:
with the packaged policy they agree with the contract (senior = senior or principal), and
with `senior_at_least: principal` they all change together."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.policy.definitions import DEFAULT_LOOKBACK
from tests.support.provstory import Story, sha, write_direct
from tests.support.servers import Running, launch_serve
from tests.support.waiting import wait_until

REPO = "shop/checkout"
AI = [{"tool": "copilot", "model": "gpt-5", "mode": "completion", "lines": 12}]
JUN, SEN, PRI = "jun@shop", "sen@shop", "pri@shop"
APPROVED_BY_SENIOR, APPROVED_BY_PRINCIPAL, BY_SENIOR_AUTHOR = sha(1), sha(2), sha(3)
DEPLOYED = {"dep-1": APPROVED_BY_SENIOR, "dep-2": APPROVED_BY_PRINCIPAL, "dep-3": BY_SENIOR_AUTHOR}
DEPLOYED_AT = {"dep-1": -50, "dep-2": -40, "dep-3": -30}  # minutes before impact
PACKAGED = resources.files("provenance_ledger.query.policy").joinpath("policy.yaml").read_text()
PRINCIPAL_ONLY = PACKAGED.replace("senior_at_least: senior", "senior_at_least: principal")


def story() -> Story:
    s = Story()
    for who, level in ((JUN, "junior"), (SEN, "senior"), (PRI, "principal")):
        s.person(who, level)
    s.change(1, JUN, -300, ai=AI)
    s.review(1, SEN, -250)
    s.change(2, JUN, -300, ai=AI)
    s.review(2, PRI, -250)
    s.change(3, SEN, -300, ai=AI)
    for event_id, commit in DEPLOYED.items():
        s.deploy(event_id, "checkout", "prod", DEPLOYED_AT[event_id], repo=REPO, commit=commit)
    s.action("act-1", "delete_environment", -20, True, authorized_by=SEN)
    s.incident("INC-1", ["checkout"])
    return s


# What each reader says about the three commits, the deployments and the action.
CONTRACT = {
    "senior_approved": {
        APPROVED_BY_SENIOR: True,
        APPROVED_BY_PRINCIPAL: True,
        BY_SENIOR_AUTHOR: False,
    },
    "compliant": {APPROVED_BY_SENIOR: True, APPROVED_BY_PRINCIPAL: True, BY_SENIOR_AUTHOR: True},
    "by_review": {
        "dep-1": "ai_senior_approved",
        "dep-2": "ai_senior_approved",
        "dep-3": "ai_without_senior_approval",
    },
    "action_authorized": True,
}
PRINCIPAL = {
    "senior_approved": {
        APPROVED_BY_SENIOR: False,
        APPROVED_BY_PRINCIPAL: True,
        BY_SENIOR_AUTHOR: False,
    },
    "compliant": {APPROVED_BY_SENIOR: False, APPROVED_BY_PRINCIPAL: True, BY_SENIOR_AUTHOR: False},
    "by_review": {
        "dep-1": "ai_without_senior_approval",
        "dep-2": "ai_senior_approved",
        "dep-3": "ai_without_senior_approval",
    },
    "action_authorized": False,
}


@pytest.fixture
def server(settings: Settings, tmp_path: Path):
    ledger = Ledger.open(settings.db_path, migrate=True)
    write_direct(ledger, story().events)
    ledger.close()
    policy = tmp_path / "policy.yaml"
    policy.write_text(PACKAGED)
    running = launch_serve(settings, {"PROVLEDGER_POLICY": str(policy)})
    try:
        yield running, policy
    finally:
        running.stop()


def get(running: Running, path: str, **params: Any) -> Any:
    response = running.get(path, **params)
    assert response.status_code == 200, response.text
    return response.json()


def sql(running: Running, text: str) -> list[list[Any]]:
    response = httpx.post(f"{running.url}/v1/sql", json={"sql": text}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def suspects(running: Running) -> dict[str, dict[str, Any]]:
    body = get(running, "/v1/incidents/INC-1/suspects", lookback=DEFAULT_LOOKBACK)
    return {s["event_id"]: s for s in body["suspects"]}


def approvals_seen(running: Running) -> dict[str, dict[str, bool]]:
    """Each commit's senior_approved as every reader answers it."""
    found = suspects(running)
    listed = get(running, "/v1/deployments", service="checkout")["deployments"]
    views = dict(map(tuple, sql(running, "SELECT commit, senior_approved FROM change_approval")))
    shipped = sql(running, "SELECT commit, senior_approved FROM deployments_with_changes")
    return {
        "suspects": {
            c["commit"]: c["senior_approved"] for dep in DEPLOYED for c in found[dep]["changes"]
        },
        # The ranking's risk signal for it: present exactly when the approval is missing.
        "suspects_reasons": {
            commit: "ai_without_senior_approval" not in {r["code"] for r in found[dep]["reasons"]}
            for dep, commit in DEPLOYED.items()
        },
        "commits": {
            sha_: get(running, f"/v1/commits/{sha_}")["senior_approved"]
            for sha_ in DEPLOYED.values()
        },
        "deployments": {c["commit"]: c["senior_approved"] for d in listed for c in d["changes"]},
        "change_approval": views,
        "deployments_with_changes": dict(map(tuple, shipped)),
    }


def gate(running: Running) -> dict[str, bool]:
    return {
        sha_: get(running, "/v1/policy/check", repo=REPO, commit=sha_)["compliant"]
        for sha_ in DEPLOYED.values()
    }


def by_review(running: Running) -> dict[str, str]:
    """The change-failure rate's group of each deployment (a window holding only it)."""
    groups = {}
    for event_id, minutes in DEPLOYED_AT.items():
        at = Story().at(minutes)
        window = {"since": at.isoformat(), "until": (at + timedelta(seconds=1)).isoformat()}
        [group] = get(running, "/v1/metrics/change-failure-rate", by="review", **window)["groups"]
        groups[event_id] = group["group"]
    return groups


def action_authorized(running: Running) -> dict[str, bool]:
    reasons = {r["code"] for r in suspects(running)["act-1"]["reasons"]}
    [[view]] = sql(running, "SELECT senior_authorized FROM destructive_agent_actions")
    checked = get(running, "/v1/policy/check", action="act-1")["compliant"]
    return {"suspects": "unauthorized_action" not in reasons, "view": view, "gate": checked}


def assert_agree(running: Running, expected: dict[str, Any]) -> None:
    for reader, answers in approvals_seen(running).items():
        assert answers == expected["senior_approved"], reader
    assert gate(running) == expected["compliant"]
    unapproved = dict(
        map(
            tuple,
            sql(running, "SELECT commit, violates_policy FROM ai_changes_without_senior_approval"),
        )
    )
    assert unapproved == {
        commit: not expected["compliant"][commit]
        for commit, approved in expected["senior_approved"].items()
        if not approved
    }
    assert by_review(running) == expected["by_review"]
    assert set(action_authorized(running).values()) == {expected["action_authorized"]}


def test_every_reader_follows_the_policy_file(server) -> None:
    running, policy = server
    assert_agree(running, CONTRACT)
    assert sql(running, "SELECT senior_at_least, senior_levels FROM policy_definitions") == [
        ["senior", ["senior", "principal"]]
    ]
    assert running.cli("check", "--repo", REPO, "--commit", APPROVED_BY_SENIOR).returncode == 0

    policy.write_text(PRINCIPAL_ONLY)
    wait_until(
        lambda: sql(running, "SELECT senior_at_least FROM policy_definitions") == [["principal"]],
        15,
        "the server to record the edited policy",
    )
    assert_agree(running, PRINCIPAL)
    refused = running.cli("check", "--repo", REPO, "--commit", APPROVED_BY_SENIOR, check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "at level principal or above" in refused.stderr
