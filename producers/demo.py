"""The demo incident story loaded by ``provledger up``.

A mid-level engineer ships an AI-written change to checkout, approved only by a junior
colleague; it goes to prod and a sev1 follows. Other services deploy around it, so the
ranking has something to tell apart. Times and ids are fixed: loading twice is harmless.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

DEMO_INCIDENT = "INC-DEMO-1"
SOURCE = "demo/provledger"
IMPACT = datetime(2026, 11, 20, 13, 42, tzinfo=UTC)

ALICE = {"id": "alice@acme.example", "name": "Alice Moreau"}
BOB = {"id": "bob@acme.example", "name": "Bob Okafor"}
CAROL = {"id": "carol@acme.example", "name": "Carol Ng"}
DAVE = {"id": "dave@acme.example", "name": "Dave Silva"}
CI = {"id": "ci@acme.example", "kind": "automation"}
CHECKOUT_CHANGE = "a1c3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9"
SEARCH_CHANGE = "b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0"
PAYMENTS_CHANGE = "c3e5a7b9d1f3c5e7a9b1d3f5c7e9a1b3d5f7c9e1"


class DemoEvent(NamedTuple):
    type: str
    data: dict[str, Any]
    id: str
    time: datetime


def _at(minutes_before_impact: int) -> datetime:
    return IMPACT - timedelta(minutes=minutes_before_impact)


def _person(event_id: str, person: dict[str, str], level: str, team: str) -> DemoEvent:
    data = {"person": {**person, "level": level, "team": team}}
    return DemoEvent("person.registered", data, event_id, _at(30 * 24 * 60))


def _deployed(event_id: str, minutes: int, **data: Any) -> DemoEvent:
    """A deployment by CI of one commit (``commit``), the only one it ships."""
    data = {**data, "commits": [data["commit"]], "deployer": CI}
    return DemoEvent("service.deployed", data, event_id, _at(minutes))


# In the order they are sent.
STORY: tuple[DemoEvent, ...] = (
    _person("p-alice", ALICE, "mid", "checkout"),
    _person("p-bob", BOB, "senior", "search"),
    _person("p-carol", CAROL, "principal", "payments"),
    _person("p-dave", DAVE, "junior", "checkout"),
    DemoEvent(
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
    DemoEvent(
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
    DemoEvent(
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
    DemoEvent(
        "change.reviewed",
        {"repo": "acme/search", "commit": SEARCH_CHANGE, "reviewer": CAROL, "decision": "approved"},
        "rev-search",
        _at(380),
    ),
    DemoEvent(
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
    _deployed(
        "dep-checkout-staging",
        150,
        service="checkout",
        environment="staging",
        version="2026.11.20-1",
        repo="acme/checkout",
        commit=CHECKOUT_CHANGE,
    ),
    _deployed(
        "dep-search-prod",
        25,
        service="search",
        environment="prod",
        version="2026.11.20-3",
        repo="acme/search",
        commit=SEARCH_CHANGE,
    ),
    _deployed(
        "dep-checkout-prod",
        9,
        service="checkout",
        environment="prod",
        region="eu-west-1",
        version="2026.11.20-1",
        repo="acme/checkout",
        commit=CHECKOUT_CHANGE,
        fleet_percent=100,
    ),
    _deployed(
        "dep-payments-prod",
        4,
        service="payments",
        environment="prod",
        version="2026.11.20-2",
        repo="acme/payments",
        commit=PAYMENTS_CHANGE,
    ),
    DemoEvent(
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
)


def demo_events() -> list[tuple[str, dict[str, Any], str, datetime]]:
    """(type, data, id, time) for each event of the story, as :data:`STORY` sends them; the
    data are copies, so a caller may change them."""
    return [(event.type, copy.deepcopy(event.data), event.id, event.time) for event in STORY]
