"""Webhook deliveries as the providers send them: their recorded payloads, signed (or not).

GitHub's payloads are octokit's recorded examples in the shared data folder (read there, never
copied); the others are samples shaped as their docs show, in tests/fixtures/webhooks/. Where a
case has no recorded GitHub payload (an approval, a merged pull request, a push with an AI
trailer), :func:`github_variant` derives it from the nearest recorded one, changing only the
fields the case is about.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parents[1]
FIXTURES = TESTS / "fixtures" / "webhooks"
MAPPING = FIXTURES / "mapping.yaml"
GITHUB_PAYLOADS = TESTS.parent.parent / "shared" / "data" / "github-webhooks-payloads"

GITHUB_SECRET = "It's a Secret to Everybody"
GITLAB_SECRET = "gitlab-token-for-tests"
PAGERDUTY_SECRET = "pagerduty-v3-signing-secret"
INCIDENT_IO_SECRET = "whsec_" + base64.b64encode(b"incident.io key for the tests").decode()
ALERTMANAGER_SECRET = "alertmanager-bearer-for-tests"
SECRETS_ENV = {
    "PROVLEDGER_WEBHOOK_GITHUB_SECRET": GITHUB_SECRET,
    "PROVLEDGER_WEBHOOK_GITLAB_SECRET": GITLAB_SECRET,
    "PROVLEDGER_WEBHOOK_PAGERDUTY_SECRET": PAGERDUTY_SECRET,
    "PROVLEDGER_WEBHOOK_INCIDENT_IO_SECRET": INCIDENT_IO_SECRET,
    "PROVLEDGER_WEBHOOK_ALERTMANAGER_SECRET": ALERTMANAGER_SECRET,
    "PROVLEDGER_WEBHOOK_MAPPING": str(MAPPING),
}
# The recorded pull request's head (the reviewed revision) and GitHub's merge commit for it.
PR_HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
PR_MERGE = "c4295bd74fb0f4fda03689c3df3f2803b658fd85"
PUSHED_SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
DEPLOYED_SHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
GITHUB_REPO = "Codertocat/Hello-World"
CODERTOCAT = {"id": "codertocat@acme.com", "name": "Codertocat"}

# What the recorded deliveries mean with mapping.yaml: the data of the event each one is, as
# mapping them (unit) and storing them through a real server (e2e) must both find.
GITHUB_REVIEWED = {
    "repo": GITHUB_REPO,
    "commit": PR_HEAD,
    "change": "2",
    "reviewer": CODERTOCAT,
    "decision": "approved",
}
GITHUB_MERGED = {
    "repo": GITHUB_REPO,
    "commit": PR_MERGE,
    "commits": [PR_HEAD],
    "change": "2",
    "target_branch": "master",
    "merged_by": CODERTOCAT,
}
GITHUB_AUTHORED = {
    "repo": GITHUB_REPO,
    "commit": PUSHED_SHA,
    "author": CODERTOCAT,
    "files": ["README.md"],
    "message": "Initial commit\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
    "ai": [{"tool": "claude-code", "mode": "agent"}],
}
GITHUB_DEPLOYED = {
    "service": "Hello-World",
    "environment": "prod",
    "version": DEPLOYED_SHA,
    "repo": GITHUB_REPO,
    "commit": DEPLOYED_SHA,
    "deployer": {**CODERTOCAT, "kind": "human"},
}
PAGERDUTY_OPENED = {
    "incident": "pagerduty:PGR0VU2",
    "title": "Checkout error rate above 5%",
    "severity": "sev1",
    "services": ["checkout"],
    "environment": "prod",
    "impact_started_at": "2026-03-02T14:04:58+00:00",
}
PAGERDUTY_RESOLVED = {"incident": "pagerduty:PGR0VU2", "resolved_at": "2026-03-02T14:41:27+00:00"}
INCIDENT_IO_OPENED = {
    "incident": "INC-2042",
    "title": "Search results empty for logged-in users",
    "severity": "sev2",
    "services": ["search"],
    "environment": "prod",
    "impact_started_at": "2026-03-04T16:02:00+00:00",
}
INCIDENT_IO_RESOLVED = {
    "incident": "INC-2042",
    "resolved_at": "2026-03-04T17:05:42.101000+00:00",
}


def github_dir() -> Path:
    if not GITHUB_PAYLOADS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{GITHUB_PAYLOADS} is missing (CI is set, so this fails)")
        pytest.skip(f"{GITHUB_PAYLOADS} is absent: the shared data is not beside this checkout")
    return GITHUB_PAYLOADS


def github_body(name: str) -> bytes:
    """A recorded GitHub payload's bytes, as octokit recorded them (``push/payload.json``)."""
    return (github_dir() / name).read_bytes()


def github_variant(name: str) -> bytes:
    """A case the recorded payloads lack, derived from the nearest one (see the module doc)."""
    if name == "pull_request_review/approved":
        payload = json.loads(github_body("pull_request_review/submitted.payload.json"))
        payload["review"]["state"] = "approved"
    elif name == "pull_request/merged":
        payload = json.loads(github_body("pull_request/closed.payload.json"))
        pull = payload["pull_request"]
        pull.update(merged=True, merged_at=pull["closed_at"], merged_by=pull["user"])
    elif name == "push/ai":
        payload = json.loads(github_body("push/with-new-branch.payload.json"))
        authored = payload["commits"][0]
        authored["message"] += "\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"
        merged = copy.deepcopy(authored)
        merged.update(id=PR_MERGE, message="Update README (#2)")
        merged["committer"] = {
            "name": "GitHub",
            "email": "noreply@github.com",
            "username": "web-flow",
        }
        payload["commits"].append(merged)
        payload["head_commit"] = merged
    else:
        raise KeyError(name)
    return json.dumps(payload, indent=2).encode()


def fixture_body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_body(name))


def github_headers(body: bytes, event: str, delivery: str, secret: str = GITHUB_SECRET) -> dict:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={signature}",
        "Content-Type": "application/json",
    }


def gitlab_headers(event: str, delivery: str, token: str = GITLAB_SECRET) -> dict:
    return {
        "X-Gitlab-Event": event,
        "X-Gitlab-Event-UUID": delivery,
        "X-Gitlab-Token": token,
        "Content-Type": "application/json",
    }


def pagerduty_headers(body: bytes, secret: str = PAGERDUTY_SECRET) -> dict:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    # PagerDuty lists one signature per active secret; an unrelated one first, as in rotation.
    return {
        "X-PagerDuty-Signature": f"v1={'0' * 64},v1={signature}",
        "Content-Type": "application/json",
    }


def incident_io_headers(
    body: bytes, delivery: str, timestamp: int, secret: str = INCIDENT_IO_SECRET
) -> dict:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{delivery}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": delivery,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
        "Content-Type": "application/json",
    }


def alertmanager_headers(secret: str = ALERTMANAGER_SECRET) -> dict:
    return {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
