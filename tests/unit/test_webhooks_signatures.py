"""Each provider's signature check, on the raw body: a good signature passes; a missing one, a
wrong secret and a body changed after signing are refused; and the secrets stay secret."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from types import ModuleType

import pytest

from provenance_ledger.ledger.settings import Secrets, Settings
from provenance_ledger.query.api.webhooks import (
    alertmanager,
    github,
    gitlab,
    incidentio,
    pagerduty,
)
from provenance_ledger.query.api.webhooks.core import BadSecret, BadSignature
from tests.support import webhooks as samples

NOW = 1_772_640_000
BODY = samples.fixture_body("pagerduty/incident.triggered.json")
Sign = Callable[[bytes, str], dict[str, str]]

PROVIDERS: dict[str, tuple[ModuleType, Sign, str]] = {
    "github": (
        github,
        lambda body, secret: samples.github_headers(body, "push", "d-1", secret),
        samples.GITHUB_SECRET,
    ),
    "gitlab": (
        gitlab,
        lambda body, secret: samples.gitlab_headers("Merge Request Hook", "d-1", secret),
        samples.GITLAB_SECRET,
    ),
    "pagerduty": (
        pagerduty,
        lambda body, secret: samples.pagerduty_headers(body, secret),
        samples.PAGERDUTY_SECRET,
    ),
    "incident-io": (
        incidentio,
        lambda body, secret: samples.incident_io_headers(body, "msg_1", NOW, secret),
        samples.INCIDENT_IO_SECRET,
    ),
    "alertmanager": (
        alertmanager,
        lambda body, secret: samples.alertmanager_headers(secret),
        samples.ALERTMANAGER_SECRET,
    ),
}
# The header each provider's check reads (the one a forger would leave out).
SIGNATURE_HEADER = {
    "github": "x-hub-signature-256",
    "gitlab": "x-gitlab-token",
    "pagerduty": "x-pagerduty-signature",
    "incident-io": "webhook-signature",
    "alertmanager": "authorization",
}
# Schemes whose signature covers the body; GitLab's and Alertmanager's tokens do not.
SIGNS_THE_BODY = ("github", "pagerduty", "incident-io")


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def other_secret(provider: str) -> str:
    return samples.INCIDENT_IO_SECRET[:-8] + "AAAAAAA=" if provider == "incident-io" else "guess"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_good_signature_passes(provider):
    module, sign, secret = PROVIDERS[provider]
    module.verify(lower(sign(BODY, secret)), BODY, secret, NOW)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_missing_signature_is_refused(provider):
    module, sign, secret = PROVIDERS[provider]
    headers = lower(sign(BODY, secret))
    del headers[SIGNATURE_HEADER[provider]]
    with pytest.raises(BadSignature):
        module.verify(headers, BODY, secret, NOW)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_another_secret_is_refused(provider):
    module, sign, secret = PROVIDERS[provider]
    headers = lower(sign(BODY, other_secret(provider)))
    with pytest.raises(BadSignature):
        module.verify(headers, BODY, secret, NOW)


@pytest.mark.parametrize("provider", SIGNS_THE_BODY)
def test_a_body_changed_after_signing_is_refused(provider):
    module, sign, secret = PROVIDERS[provider]
    headers = lower(sign(BODY, secret))
    tampered = BODY.replace(b'"P1"', b'"P5"')
    assert tampered != BODY
    with pytest.raises(BadSignature):
        module.verify(headers, tampered, secret, NOW)


def test_pagerduty_takes_any_of_its_listed_signatures():
    headers = lower(samples.pagerduty_headers(BODY))
    assert headers["x-pagerduty-signature"].startswith("v1=000")  # the valid one comes second
    pagerduty.verify(headers, BODY, samples.PAGERDUTY_SECRET, NOW)
    headers["x-pagerduty-signature"] = headers["x-pagerduty-signature"].split(",")[0]
    with pytest.raises(BadSignature):
        pagerduty.verify(headers, BODY, samples.PAGERDUTY_SECRET, NOW)


@pytest.mark.parametrize("skew", [-301, 301])
def test_incident_io_refuses_a_delivery_signed_too_long_ago_or_ahead(skew):
    headers = lower(samples.incident_io_headers(BODY, "msg_1", NOW + skew))
    with pytest.raises(BadSignature, match="within 300 s"):
        incidentio.verify(headers, BODY, samples.INCIDENT_IO_SECRET, NOW)
    headers = lower(samples.incident_io_headers(BODY, "msg_1", NOW + skew // 2))
    incidentio.verify(headers, BODY, samples.INCIDENT_IO_SECRET, NOW)


def test_incident_io_signs_the_id_and_the_timestamp_too():
    headers = lower(samples.incident_io_headers(BODY, "msg_1", NOW))
    headers["webhook-id"] = "msg_2"
    with pytest.raises(BadSignature):
        incidentio.verify(headers, BODY, samples.INCIDENT_IO_SECRET, NOW)


def test_incident_io_refuses_a_secret_that_is_not_base64():
    headers = lower(samples.incident_io_headers(BODY, "msg_1", NOW))
    with pytest.raises(BadSecret, match="PROVLEDGER_WEBHOOK_INCIDENT_IO_SECRET"):
        incidentio.verify(headers, BODY, "whsec_not base64!", NOW)


def test_alertmanager_wants_a_bearer_token():
    headers = {"authorization": f"Basic {samples.ALERTMANAGER_SECRET}"}
    with pytest.raises(BadSignature):
        alertmanager.verify(headers, BODY, samples.ALERTMANAGER_SECRET, NOW)


def test_webhook_secrets_are_secretstr_never_shown_and_survive_a_copy():
    env = {name: value for name, value in samples.SECRETS_ENV.items() if "SECRET" in name}
    secrets = Settings.from_env(env).secrets
    for provider, (_, _, secret) in PROVIDERS.items():
        found = secrets.webhook(provider)
        assert found is not None and found.get_secret_value() == secret
        assert secret not in repr(secrets) and secret not in str(found)
    assert Settings.from_env({}).secrets.webhook("github") is None
    for twin in (copy.deepcopy(secrets), pickle.loads(pickle.dumps(secrets))):
        assert twin == secrets and twin.webhook("alertmanager") == secrets.webhook("alertmanager")
    assert Secrets(webhook_gitlab="a") != Secrets(webhook_github="a")
