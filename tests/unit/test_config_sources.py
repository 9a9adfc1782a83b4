"""Configuration changes from other tools' records: a Terraform plan (producers/terraform.py)
and Unleash's change feed (producers/flags.py), on recorded samples shaped as their docs
show (tests/fixtures/terraform, tests/fixtures/unleash)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provenance_ledger.producers import flags, terraform
from provenance_ledger.producers.ci_context import detect
from provenance_ledger.producers.cli_config import ToolInput, tool_events
from provenance_ledger.schemas.errors import UsageProblem
from provenance_ledger.schemas.events import ConfigChanged

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PLAN = FIXTURES / "terraform" / "plan.json"
UNLEASH = FIXTURES / "unleash"


def fixture(path: Path) -> object:
    return json.loads(path.read_text())


def by_key(changes: list[dict]) -> dict[str, dict]:
    return {change["key"]: change for change in changes}


def test_one_change_per_changed_resource_with_its_action() -> None:
    changes = terraform.plan_changes(fixture(PLAN))
    actions = {change["key"]: change["action"] for change in changes}
    assert actions == {
        "module.db.aws_db_instance.orders": "update",
        "aws_s3_bucket.assets": "delete",
        "aws_lb_target_group.checkout": "replace",
        "aws_secretsmanager_secret_version.stripe": "update",
        "aws_security_group_rule.checkout_ingress": "create",
    }  # the no-op and the data source are not changes


def test_values_leave_out_sensitive_and_unknown_attributes() -> None:
    changes = by_key(terraform.plan_changes(fixture(PLAN)))
    database = changes["module.db.aws_db_instance.orders"]
    assert database["kind"] == "infrastructure"
    assert database["from"] == {"instance_class": "db.r6g.large", "max_connections": 400}
    assert database["to"] == {"instance_class": "db.r6g.xlarge", "max_connections": 200}
    target_group = changes["aws_lb_target_group.checkout"]
    assert target_group["from"] == {"port": 8080, "protocol": "HTTP"}  # arn: known after apply
    assert "password" not in json.dumps(changes)
    for created_or_deleted in ("aws_s3_bucket.assets", "aws_security_group_rule.checkout_ingress"):
        assert "from" not in changes[created_or_deleted]


def test_a_secret_resource_is_a_secret_change_without_values() -> None:
    secret = by_key(terraform.plan_changes(fixture(PLAN)))[
        "aws_secretsmanager_secret_version.stripe"
    ]
    assert secret["kind"] == "secret"
    assert "from" not in secret and "to" not in secret
    assert "sk_live" not in json.dumps(secret)


def test_an_object_marked_sensitive_as_a_whole_carries_no_values() -> None:
    entry = {
        "address": "x.y",
        "type": "aws_ssm_parameter",
        "change": {
            "actions": ["update"],
            "before": {"value": "a"},
            "after": {"value": "b"},
            "before_sensitive": True,
            "after_sensitive": True,
        },
    }
    (change,) = terraform.plan_changes({"format_version": "1.2", "resource_changes": [entry]})
    assert "from" not in change and "to" not in change


def test_large_values_are_left_out() -> None:
    big = {"user_data": "x" * terraform.MAX_VALUES_BYTES}
    entry = {
        "address": "aws_instance.web",
        "type": "aws_instance",
        "change": {"actions": ["update"], "before": {"user_data": ""}, "after": big},
    }
    (change,) = terraform.plan_changes({"resource_changes": [entry]})
    assert "from" not in change


@pytest.mark.parametrize("document", [[], {"variables": {}}, {"resource_changes": "x"}])
def test_what_is_not_a_plan_is_refused(document: object) -> None:
    with pytest.raises(terraform.PlanError):
        terraform.plan_changes(document)


def test_a_strategy_update_carries_the_rollout_and_the_strategies() -> None:
    change = flags.flag_change(fixture(UNLEASH / "feature-strategy-update.json"))
    assert change is not None
    assert change.event_id == "unleash-4107"
    assert change.time == "2026-11-26T11:18:02.114Z"
    data = change.data
    assert data["kind"] == "feature_flag" and data["key"] == "new-pricing"
    assert data["target"] == {"service": "checkout", "environment": "production"}
    assert data["fleet_percent"] == 50.0
    assert data["from"]["parameters"]["rollout"] == "10"
    assert data["to"]["parameters"]["rollout"] == "50"
    assert "id" not in data["from"] and "sortOrder" not in data["from"]
    assert data["actor"] == {"id": "erin@acme.example", "kind": "human"}
    assert (data["action"], data["change_ref"]) == ("feature-strategy-update", "unleash:4107")


def test_the_events_api_answer_maps_each_change_and_skips_the_rest() -> None:
    events = flags.unleash_events(fixture(UNLEASH / "events-api.json"))
    changes = {change.event_id: change.data for e in events if (change := flags.flag_change(e))}
    assert "unleash-4119" not in changes  # feature-stale-on changes nothing users get
    disabled = changes["unleash-4120"]
    assert (disabled["from"], disabled["to"], disabled["fleet_percent"]) == (True, False, 0.0)
    assert disabled["actor"] == {"id": "admin-api-token", "kind": "automation"}
    enabled = changes["unleash-4101"]
    assert (enabled["from"], enabled["to"]) == (False, True)
    removed = changes["unleash-4118"]
    assert "to" not in removed and removed["from"]["name"] == "default"
    added = changes["unleash-4117"]
    assert "from" not in added and added["fleet_percent"] == 100.0
    assert added["to"]["constraints"][0]["values"] == ["7"]
    archived = changes["unleash-4116"]
    assert archived["to"] == {"archived": True} and archived["target"] == {}


def test_a_disable_undoes_the_enable() -> None:
    """The revert rule compares one change's to with another's from on the same key."""
    events = flags.unleash_events(fixture(UNLEASH / "events-api.json"))
    changes = {change.event_id: change.data for e in events if (change := flags.flag_change(e))}
    enabled, disabled = changes["unleash-4101"], changes["unleash-4120"]
    assert enabled["key"] == disabled["key"]
    assert (enabled["to"], enabled["from"]) == (disabled["from"], disabled["to"])


def given(**kw: object) -> ToolInput:
    fields = {"terraform": None, "unleash": None, "base": {}, "service": None,
              "environment": None, "source": None, "time": None}  # fmt: skip
    return ToolInput(**{**fields, **kw})  # type: ignore[arg-type]


def test_terraform_changes_take_the_ci_context_and_the_flags() -> None:
    ci = detect({"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/infra",
                 "GITHUB_SHA": "a" * 40, "GITHUB_ACTOR": "dora", "GITHUB_RUN_ID": "9"})  # fmt: skip
    when = datetime(2026, 11, 26, 11, tzinfo=UTC)
    base = {"target": {"region": "eu-west-1"}, "change_ref": "CHG-7"}
    built, skipped = tool_events(
        given(terraform=str(PLAN), environment="prod", base=base, time=when), ci
    )
    assert skipped == [] and len(built) == 5
    for event in built:
        fact = event.fact
        assert isinstance(fact, ConfigChanged)
        assert fact.target.environment == "prod" and fact.target.region == "eu-west-1"
        assert (fact.repo, fact.commit, fact.change_ref) == ("acme/infra", "a" * 40, "CHG-7")
        assert fact.actor is not None and fact.actor.id == "dora"
        assert event.event.source == "ci/github/acme/infra" and event.event.time == when


def test_unleash_changes_keep_their_ids_and_times_and_skip_what_has_no_target() -> None:
    built, skipped = tool_events(given(unleash=str(UNLEASH / "events-api.json")), None)
    ids = {event.event.id for event in built}
    assert ids == {"unleash-4120", "unleash-4118", "unleash-4117", "unleash-4107", "unleash-4101"}
    assert all(event.event.source == "flags/unleash" for event in built)
    assert skipped and "legacy-cart" in skipped[0]
    placed, _ = tool_events(given(unleash=str(UNLEASH / "events-api.json"), service="cart"), None)
    assert "unleash-4116" in {event.event.id for event in placed}


def test_a_bad_base_is_a_usage_problem() -> None:
    with pytest.raises(UsageProblem):
        tool_events(given(terraform=str(PLAN), service="x", base={"target": "prod"}), None)
