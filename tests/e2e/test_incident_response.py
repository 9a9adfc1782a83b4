"""A responder's path on a real `provledger serve`: events in over HTTP and the CLI, then
suspects, commit provenance, deployments, change-failure rate and the CI policy gate."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx

from tests.support.provstory import JO, MIA, PIA, SAM, TEAM, Story, sha

REPO = "shop/checkout"


def story() -> Story:
    s = Story()
    s.people(TEAM)
    ai = [{"tool": "claude-code", "model": "claude-sonnet-4-5", "mode": "agent", "lines": 180}]
    s.change(1, MIA, -300, lines_added=240, files=["src/pay/retry.py", "src/pay/client.py"], ai=ai)
    s.review(1, JO, -240, change="shop/checkout#481")  # approved, but by a junior
    s.change(2, SAM, -400, lines_added=6, files=["src/banner.py"])
    s.review(2, PIA, -380)
    s.deploy("dep-base", "checkout", "prod", -900, version="v1", repo=REPO, commit=sha(2))
    s.deploy("dep-staging", "checkout", "staging", -150, version="v2", repo=REPO, commit=sha(1))
    s.deploy("dep-culprit", "checkout", "prod", -40, version="v2", repo=REPO, commit=sha(1))
    s.deploy("dep-config", "checkout", "prod", -6, version="v3", fleet_percent=10)
    s.deploy("dep-search", "search", "prod", -2, version="s9")
    s.deploy("dep-after", "checkout", "prod", 12, version="v4")
    s.rollback("rb-1", "checkout", "prod", "v3", "v1", 20)
    s.incident("INC-77", ["checkout"], resolved=28, title="Checkout 500s on card payments")
    return s


def envelope(decoded) -> dict:
    return decoded.event.model_dump(mode="json", exclude_none=True)


def test_a_responder_finds_the_cause_and_ci_gates_the_commit(start_server):
    server = start_server()
    events = [envelope(d) for d in story().events]
    posted = httpx.post(f"{server.url}/v1/events", json=events, timeout=30)
    assert posted.status_code == 202, posted.text
    server.emit(
        "incident.attributed",
        {
            "incident": "INC-77",
            "verdict": "rejected",
            "by": {"id": SAM},
            "deployment": "dep-config",
        },
    )
    server.wait_for_events(len(events) + 1)

    # Suspects over HTTP: the rollback reverted v2 and v3; the config canary was rejected.
    body = server.get("/v1/incidents/INC-77/suspects", lookback="24h").json()
    ranked = [s["event_id"] for s in body["suspects"]]
    assert ranked == ["dep-culprit", "dep-base", "dep-config"]
    top = body["suspects"][0]
    codes = {r["code"] for r in top["reasons"]}
    assert {"rolled_back_during_incident", "ai_without_senior_approval", "agent_mode_ai"} <= codes
    change = top["changes"][0]
    assert change["repo"] == REPO and change["commit"] == sha(1) and change["author"] == MIA
    assert change["ai"][0]["tool"] == "claude-code" and change["senior_approved"] is False
    assert change["reviews"][0]["reviewer"] == JO
    assert change["reviews"][0]["reviewer_level"] == "junior"
    assert body["suspects"][-1]["reasons"][0]["code"] == "rejected_attribution"

    # The same through the CLI, as a table and as JSON.
    table = server.cli("suspects", "INC-77").stdout
    assert "dep-culprit" in table and "claude-code" in table
    as_json = json.loads(server.cli("suspects", "INC-77", "--json").stdout)
    assert as_json["suspects"][0]["event_id"] == "dep-culprit"

    # Provenance of the culprit commit.
    prov = server.get(f"/v1/commits/{sha(1)}").json()
    assert prov["authored"][0]["author_level"] == "mid"
    assert [d["event_id"] for d in prov["deployments"]] == ["dep-staging", "dep-culprit"]
    assert [r["rollback_event_id"] for r in prov["rollbacks"]] == ["rb-1"]
    assert prov["senior_approved"] is False
    assert server.get(f"/v1/commits/{sha(999)}").status_code == 404

    # Deployments of checkout in prod, in time order, with their changes.
    deployments = server.get("/v1/deployments", service="checkout", environment="prod").json()
    listed = [d["event_id"] for d in deployments["deployments"]]
    assert listed == ["dep-base", "dep-culprit", "dep-config", "dep-after"]
    culprit = deployments["deployments"][1]
    assert culprit["changes"][0]["commit"] == sha(1) and culprit["rolled_back_by"] == ["rb-1"]

    # Change-failure rate: dep-culprit and dep-config were reverted by rb-1.
    by_review = server.get("/v1/metrics/change-failure-rate", by="review").json()["groups"]
    assert {g["group"]: (g["deployments"], g["failed"]) for g in by_review} == {
        "ai_without_senior_approval": (2, 1),  # staging + prod of commit 1
        "no_ai": (4, 1),  # base, config (failed), search, after
    }

    # The CI gate (CONTRACT §3): 1 with the reason, 0 when compliant, 2 when unknown.
    failing = server.cli("check", "--repo", REPO, "--commit", sha(1), check=False)
    assert failing.returncode == 1
    assert "ai-change-needs-senior-approval" in failing.stderr
    assert "jo@shop approved but was junior" in failing.stderr
    passing = server.cli("check", "--repo", REPO, "--commit", sha(2), check=False)
    assert passing.returncode == 0, passing.stderr
    unknown = server.cli("check", "--repo", REPO, "--commit", sha(999), check=False)
    assert unknown.returncode == 2 and "unknown commit" in unknown.stderr

    schemas = server.get("/openapi.json").json()["components"]["schemas"]
    assert {"Suspect", "Change", "Provenance", "FailureRate", "PolicyResult"} <= set(schemas)


def test_serve_prepares_an_incident_opened_while_serving(start_server):
    server = start_server(verbose=True)
    now = Story(impact=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30))
    now.change(7, MIA, -60)
    now.deploy("dep-now", "checkout", "prod", -10, version="v9", repo=REPO, commit=sha(7))
    now.incident("INC-NOW", ["checkout"], opened=5)
    old = Story()  # opened in March: replayed history, not what a responder asks about next
    old.incident("INC-MARCH", ["checkout"])
    events = [envelope(d) for d in now.events + old.events]
    posted = httpx.post(f"{server.url}/v1/events", json=events, timeout=30)
    assert posted.status_code == 202, posted.text
    server.wait_for_events(len(events))

    said = server.output.wait_for("suspects prepared for incidents as written: INC-NOW", 30)
    assert "INC-MARCH" not in said
    body = server.get("/v1/incidents/INC-NOW/suspects").json()
    assert [s["event_id"] for s in body["suspects"]] == ["dep-now"]
