"""What each recorded delivery means in the ledger: every GitHub payload octokit recorded, and
the samples of the other providers, mapped to exact events (or ignored, with the reason), with
the mapping file of tests/fixtures/webhooks/mapping.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from provenance_ledger.query.api.webhooks import (
    alertmanager,
    github,
    gitlab,
    incidentio,
    pagerduty,
)
from provenance_ledger.query.api.webhooks.core import Context, Delivery, envelopes
from provenance_ledger.query.api.webhooks.mapping import MappingError, load_mapping
from provenance_ledger.schemas.codec import DecodeError, validate_event
from tests.support import webhooks as samples

CONTEXT = Context(load_mapping(samples.MAPPING))
SOURCE = f"webhook/github/{samples.GITHUB_REPO}"
# Every recorded GitHub payload: the event types it means, or why it is ignored.
GITHUB_RECORDED = {
    "deployment/gh-pages.payload.json": "not one the ledger records",
    "deployment/payload.json": "not one the ledger records",
    "deployment/with-installation.payload.json": "not one the ledger records",
    "deployment_status/gh-pages.payload.json": "a deployment in_progress",
    "deployment_status/payload.json": ["service.deployed"],
    "deployment_status/with-installation.payload.json": ["service.deployed"],
    "pull_request/closed.payload.json": "closed without merging",
    "pull_request/closed.with-organization.payload.json": "closed without merging",
    "pull_request/opened.payload.json": "a pull request opened",
    "pull_request/opened.with-null-body.json": "a pull request opened",
    "pull_request/opened.with-organization.payload.json": "a pull request opened",
    "pull_request/synchronize.payload.json": "a pull request synchronize",
    "pull_request_review/dismissed.payload.json": "a review dismissed",
    "pull_request_review/submitted.payload.json": ["change.reviewed"],
    "pull_request_review/submitted.with-organization.payload.json": ["change.reviewed"],
    "push/1.payload.json": "a push deleting refs/tags/simple-tag",
    "push/payload.json": "a push deleting refs/tags/simple-tag",
    "push/with-installation.payload.json": "a push deleting refs/tags/simple-tag",
    "push/with-new-branch.payload.json": ["change.authored"],
    "push/with-no-username-committer.payload.json": ["change.authored"],
    "push/with-organization.payload.json": "a push deleting refs/tags/simple-tag",
}


def mapped(module: ModuleType, body: bytes, headers: dict[str, str]) -> tuple[list[dict], Any]:
    """The envelopes a delivery means, each checked by the ledger's own validation."""
    payload = json.loads(body)
    delivery = module.delivery({k.lower(): v for k, v in headers.items()}, payload)
    outcome = module.map_payload(payload, delivery, CONTEXT)
    return envelopes(outcome, delivery), outcome


def stored(envelope: dict) -> bool:
    return not isinstance(validate_event(envelope), DecodeError)


def event(event_id: str, source: str, kind: str, time: str, data: dict, origin: str) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": f"dev.provledger.{kind}.v1",
        "time": time,
        "provledgerorigin": f"webhook:{origin}",
        "provledgerdelivery": event_id.split(":")[0] if origin == "github" else event_id,
        "data": data,
    }


def test_the_recorded_github_payloads_are_all_here():
    found = {
        path.relative_to(samples.github_dir()).as_posix()
        for path in samples.github_dir().rglob("*.json")
    }
    assert found == set(GITHUB_RECORDED)


@pytest.mark.parametrize("name", sorted(GITHUB_RECORDED))
def test_every_recorded_github_payload_means_what_the_table_says(name):
    headers = samples.github_headers(b"", name.split("/")[0], "d-1")
    events, outcome = mapped(github, samples.github_body(name), headers)
    expected = GITHUB_RECORDED[name]
    if isinstance(expected, str):
        assert events == [] and expected in (outcome.ignored or "")
    else:
        assert [e["type"] for e in events] == [f"dev.provledger.{t}.v1" for t in expected]
        assert all(stored(e) for e in events) and outcome.ignored is None


# Each GitHub event the ledger records, from one delivery: (X-GitHub-Event, the payload, the
# event type, its time, its data).
GITHUB_MEANS = {
    "a submitted approval is a review of the reviewed commit": (
        "pull_request_review",
        lambda: samples.github_variant("pull_request_review/approved"),
        "change.reviewed",
        "2019-05-15T15:20:38+00:00",
        samples.GITHUB_REVIEWED,
    ),
    "a merged pull request links the merge commit to the reviewed head": (
        "pull_request",
        lambda: samples.github_variant("pull_request/merged"),
        "change.merged",
        "2019-05-15T15:21:18+00:00",
        samples.GITHUB_MERGED,
    ),
    "a push to the default branch authors its commits but GitHub's merge commits": (
        "push",
        lambda: samples.github_variant("push/ai"),
        "change.authored",
        "2019-05-15T15:19:25+00:00",
        samples.GITHUB_AUTHORED,
    ),
    "a successful deployment status is a deployment of its sha": (
        "deployment_status",
        lambda: samples.github_body("deployment_status/payload.json"),
        "service.deployed",
        "2019-05-15T15:20:55+00:00",
        samples.GITHUB_DEPLOYED,
    ),
}


@pytest.mark.parametrize("case", GITHUB_MEANS)
def test_a_github_delivery_means_its_event(case):
    kind, body, event_type, time, data = GITHUB_MEANS[case]
    headers = samples.github_headers(b"", kind, "d-1")
    events, _ = mapped(github, body(), headers)
    assert events == [event("d-1", SOURCE, event_type, time, data, "github")]


def test_a_failed_deployment_is_recorded_with_its_status():
    payload = json.loads(samples.github_body("deployment_status/payload.json"))
    payload["deployment_status"]["state"] = "failure"
    headers = samples.github_headers(b"", "deployment_status", "dep-2")
    events, _ = mapped(github, json.dumps(payload).encode(), headers)
    assert events[0]["data"]["status"] == "failure" and stored(events[0])


def test_gitlab_merge_request_events_and_deployments():
    gitlab_source = "webhook/gitlab/acme/shop"
    head, merge = (
        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "4c8e2b9f1a7d3e6c5b0a9f8e7d6c5b4a3f2e1d0c",
    )
    carol = {"id": "carol@acme.com", "name": "Carol Release"}
    cases = {
        "gitlab/merge_request.approval.json": event(
            "gl-1",
            gitlab_source,
            "change.reviewed",
            "2026-03-01T10:02:44+00:00",
            {
                "repo": "acme/shop",
                "commit": head,
                "change": "7",
                "reviewer": {"id": "alice@acme.com", "name": "Alice Senior"},
                "decision": "approved",
            },
            "gitlab",
        ),
        "gitlab/merge_request.merge.json": event(
            "gl-1",
            gitlab_source,
            "change.merged",
            "2026-03-01T10:15:03+00:00",
            {
                "repo": "acme/shop",
                "commit": merge,
                "commits": [head],
                "change": "7",
                "target_branch": "main",
                "merged_by": carol,
            },
            "gitlab",
        ),
        "gitlab/deployment.success.json": event(
            "gl-1",
            gitlab_source,
            "service.deployed",
            "2026-03-01T10:30:00+00:00",
            {
                "service": "shop",
                "environment": "prod",
                "version": merge,
                "repo": "acme/shop",
                "commit": merge,
                "deployer": carol,
            },
            "gitlab",
        ),
    }
    for name, expected in cases.items():
        events, _ = mapped(gitlab, samples.fixture_body(name), samples.gitlab_headers("x", "gl-1"))
        assert events == [expected], name
    running = samples.fixture_body("gitlab/deployment.running.json")
    events, outcome = mapped(gitlab, running, samples.gitlab_headers("x", "gl-2"))
    assert events == [] and "running" in (outcome.ignored or "")


def test_gitlab_prefers_the_idempotency_key_that_retries_keep():
    headers = {"idempotency-key": "key-1", "x-gitlab-event-uuid": "uuid-1"}
    assert gitlab.delivery(headers, {}) == Delivery("gitlab", "key-1", None)


def test_pagerduty_triggered_and_resolved():
    opened, _ = mapped(pagerduty, samples.fixture_body("pagerduty/incident.triggered.json"), {})
    assert opened == [
        event(
            "5ac64822-4adc-4fda-ade0-410becf0de4f",
            "webhook/pagerduty",
            "incident.opened",
            "2026-03-02T14:05:10+00:00",
            samples.PAGERDUTY_OPENED,
            "pagerduty",
        )
    ]
    resolved, _ = mapped(pagerduty, samples.fixture_body("pagerduty/incident.resolved.json"), {})
    assert [e["data"] for e in resolved] == [samples.PAGERDUTY_RESOLVED]
    ack, outcome = mapped(
        pagerduty, samples.fixture_body("pagerduty/incident.acknowledged.json"), {}
    )
    assert ack == [] and "incident.acknowledged" in (outcome.ignored or "")


def test_an_unmapped_service_makes_an_event_the_ledger_dead_letters_naming_it():
    payload = samples.fixture_json("pagerduty/incident.triggered.json")
    payload["event"]["data"]["service"].update(id="PNEW123", summary="Fraud Checks")
    events, _ = mapped(pagerduty, json.dumps(payload).encode(), {})
    data = events[0]["data"]
    assert data["unmapped_services"] == ["pagerduty service PNEW123 (Fraud Checks)"]
    assert data["services"] == [] and next(iter(data)) == "unmapped_services"
    refused = validate_event(events[0])
    assert isinstance(refused, DecodeError) and refused.detail.startswith(
        "data: no ledger service is mapped for the provider's services pagerduty service PNEW123"
    )


def test_incident_io_declared_then_closed():
    created, _ = mapped(
        incidentio,
        samples.fixture_body("incident-io/incident_created_v2.json"),
        {"webhook-id": "msg_a"},
    )
    assert created == [
        event(
            "msg_a",
            "webhook/incident-io",
            "incident.opened",
            "2026-03-04T16:20:11.512000+00:00",
            samples.INCIDENT_IO_OPENED,
            "incident-io",
        )
    ]
    closed, _ = mapped(
        incidentio,
        samples.fixture_body("incident-io/incident_status_updated_v2.json"),
        {"webhook-id": "msg_b"},
    )
    assert [(e["id"], e["data"]) for e in closed] == [("msg_b", samples.INCIDENT_IO_RESOLVED)]


@pytest.mark.parametrize(
    ("category", "mode", "types"),
    [
        ("triage", "standard", []),
        ("live", "test", []),
        ("closed", "retrospective", ["incident.opened", "incident.resolved"]),
    ],
)
def test_incident_io_triage_tests_and_retrospectives(category, mode, types):
    payload = samples.fixture_json("incident-io/incident_created_v2.json")
    incident = payload["public_incident.incident_created_v2"]
    incident["incident_status"]["category"], incident["mode"] = category, mode
    events, _ = mapped(incidentio, json.dumps(payload).encode(), {"webhook-id": "msg_c"})
    assert [e["type"] for e in events] == [f"dev.provledger.{t}.v1" for t in types]
    assert [e["id"] for e in events] == [f"msg_c:{t.split('.')[1]}" for t in types]


def test_alertmanager_firing_then_resolved_share_the_incident():
    firing, _ = mapped(alertmanager, samples.fixture_body("alertmanager/firing.json"), {})
    resolved, _ = mapped(alertmanager, samples.fixture_body("alertmanager/resolved.json"), {})
    opened = firing[0]["data"]
    assert opened == {
        "incident": resolved[0]["data"]["incident"],
        "title": "Payments 5xx rate above 2%",
        "severity": "sev1",
        "services": ["payments"],
        "environment": "prod",
        "impact_started_at": "2026-03-03T09:12:00+00:00",
    }
    assert resolved[0]["data"]["resolved_at"] == "2026-03-03T09:47:00+00:00"
    assert opened["incident"].startswith("alertmanager:") and firing[0]["id"] != resolved[0]["id"]
    again, _ = mapped(alertmanager, samples.fixture_body("alertmanager/firing.json"), {})
    assert again == firing  # a repeated notification is the same event


def test_the_mapping_file_is_checked_and_read_again_when_it_changes(tmp_path: Path):
    path = tmp_path / "mapping.yaml"
    path.write_text("pagerduty:\n  services:\n    P1: {service: a}\n")
    assert load_mapping(path).pagerduty.target("P1").service == "a"  # type: ignore[union-attr]
    path.write_text("pagerduty:\n  services:\n    P1: {service: bb}\n")
    assert load_mapping(path).pagerduty.target("P1").service == "bb"  # type: ignore[union-attr]
    path.write_text("pagerduty:\n  servces: {}\n")
    with pytest.raises(MappingError, match="servces"):
        load_mapping(path)


def test_severities_from_the_file_then_common_names_then_the_default():
    mapping = load_mapping(samples.MAPPING)
    io = mapping.incident_io
    assert mapping.severity(mapping.alertmanager, "Warning") == "sev3"
    assert [mapping.severity(io, name) for name in ("P2", "SEV 4", "Critical", "odd")] == [
        "sev2",
        "sev4",
        "sev1",
        "sev3",
    ]
