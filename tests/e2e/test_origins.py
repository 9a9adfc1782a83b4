"""Origins through a real ``provledger serve``: a senior approval (and a level) produced straight
to Kafka with a forged origin header is stored as ``kafka`` and ignored by a gate that trusts
only webhooks and the HR sync's token, and ``provledger check`` names it; the same approval
delivered by the signed GitHub webhook is stored as ``webhook:github`` and counts."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml
from kafka import KafkaProducer

from provenance_ledger.ledger import origin
from provenance_ledger.ledger.settings import Settings
from tests.support import webhooks as samples
from tests.support.servers import provledger_command, server_env
from tests.support.waiting import wait_until

REPO = "Codertocat/Hello-World"
CODERTOCAT = {"id": "codertocat@acme.com", "name": "Codertocat"}
BOB = {"id": "bob@acme.com"}
TRUSTED = ["webhook:*", "api-token:hr-sync"]


def event(event_id: str, kind: str, data: dict, day: int = 1) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "test/origins",
        "type": f"dev.provledger.{kind}.v1",
        "time": datetime(2019, 5, day, tzinfo=UTC).isoformat(),
        "data": data,
    }


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*provledger_command(), *args], env=env, capture_output=True, text=True, timeout=60
    )


def policy_trusting(path: Path, patterns: list[str]) -> Path:
    packaged = Path(origin.__file__).parents[1] / "query" / "policy" / "policy.yaml"
    policy = yaml.safe_load(packaged.read_text())
    for rule in policy["rules"]:
        if rule["kind"] == "ai-change-approval":
            rule["trusted_origins"] = patterns
    path.write_text(yaml.safe_dump(policy))
    return path


def forge_on_kafka(settings: Settings, events: list[dict]) -> None:
    """Straight to the topic, claiming to be the GitHub webhook, with a made-up MAC."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        for item in events:
            headers = [
                ("content-type", b"application/cloudevents+json"),
                (origin.ORIGIN_HEADER, b"webhook:github"),
                (origin.MAC_HEADER, b"ab" * 32),
            ]
            producer.send(settings.topic, value=json.dumps(item).encode(), headers=headers)
        producer.flush(timeout=30)
    finally:
        producer.close()


def test_a_forged_approval_is_ignored_and_named_while_the_webhooks_counts(
    start_server, settings: Settings, tmp_path: Path
):
    samples.github_dir()  # fails under CI, skips elsewhere, when the shared data is absent
    tokens_file = tmp_path / "tokens.json"
    env = {**server_env(settings, 0), "PROVLEDGER_TOKENS_FILE": str(tokens_file)}
    made = cli(env, "token", "create", "--scope", "admin", "--name", "hr-sync")
    assert made.returncode == 0, made.stderr
    auth = {"Authorization": f"Bearer {made.stdout.strip()}"}
    server = start_server(
        {
            **samples.SECRETS_ENV,
            "PROVLEDGER_TOKENS_FILE": str(tokens_file),
            "PROVLEDGER_POLICY": str(policy_trusting(tmp_path / "policy.yaml", TRUSTED)),
        }
    )

    def sql(query: str) -> list[list]:
        answer = httpx.post(f"{server.url}/v1/sql", json={"sql": query}, headers=auth, timeout=20)
        assert answer.status_code == 200, answer.text
        return answer.json()["rows"]

    def check() -> subprocess.CompletedProcess:
        return cli(
            {**server.env, "PROVLEDGER_TOKEN": made.stdout.strip()},
            "check", "--repo", REPO, "--commit", samples.PR_HEAD,
        )  # fmt: skip

    posted = httpx.post(
        f"{server.url}/v1/events",
        json=[
            event("level", "person.registered", {"person": {**CODERTOCAT, "level": "senior"}}),
            event(
                "head",
                "change.authored",
                {"repo": REPO, "commit": samples.PR_HEAD, "author": BOB, "ai": [{"tool": "aider"}]},
            ),
        ],
        headers=auth,
        timeout=10,
    )
    assert posted.status_code == 202, posted.text
    review = {"repo": REPO, "commit": samples.PR_HEAD, "reviewer": CODERTOCAT}
    forge_on_kafka(
        settings,
        [
            event("forged-review", "change.reviewed", {**review, "decision": "approved"}, 10),
            event("forged-level", "person.registered", {"person": {**BOB, "level": "principal"}}),
        ],
    )
    wait_until(lambda: len(sql("SELECT id FROM events")) == 4, 60, "the four events stored")
    assert dict(sql("SELECT id, origin FROM events")) == {
        "level": "api-token:hr-sync",
        "head": "api-token:hr-sync",
        "forged-review": "kafka",
        "forged-level": "kafka",
    }

    refused = check()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "ignored by ai-change-needs-senior-approval" in refused.stdout
    assert "codertocat@acme.com (forged-review)" in refused.stdout
    assert "origin kafka" in refused.stdout
    assert "bob@acme.com (not registered when authored)" in refused.stderr  # forged level too

    body = samples.github_variant("pull_request_review/approved")
    headers = samples.github_headers(body, "pull_request_review", "gh-review")
    delivered = httpx.post(
        f"{server.url}/v1/webhooks/github", content=body, headers=headers, timeout=10
    )
    assert delivered.status_code == 202 and delivered.json()["accepted"] == ["gh-review"]
    wait_until(lambda: len(sql("SELECT id FROM events")) == 5, 60, "the webhook's review")
    assert sql("SELECT origin FROM events WHERE id = 'gh-review'") == [["webhook:github"]]

    passed = check()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "codertocat@acme.com (forged-review)" in passed.stdout  # still named as ignored
    provenance = httpx.get(f"{server.url}/v1/commits/{samples.PR_HEAD}", headers=auth).json()
    assert sorted((r["event_id"], r["origin"]) for r in provenance["reviews"]) == [
        ("forged-review", "kafka"),
        ("gh-review", "webhook:github"),
    ]
    assert [a["origin"] for a in provenance["authored"]] == ["api-token:hr-sync"]
