"""The catalog and configuration-change commands as a CI job runs them, against a real
broker and ``provledger serve``: registrations and changes land in the ledger's tables, and
importing an unchanged catalog again stores nothing new."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.git_repo import commit, init

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

CHECKOUT = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  annotations: {github.com/project-slug: acme/shop, provledger.dev/tier: "1"}
spec:
  type: service
  owner: team-checkout
  dependsOn: [component:payments, resource:default/orders-db]
"""
PAYMENTS = """\
kind: Component
metadata: {name: payments}
spec: {type: service, owner: team-payments, dependsOn: [component:fraud]}
---
kind: Resource
metadata: {name: orders-db}
spec: {type: database, owner: team-data}
"""


def import_catalog(server, repo: Path) -> list[str]:
    result = server.cli(
        "catalog", "import", str(repo / "checkout.yaml"), str(repo / "payments.yaml"), "--json"
    )
    return [item["id"] for item in json.loads(result.stdout)["registrations"]]


def test_a_catalog_import_registers_what_changed_only(start_server, tmp_path) -> None:
    server = start_server({"PROVLEDGER_SPOOL_DIR": str(tmp_path / "spool")})
    repo = init(tmp_path / "catalog")
    commit(repo, "catalog", {"checkout.yaml": CHECKOUT, "payments.yaml": PAYMENTS}, when=1)

    first = import_catalog(server, repo)
    server.wait_for_events(3)
    assert server.sql("SELECT service, tier, depends_on, valid_from FROM service_registrations "
                      "ORDER BY service") == [
        ["checkout", 1, ["payments", "orders-db"], "2026-01-01T10:00:01+00:00"],
        ["orders-db", None, [], "2026-01-01T10:00:01+00:00"],
        ["payments", None, ["fraud"], "2026-01-01T10:00:01+00:00"],
    ]  # fmt: skip

    # Unchanged: the same ids again, stored once. A marker event shows the ledger read past them.
    assert import_catalog(server, repo) == first
    server.emit("incident.resolved", {"incident": "INC-MARK"})
    server.wait_for_events(4)
    assert server.stored() == 4

    # payments' file changes: its two entities register again, checkout's file does not.
    commit(repo, "payments calls ledger", {"payments.yaml": PAYMENTS.replace("fraud", "ledger")},
           when=2)  # fmt: skip
    third = import_catalog(server, repo)
    assert third[0] == first[0] and third[1:] != first[1:]
    server.wait_for_events(6)
    graph = server.sql("SELECT service, depends_on FROM service_registration_history "
                       "WHERE valid_to IS NULL ORDER BY service")  # fmt: skip
    assert graph == [["checkout", ["payments", "orders-db"]], ["orders-db", []],
                     ["payments", ["ledger"]]]  # fmt: skip
    tree = server.sql("SELECT service FROM dependency_tree WHERE root = 'checkout' "
                      "ORDER BY depth, service")  # fmt: skip
    assert tree == [["checkout"], ["orders-db"], ["payments"], ["ledger"]]


def test_terraform_and_unleash_changes_reach_the_ledger(start_server, tmp_path) -> None:
    server = start_server({"PROVLEDGER_SPOOL_DIR": str(tmp_path / "spool")})
    ci = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/infra", "GITHUB_SHA": "c" * 40,
          "GITHUB_ACTOR": "dora", "GITHUB_RUN_ID": "42"}  # fmt: skip
    server.env = {**server.env, **ci}
    plan = (FIXTURES / "terraform" / "plan.json").read_text()
    applied = server.cli("emit", "config.changed", "--from-terraform", "-",
                         "--environment", "prod", "--service", "checkout", stdin=plan)  # fmt: skip
    assert len(applied.stdout.split()) == 5
    feed = str(FIXTURES / "unleash" / "events-api.json")
    flagged = server.cli("emit", "config.changed", "--from-unleash", feed, "--format", "json")
    assert flagged.stdout.split() == [
        "unleash-4120", "unleash-4118", "unleash-4117", "unleash-4107", "unleash-4101",
    ]  # fmt: skip
    server.wait_for_events(10)
    infra = server.sql("SELECT key, action, kind, target_service, target_environment, repo, "
                       "commit, actor_id, change_ref FROM config_changes "
                       "WHERE kind <> 'feature_flag' ORDER BY key")  # fmt: skip
    run = "https://github.com/acme/infra/actions/runs/42"
    assert infra[0] == ["aws_lb_target_group.checkout", "replace", "infrastructure", "checkout",
                        "prod", "acme/infra", "c" * 40, "dora", run]  # fmt: skip
    assert [(row[0], row[1], row[2]) for row in infra[1:]] == [
        ("aws_s3_bucket.assets", "delete", "infrastructure"),
        ("aws_secretsmanager_secret_version.stripe", "update", "secret"),
        ("aws_security_group_rule.checkout_ingress", "create", "infrastructure"),
        ("module.db.aws_db_instance.orders", "update", "infrastructure"),
    ]
    flags = server.sql("SELECT key, target_service, target_environment, fleet_percent, "
                       "from_value, to_value FROM config_changes WHERE key = 'new-pricing' "
                       "ORDER BY changed_at")  # fmt: skip
    assert flags[0][:3] == ["new-pricing", "checkout", "production"]
    rollout = [json.loads(value)["parameters"]["rollout"] for value in flags[1][4:]]
    assert [row[3] for row in flags] == [None, 50.0, 0.0] and rollout == ["10", "50"]
    assert [row[4:] for row in flags[::2]] == [["false", "true"], ["true", "false"]]
