"""The whole path on real parts: CLI emit → Kafka → ledger → DuckDB → HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

IMPACT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SHA_CULPRIT = "1" * 40
SHA_OTHER = "2" * 40


def at(minutes_before: int) -> str:
    return (IMPACT - timedelta(minutes=minutes_before)).isoformat()


# One server for the module: the 404 test stores nothing the other test would count.
@pytest.fixture(scope="module")
def server(start_module_server):
    return start_module_server()


def test_emitted_events_reach_the_suspects_endpoint(server):
    server.emit(
        "person.registered",
        {"person": {"id": "mia@shop.example", "name": "Mia", "level": "mid"}},
        "--time",
        at(10_000),
    )
    server.emit(
        "change.authored",
        {
            "repo": "shop/checkout",
            "commit": SHA_CULPRIT,
            "author": {"id": "mia@shop.example"},
            "ai": [{"tool": "cursor", "model": "gpt-5", "mode": "agent"}],
        },
        "--time",
        at(300),
    )
    deploys = [
        ("checkout", "prod", SHA_CULPRIT, 12, "dep-culprit"),
        ("checkout", "prod", SHA_OTHER, 200, "dep-older"),
        ("search", "prod", SHA_OTHER, 2, "dep-other-service"),
        ("checkout", "staging", SHA_OTHER, 5, "dep-staging"),
    ]
    for service, environment, sha, minutes, event_id in deploys:
        server.emit(
            "service.deployed",
            {
                "service": service,
                "environment": environment,
                "version": event_id,
                "repo": "shop/checkout",
                "commit": sha,
            },
            "--time",
            at(minutes),
            "--id",
            event_id,
            "--format",
            "json",
        )
    server.emit(
        "service.deployed",
        {"service": "checkout", "environment": "prod", "version": "after", "commit": SHA_OTHER},
        "--time",
        (IMPACT + timedelta(minutes=5)).isoformat(),
        "--id",
        "dep-after",
    )
    server.emit(
        "incident.opened",
        {
            "incident": "INC-1",
            "severity": "sev1",
            "services": ["checkout"],
            "environment": "prod",
            "impact_started_at": IMPACT.isoformat(),
        },
        "--time",
        (IMPACT + timedelta(minutes=4)).isoformat(),
    )

    health = server.wait_for_events(8)
    assert health["events"] == 8
    assert health["dead_letters"] == 0

    incident = server.get("/v1/incidents/INC-1").json()
    assert incident["severity"] == "sev1"
    assert incident["impact_started_at"].startswith("2026-03-01T12:00:00")

    body = server.get("/v1/incidents/INC-1/suspects").json()
    ids = [suspect["event_id"] for suspect in body["suspects"]]
    assert ids[0] == "dep-culprit"
    assert "dep-other-service" not in ids
    assert "dep-staging" not in ids
    assert "dep-after" not in ids
    assert [suspect["rank"] for suspect in body["suspects"]] == list(range(1, len(ids) + 1))


def test_unknown_incident_is_a_404_in_the_error_shape(server):
    response = server.get("/v1/incidents/INC-404")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "unknown incident 'INC-404'", "status": 404}
