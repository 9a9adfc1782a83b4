"""The demo incident story loaded by ``provledger up``.

A mid-level engineer ships an AI-written change to checkout, approved only by a junior
colleague; it goes to prod and a sev1 follows. Other services deploy around it, so the
ranking has something to tell apart. Times and ids are fixed: loading twice is harmless.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

DEMO_INCIDENT = "INC-DEMO-1"
SOURCE = "demo/provledger"
IMPACT = datetime(2026, 11, 20, 13, 42, tzinfo=UTC)

ALICE = {"id": "alice@acme.example", "name": "Alice Moreau"}
BOB = {"id": "bob@acme.example", "name": "Bob Okafor"}
CAROL = {"id": "carol@acme.example", "name": "Carol Ng"}
DAVE = {"id": "dave@acme.example", "name": "Dave Silva"}
CHECKOUT_CHANGE = "a1c3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9"
SEARCH_CHANGE = "b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0"
PAYMENTS_CHANGE = "c3e5a7b9d1f3c5e7a9b1d3f5c7e9a1b3d5f7c9e1"


def _at(minutes_before_impact: int) -> datetime:
    return IMPACT - timedelta(minutes=minutes_before_impact)


def demo_events() -> list[tuple[str, dict[str, Any], str, datetime]]:
    """(type, data, id, time) for each event of the story, in the order they happened."""
    people = [
        ("p-alice", {**ALICE, "level": "mid", "team": "checkout"}),
        ("p-bob", {**BOB, "level": "senior", "team": "search"}),
        ("p-carol", {**CAROL, "level": "principal", "team": "payments"}),
        ("p-dave", {**DAVE, "level": "junior", "team": "checkout"}),
    ]
    story: list[tuple[str, dict[str, Any], str, datetime]] = [
        ("person.registered", {"person": person}, event_id, _at(30 * 24 * 60))
        for event_id, person in people
    ]
    story += [
        (
            "change.authored",
            {
                "repo": "acme/checkout",
                "commit": CHECKOUT_CHANGE,
                "author": ALICE,
                "files": ["src/payment/retry.py", "src/payment/client.py"],
                "lines_added": 212,
                "lines_deleted": 40,
                "message": "Retry card authorisation with exponential backoff",
                "ai": [
                    {
                        "tool": "claude-code",
                        "model": "claude-sonnet-4-5",
                        "mode": "agent",
                        "lines": 190,
                        "session": "demo-session-1",
                    }
                ],
            },
            "chg-checkout",
            _at(300),
        ),
        (
            "change.reviewed",
            {
                "repo": "acme/checkout",
                "commit": CHECKOUT_CHANGE,
                "change": "acme/checkout#481",
                "reviewer": DAVE,
                "decision": "approved",
            },
            "rev-checkout",
            _at(240),
        ),
        (
            "change.authored",
            {
                "repo": "acme/search",
                "commit": SEARCH_CHANGE,
                "author": BOB,
                "files": ["ranking/boost.py"],
                "lines_added": 12,
                "lines_deleted": 3,
                "message": "Boost in-stock items",
            },
            "chg-search",
            _at(400),
        ),
        (
            "change.reviewed",
            {
                "repo": "acme/search",
                "commit": SEARCH_CHANGE,
                "reviewer": CAROL,
                "decision": "approved",
            },
            "rev-search",
            _at(380),
        ),
        (
            "change.authored",
            {
                "repo": "acme/payments",
                "commit": PAYMENTS_CHANGE,
                "author": CAROL,
                "files": ["README.md"],
                "lines_added": 4,
                "lines_deleted": 1,
                "message": "Document the settlement job",
            },
            "chg-payments",
            _at(200),
        ),
        (
            "service.deployed",
            {
                "service": "checkout",
                "environment": "staging",
                "version": "2026.11.20-1",
                "repo": "acme/checkout",
                "commit": CHECKOUT_CHANGE,
                "commits": [CHECKOUT_CHANGE],
                "deployer": {"id": "ci@acme.example", "kind": "automation"},
            },
            "dep-checkout-staging",
            _at(150),
        ),
        (
            "service.deployed",
            {
                "service": "search",
                "environment": "prod",
                "version": "2026.11.20-3",
                "repo": "acme/search",
                "commit": SEARCH_CHANGE,
                "commits": [SEARCH_CHANGE],
                "deployer": {"id": "ci@acme.example", "kind": "automation"},
            },
            "dep-search-prod",
            _at(25),
        ),
        (
            "service.deployed",
            {
                "service": "checkout",
                "environment": "prod",
                "region": "eu-west-1",
                "version": "2026.11.20-1",
                "repo": "acme/checkout",
                "commit": CHECKOUT_CHANGE,
                "commits": [CHECKOUT_CHANGE],
                "deployer": {"id": "ci@acme.example", "kind": "automation"},
                "fleet_percent": 100,
            },
            "dep-checkout-prod",
            _at(9),
        ),
        (
            "service.deployed",
            {
                "service": "payments",
                "environment": "prod",
                "version": "2026.11.20-2",
                "repo": "acme/payments",
                "commit": PAYMENTS_CHANGE,
                "commits": [PAYMENTS_CHANGE],
                "deployer": {"id": "ci@acme.example", "kind": "automation"},
            },
            "dep-payments-prod",
            _at(4),
        ),
        (
            "incident.opened",
            {
                "incident": DEMO_INCIDENT,
                "title": "Checkout returns 500 for card payments",
                "severity": "sev1",
                "services": ["checkout"],
                "environment": "prod",
                "impact_started_at": IMPACT.isoformat(),
            },
            "inc-demo-opened",
            IMPACT + timedelta(minutes=3),
        ),
    ]
    return story
