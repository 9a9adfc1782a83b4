"""The webhook routes' answers that need no broker: off (404) while a provider has no secret,
401 for a bad signature and 400 for a signed body that is not JSON, nothing published."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from provenance_ledger.ledger.settings import Secrets, Settings
from provenance_ledger.query.api.app import create_app
from provenance_ledger.query.api.state import Limits
from tests.support import webhooks as samples


def never_publish(events):
    raise AssertionError(f"published {events}")


def client(secrets: Secrets) -> TestClient:
    state = SimpleNamespace(
        limits=Limits(),
        tokens=None,
        auth_required=lambda: False,
        bind_host="127.0.0.1",
        settings=replace(Settings(), secrets=secrets),
        publish=never_publish,
    )
    return TestClient(create_app(state), base_url="http://127.0.0.1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "provider", ["github", "gitlab", "pagerduty", "incident-io", "alertmanager"]
)
def test_a_provider_without_a_secret_is_not_there(provider):
    answer = client(Secrets()).post(f"/v1/webhooks/{provider}", content=b"{}")
    assert answer.status_code == 404
    variable = f"PROVLEDGER_WEBHOOK_{provider.upper().replace('-', '_')}_SECRET"
    assert answer.json() == {
        "ok": False,
        "error": f"the {provider} webhook is off: {variable} is unset",
        "status": 404,
    }


def test_a_bad_signature_is_401_and_publishes_nothing():
    body = samples.fixture_body("pagerduty/incident.triggered.json")
    answer = client(Secrets(webhook_pagerduty="right")).post(
        "/v1/webhooks/pagerduty", content=body, headers=samples.pagerduty_headers(body, "wrong")
    )
    assert answer.status_code == 401
    assert (
        answer.json()["error"]
        == "refused: no v1 signature in X-PagerDuty-Signature matches the body"
    )


def test_a_signed_body_that_is_not_json_is_400():
    body = b"payload=%7B%7D"  # GitHub's form encoding, when the hook is set up that way
    headers = samples.github_headers(body, "push", "d-1", "s3cret")
    answer = client(Secrets(webhook_github="s3cret")).post(
        "/v1/webhooks/github", content=body, headers=headers
    )
    assert answer.status_code == 400
    assert "application/json" in answer.json()["error"]
