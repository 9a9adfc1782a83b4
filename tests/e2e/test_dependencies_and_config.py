"""Dependencies and configuration changes on a real `provledger serve`: the suspects answer
(JSON, the CLI's table, the incident page) and the CI gate for a configuration change,
`provledger check --config-change`, with the gate's three exit codes."""

from __future__ import annotations

import json

from tests.support.ledgerproc import cli
from tests.support.provstory import Story, person, sha

SAM, JO = "sam@shop", "jo@shop"
AGENT = {"id": "ops-agent@shop", "name": "Ops agent", "kind": "ai_agent"}
AI = [{"tool": "claude-code", "model": "claude-sonnet-4-5", "mode": "agent", "session": "tf"}]


def story() -> Story:
    s = Story()
    s.person(SAM, "senior")
    s.person(JO, "junior")
    s.register("checkout", ["payments"])
    s.change(1, JO, -300, repo="shop/checkout", lines_added=20, files=["src/cart.py"])
    s.review(1, SAM, -290)
    s.deploy("own-hour", "checkout", "prod", -60, repo="shop/checkout", commit=sha(1))
    s.deploy("payments-4min", "payments", "prod", -4)
    flag = {"key": "instant-payouts", "actor": AGENT, "ai": AI}
    s.config("flag-on", -2, service="payments", from_=False, to=True, fleet_percent=100, **flag)
    s.config("flag-off", 9, service="payments", from_=True, to=False,
             authorized_by=person(SAM), **flag)  # fmt: skip
    s.incident("INC-DEP", ["checkout"], resolved=12, title="Checkout cannot take payments")
    return s


def test_suspects_and_the_gate_for_config_changes(start_server) -> None:
    server = start_server().load(story().events)

    body = server.get("/v1/incidents/INC-DEP/suspects").json()
    ranked = [s["event_id"] for s in body["suspects"]]
    assert ranked == ["flag-on", "payments-4min", "own-hour"], ranked
    flag = body["suspects"][0]
    assert flag["kind"] == "config_change" and flag["path"] == ["checkout", "payments"]
    assert flag["config"]["from"] is False and flag["config"]["to"] is True
    assert flag["config"]["actor"]["kind"] == "ai_agent"
    assert flag["config"]["ai"][0]["model"] == "claude-sonnet-4-5"
    codes = {r["code"] for r in flag["reasons"]}
    assert {"upstream_dependency", "rolled_back_during_incident"} <= codes
    assert "resolved_soon_after_rollback" in codes

    table = cli({**server.env, "COLUMNS": "300"}, "suspects", "INC-DEP")  # rows unwrapped
    assert "feature_flag instant-payouts change" in table.stdout
    assert "via checkout → payments" in table.stdout
    page = server.get("/ui/incidents/INC-DEP")
    assert page.status_code == 200
    assert "feature flag change instant-payouts" in page.text
    assert "via checkout → payments" in page.text

    unauthorized = server.cli("check", "--config-change", "flag-on", check=False)
    assert unauthorized.returncode == 1, unauthorized.stderr
    assert "VIOLATION ai-config-change-needs-senior-authorization" in unauthorized.stderr
    authorized = server.cli("check", "--config-change", "flag-off", "--json", check=False)
    assert authorized.returncode == 0, authorized.stderr
    assert json.loads(authorized.stdout)["checked"] == ["config change flag-off"]
    unknown = server.cli("check", "--config-change", "no-such", check=False)
    assert unknown.returncode == 2 and "unknown configuration change" in unknown.stderr
    both = server.cli(
        "check", "--config-change", "flag-on", "--repo", "shop/x", "--commit", sha(1), check=False
    )
    assert both.returncode == 2 and "--config-change alone" in both.stderr
