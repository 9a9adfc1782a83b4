"""POST /v1/events applies the ledger's own checks before producing (issue 12, item 1): each
event that once stopped the consumer is a 422 naming its reason, never a 500 and never
produced; the valid event after them is ingested and nothing else is."""

from __future__ import annotations

import json

import httpx

from tests.support import hostile_events

JSON = {"content-type": "application/json"}


def _refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 422, f"{response.status_code}: {response.text[:300]}"
    body = response.json()
    assert body["ok"] is False and body["status"] == 422
    assert reason in [error["reason"] for error in body["errors"]], body


def test_each_hostile_event_is_a_422_with_its_reason(start_server) -> None:
    server = start_server()
    hostile = [item for item in hostile_events.records() if item.structured]
    assert len(hostile) >= 10
    for item in hostile:
        alone = httpx.post(f"{server.url}/v1/events", content=item.value, headers=JSON)
        _refused(alone, item.reason)
        valid = json.dumps(hostile_events.base_event(f"valid-{item.name}")).encode()
        batch = b"[" + valid + b", " + item.value + b"]"
        _refused(httpx.post(f"{server.url}/v1/events", content=batch, headers=JSON), item.reason)
    as_text = httpx.post(
        f"{server.url}/v1/events",
        content=json.dumps(hostile_events.base_event("as-text")),
        headers={"content-type": "text/plain"},
    )
    assert as_text.status_code == 415, as_text.text
    # Nothing of the refused requests reached Kafka: only this event is ever ingested.
    last = httpx.post(f"{server.url}/v1/events", json=hostile_events.base_event("last"))
    assert last.status_code == 202, last.text
    health = server.wait_for_events(1)
    assert (health["events"], health["dead_letters"]) == (1, 0)
    rows = httpx.post(f"{server.url}/v1/sql", json={"sql": "SELECT id FROM events"}).json()
    assert rows["rows"] == [["hostile-last"]]
