"""Suspects from the incident's registered dependencies and from configuration changes
(CONTRACT §5), over real DuckDB ledgers: each story has distractors that "the incident's own
services only" or "the latest change wins" gets wrong."""

from __future__ import annotations

import random
from datetime import timedelta
from itertools import pairwise

import pytest

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.readmodels.incidents import find_incident
from provenance_ledger.query.suspects.dependencies import kept_catalog
from provenance_ledger.query.suspects.finder import suspects_for
from provenance_ledger.query.suspects.gather import dependency_paths
from provenance_ledger.query.suspects.model import IncidentFacts
from provenance_ledger.query.suspects.weights import MAX_DEPENDENCY_HOPS
from tests.support.provstory import IMPACT, Story, ingest, sha, write_direct

DEV, SENIOR, JUNIOR = "dev@shop", "sam@shop", "jo@shop"
AGENT = {"id": "ops-agent@shop", "name": "Ops agent", "kind": "ai_agent"}
AGENT_AI = [{"tool": "claude-code", "model": "m-1", "mode": "agent", "session": "tf-1"}]


def people(s: Story) -> None:
    s.person(DEV, "mid")
    s.person(SENIOR, "senior")
    s.person(JUNIOR, "junior")


def ranked_in(ledger: Ledger, incident: str, limit: int = 20) -> list[dict]:
    cur = ledger.cursor()
    answer = suspects_for(cur, incident, timedelta(hours=24), limit)
    assert answer is not None
    found, ranked = answer
    assert found == find_incident(cur, incident)
    return ranked


def ids(ranked: list[dict]) -> list[str]:
    return [s["event_id"] for s in ranked]


def by_id(ranked: list[dict], event_id: str) -> dict:
    return next(s for s in ranked if s["event_id"] == event_id)


def reasons(suspect: dict) -> dict[str, str]:
    return {r["code"]: r["detail"] for r in suspect["reasons"]}


def test_a_dependency_deploy_minutes_before_beats_the_own_deploy_an_hour_before(story_ledger):
    s = Story()
    people(s)
    s.register("checkout", ["payments", "cart"])
    s.register("payments", ["fraud"])
    s.change(1, DEV, -200, lines_added=80, files=["src/checkout/pay.py"])
    s.review(1, SENIOR, -190)
    s.deploy("own-hour", "checkout", "prod", -60, repo="shop/checkout", commit=sha(1))
    s.deploy("payments-4min", "payments", "prod", -4)
    s.deploy("fraud-30min", "fraud", "prod", -30)
    s.deploy("payments-staging", "payments", "staging", -2)  # another environment
    s.deploy("search-1min", "search", "prod", -1)  # not a dependency
    s.incident("INC-D1", ["checkout"])
    ranked = ranked_in(story_ledger(s), "INC-D1")

    assert ids(ranked) == ["payments-4min", "own-hour", "fraud-30min"]
    payments, own, fraud = ranked
    assert payments["path"] == ["checkout", "payments"]
    assert reasons(payments)["upstream_dependency"].startswith("checkout → payments:")
    assert "same_service" not in reasons(payments)
    assert fraud["path"] == ["checkout", "payments", "fraud"]
    assert "2 hops" in reasons(fraud)["upstream_dependency"]
    assert own["path"] is None and "same_service" in reasons(own)


def test_each_hop_counts_against_the_same_change_at_the_same_time(story_ledger):
    s = Story()
    s.register("checkout", ["payments"])
    s.register("payments", ["fraud"])
    for service in ("checkout", "payments", "fraud"):
        s.deploy(f"{service}-10min", service, "prod", -10)
    s.incident("INC-HOPS", ["checkout"])
    ranked = ranked_in(story_ledger(s), "INC-HOPS")
    assert ids(ranked) == ["checkout-10min", "payments-10min", "fraud-10min"]
    assert ranked[0]["score"] > ranked[1]["score"] > ranked[2]["score"]


@pytest.mark.kafka
def test_a_flag_turned_on_then_off_at_the_fix_ranks_first(settings):
    s = Story()
    s.register("basket", ["pricing"])
    flag = {"key": "new-pricing", "actor": {"id": DEV, "kind": "human"}}
    s.config("flag-on", -2, service="basket", from_=False, to=True, fleet_percent=100, **flag)
    s.config("flag-off", 10, service="basket", from_=True, to=False, **flag)
    s.config("other-flag", -3, service="basket", key="dark-mode", from_=False, to=True)
    # The same key on another service, turned off too: it reverts nothing of basket's.
    s.config("search-flag", -5, service="search", key="new-pricing", from_=False, to=True)
    s.config("search-flag-off", 8, service="search", key="new-pricing", from_=True, to=False)
    s.deploy("basket-1min", "basket", "prod", -1)  # nearer than the flag
    s.deploy("pricing-3min", "pricing", "prod", -3)
    s.incident("INC-D2", ["basket"], resolved=14)
    ledger = ingest(settings, s.events)  # the values go through Kafka as JSON, compared as sent
    try:
        ranked = ranked_in(ledger, "INC-D2")
    finally:
        ledger.close()

    assert ranked[0]["event_id"] == "flag-on", ids(ranked)
    first = ranked[0]
    assert first["kind"] == "config_change"
    assert {"rolled_back_during_incident", "resolved_soon_after_rollback"} <= set(reasons(first))
    assert "config change flag-off" in reasons(first)["rolled_back_during_incident"]
    assert reasons(first)["config_change"] == "feature_flag new-pricing: false → true"
    assert first["config"]["from"] is False and first["config"]["to"] is True
    assert first["config"]["actor"] == {"id": DEV, "name": None, "kind": "human"}
    assert not {"flag-off", "search-flag", "search-flag-off"} & set(ids(ranked))
    other = by_id(ranked, "other-flag")
    assert "rolled_back_during_incident" not in reasons(other)


def test_a_flag_put_back_before_impact_was_not_live(story_ledger):
    s = Story()
    s.config("on", -30, key="beta", from_=False, to=True)
    s.config("off", -20, key="beta", from_=True, to=False)
    s.deploy("deploy-2h", "checkout", "prod", -120)
    s.incident("INC-BACK", ["checkout"])
    ranked = ranked_in(story_ledger(s), "INC-BACK")
    assert ids(ranked).index("deploy-2h") < ids(ranked).index("on")
    assert "by config change off" in reasons(by_id(ranked, "on"))["reverted_before_impact"]


def test_an_agents_terraform_destroy_beats_an_innocent_deploy(story_ledger):
    s = Story()
    people(s)
    s.change(5, DEV, -100, lines_added=12, files=["src/orders/api.py"])
    s.review(5, SENIOR, -90)
    s.deploy("orders-deploy", "orders", "prod", -5, repo="shop/checkout", commit=sha(5))
    db = "aws_db_instance.orders"
    destroy = {"key": db, "action": "delete", "actor": AGENT, "ai": AGENT_AI}
    s.config("tf-destroy", -9, kind="infrastructure", service=None, **destroy)
    s.config("tf-destroy-staging", -3, "infrastructure", None, "staging", **destroy)
    s.config("tf-update", -7, "infrastructure", None, "prod", key="aws_s3_bucket.assets",
             action="update", from_={"versioning": False}, to={"versioning": True})  # fmt: skip
    s.incident("INC-D3", ["orders"])
    ranked = ranked_in(story_ledger(s), "INC-D3")

    assert ids(ranked)[:2] == ["tf-destroy", "orders-deploy"], ids(ranked)
    destroyed = ranked[0]
    why = reasons(destroyed)
    assert {"destructive_config_change", "ai_config_change", "environment_wide"} <= set(why)
    assert destroyed["service"] is None and destroyed["environment"] == "prod"
    assert destroyed["config"]["ai"][0] == {
        "tool": "claude-code", "model": "m-1", "mode": "agent", "lines": None, "session": "tf-1"
    }  # fmt: skip
    assert destroyed["config"]["actor"]["kind"] == "ai_agent"
    assert "tf-destroy-staging" not in ids(ranked)
    assert "destructive_config_change" not in reasons(by_id(ranked, "tf-update"))


def test_a_config_change_carries_the_commit_it_was_applied_from(story_ledger):
    s = Story()
    people(s)
    s.change(7, JUNIOR, -300, repo="shop/infra", ai=AGENT_AI, lines_added=40,
             files=["payments.tf"])  # fmt: skip
    s.review(7, DEV, -280, repo="shop/infra")  # approved, but not by a senior
    applied = {"repo": "shop/infra", "commit": sha(7), "key": "aws_lb.payments"}
    s.config("tf-apply", -15, "infrastructure", "payments", "prod", action="update", **applied)
    s.deploy("payments-deploy", "payments", "prod", -15)
    s.incident("INC-D6", ["payments"])
    ranked = ranked_in(story_ledger(s), "INC-D6")

    applied_from = by_id(ranked, "tf-apply")
    assert ids(ranked)[0] == "tf-apply"  # the same time, but unapproved AI-written code
    [change] = applied_from["changes"]
    assert change["commit"] == sha(7) and change["author"] == JUNIOR
    assert change["ai"][0]["tool"] == "claude-code" and change["senior_approved"] is False
    assert "ai_without_senior_approval" in reasons(applied_from)

    s.attribute("INC-D6", "confirmed", 30, repo="shop/infra", commit=sha(7))
    s.deploy("payments-nearer", "payments", "prod", -1)
    confirmed = ranked_in(story_ledger(s), "INC-D6")
    assert confirmed[0]["event_id"] == "tf-apply" and confirmed[0]["score"] == 1.0


def test_registrations_count_as_they_stood_at_impact_start(story_ledger):
    s = Story()
    s.register("checkout", ["payments", "legacy"], -10_000)
    s.register("checkout", ["payments"], -60)  # legacy dropped before impact
    s.register("checkout", ["payments", "ledger"], 30)  # ledger added after impact
    s.register("ledger", [], 30)
    s.deploy("legacy-5min", "legacy", "prod", -5)
    s.deploy("ledger-3min", "ledger", "prod", -3)
    s.deploy("payments-15min", "payments", "prod", -15)
    s.deploy("checkout-90min", "checkout", "prod", -90)
    # giftcards has no registration: only its own changes count, as before §5.
    s.deploy("giftcards-40min", "giftcards", "prod", -40)
    s.incident("INC-D4", ["checkout", "giftcards"])
    ranked = ranked_in(story_ledger(s), "INC-D4")

    assert ids(ranked) == ["payments-15min", "giftcards-40min", "checkout-90min"]
    assert by_id(ranked, "giftcards-40min")["path"] is None


def test_a_cycle_ends_and_each_service_is_listed_once(story_ledger):
    s = Story()
    s.register("a", ["b"])
    s.register("b", ["c"])
    s.register("c", ["a", "b"])
    for service in ("a", "b", "c"):
        s.deploy(f"{service}-deploy", service, "prod", -10)
    s.incident("INC-D5", ["a"])
    ledger = story_ledger(s)
    ranked = ranked_in(ledger, "INC-D5")

    assert ids(ranked) == ["a-deploy", "b-deploy", "c-deploy"]
    assert by_id(ranked, "c-deploy")["path"] == ["a", "b", "c"]
    paths = dependency_paths(ledger.cursor(), IncidentFacts(("a",), "prod", IMPACT))
    assert paths == {"a": ("a",), "b": ("a", "b"), "c": ("a", "b", "c")}


def test_dependencies_are_followed_a_bounded_number_of_hops(story_ledger):
    s = Story()
    chain = [f"s{n}" for n in range(MAX_DEPENDENCY_HOPS + 3)]
    for service, callee in pairwise(chain):
        s.register(service, [callee])
    for service in chain:
        s.deploy(f"{service}-deploy", service, "prod", -5)
    s.incident("INC-DEEP", [chain[0]])
    ranked = ranked_in(story_ledger(s), "INC-DEEP")
    assert ids(ranked) == [f"{service}-deploy" for service in chain[: MAX_DEPENDENCY_HOPS + 1]]


def test_several_incident_services_take_the_shortest_path(story_ledger):
    s = Story()
    s.register("checkout", ["cart", "search"])  # search is also an incident service
    s.register("cart", ["payments"])
    s.register("search", ["payments", "index"])
    s.deploy("payments-deploy", "payments", "prod", -8)
    s.deploy("search-deploy", "search", "prod", -30)
    s.config("index-flag", -6, service=None, target={"resource": "index"}, key="shards",
             from_=4, to=8)  # fmt: skip
    s.incident("INC-D7", ["checkout", "search"])
    ranked = ranked_in(story_ledger(s), "INC-D7")

    assert by_id(ranked, "payments-deploy")["path"] == ["search", "payments"]
    assert by_id(ranked, "search-deploy")["path"] is None
    assert "same_service" in reasons(by_id(ranked, "search-deploy"))
    # A change naming a dependency as its resource is on that dependency.
    assert by_id(ranked, "index-flag")["path"] == ["search", "index"]


def random_catalog(seed: int) -> Story:
    """Registrations of a few services over time: re-registrations, some at one instant,
    cycles and self-calls, services only ever named as a dependency."""
    rng = random.Random(seed)
    s = Story()
    names = [f"svc{n}" for n in range(rng.randint(3, 12))]
    for n in range(rng.randint(4, 30)):
        minutes = rng.choice([-500, -200, -60, -60, 0, 30])
        calls = rng.sample([*names, "db", "queue"], rng.randint(0, 4))
        s.add(
            "service.registered",
            {"service": rng.choice(names), "depends_on": calls},
            f"reg-{seed}-{n}",
            minutes,
        )
    return s


def test_the_kept_catalog_walks_as_the_recursive_query_does(story_ledger):
    for seed in range(30):
        ledger = story_ledger(random_catalog(seed))
        cur = ledger.cursor()
        catalog = kept_catalog(cur)
        assert catalog is not None
        rng = random.Random(seed)
        for minutes in (-300, -60, 0, 10, 60):
            services = tuple(rng.sample([f"svc{n}" for n in range(3)], rng.randint(1, 2)))
            facts = IncidentFacts(services, "prod", IMPACT + timedelta(minutes=minutes))
            walked = catalog.paths(facts.services, facts.impact)
            assert walked == dependency_paths(cur, facts), (seed, minutes, services)


def test_the_kept_catalog_is_read_again_when_a_registration_is_added(story_ledger):
    s = Story()
    s.register("checkout", ["payments"])
    ledger = story_ledger(s)
    first = kept_catalog(ledger.cursor())
    assert first is not None and kept_catalog(ledger.cursor()) is first
    more = Story()
    more.register("checkout", ["payments", "fraud"], -30)
    write_direct(ledger, more.events)
    again = kept_catalog(ledger.cursor())
    assert again is not first and again is not None
    assert again.depends_on("checkout", IMPACT) == ("payments", "fraud")
