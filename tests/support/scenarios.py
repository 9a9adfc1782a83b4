"""Incident scenarios (tests/integration/test_suspects_scenarios.py judges them): each a story
of real events with a known culprit and plausible distractors, all sharing one impact instant,
each on its own services and incident id. :func:`scenario_story` is all of them in one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from tests.support.provstory import CONFORMANCE, Story, sha

DEV, SENIOR, PRINCIPAL, JUNIOR = "dev@shop", "sam@shop", "pia@shop", "jo@shop"
SCENARIOS: list[Callable[[Story], None]] = []


def scenario(build: Callable[[Story], None]) -> Callable[[Story], None]:
    SCENARIOS.append(build)
    return build


def ai(mode: str = "agent", tool: str = "claude-code") -> list[dict]:
    return [{"tool": tool, "model": "m-1", "mode": mode, "lines": 200}]


# --- the stories -------------------------------------------------------------------------


@scenario
def canary_is_the_latest(s: Story) -> None:
    # A full rollout 20 min before; a 5 % canary of the next version 6 min before.
    s.change(101, DEV, -200, lines_added=120, files=["src/cart/total.py", "src/cart/tax.py"])
    s.review(101, DEV, -190, repo="shop/checkout")
    s.deploy("s1-old", "cart", "prod", -300, version="c1")
    s.deploy("s1-culprit", "cart", "prod", -20, version="c2", repo="shop/checkout", commit=sha(101))
    s.deploy("s1-canary", "cart", "prod", -6, version="c3", fleet_percent=5)
    s.deploy("s1-other-svc", "search", "prod", -1)
    s.incident("INC-S1", ["cart"])


@scenario
def docs_only_change_is_the_latest(s: Story) -> None:
    s.change(111, DEV, -100, repo="shop/catalog", lines_added=60, files=["src/catalog/index.py"])
    s.change(
        112,
        SENIOR,
        -50,
        repo="shop/catalog",
        lines_added=30,
        files=["README.md", "docs/ops/runbook.md"],
    )
    s.review(112, PRINCIPAL, -45, repo="shop/catalog")
    s.deploy("s2-culprit", "catalog", "prod", -25, repo="shop/catalog", commit=sha(111))
    s.deploy("s2-docs", "catalog", "prod", -4, repo="shop/catalog", commit=sha(112))
    s.incident("INC-S2", ["catalog"])


@scenario
def culprit_rolled_back_and_incident_resolved(s: Story) -> None:
    # The main fleet got v7 35 min before; a 10 % canary of v8 went out 6 min before.
    # Responders roll the main fleet back from v7 to v6 and the incident ends 4 min later.
    s.deploy("s3-base", "inventory", "prod", -900, version="v6")
    s.deploy("s3-culprit", "inventory", "prod", -35, version="v7")
    s.deploy("s3-canary", "inventory", "prod", -6, version="v8", fleet_percent=10)
    s.rollback("s3-rb", "inventory", "prod", "v7", "v6", 10)
    s.incident("INC-S3", ["inventory"], resolved=14)


@scenario
def incident_names_two_services(s: Story) -> None:
    s.change(131, SENIOR, -300, lines_added=4, files=["config/limits.yaml"])
    s.review(131, PRINCIPAL, -290)
    s.deploy("s4-culprit", "fraud", "prod", -15, version="f2")
    s.deploy("s4-fraud-base", "fraud", "prod", -2000, version="f1")
    s.deploy("s4-payments", "payments", "prod", -6, repo="shop/checkout", commit=sha(131))
    s.deploy("s4-payments-stg", "payments", "staging", -2)
    s.deploy("s4-unrelated", "emails", "prod", -1)
    s.rollback("s4-rb", "fraud", "prod", "f2", "f1", 8)
    s.incident("INC-S4", ["payments", "fraud"], resolved=12)


@scenario
def no_environment_and_an_environment_wide_delete(s: Story) -> None:
    # The incident names no environment; an agent deleted prod (no service) 10 min before.
    # A month later than the other stories: deleting prod touches every service in it.
    t = Story(s.impact + timedelta(days=30))
    t.deploy("s5-prod", "profile", "prod", -40)
    t.deploy("s5-staging", "profile", "staging", -3)
    t.action("s5-culprit", "delete_environment", -10, True, service=None, env="prod")
    t.action("s5-stg-recreate", "recreate_environment", -2, True, service=None, env="staging")
    t.incident("INC-S5", ["profile"], env=None)
    s.events += t.events


@scenario
def region_mismatch(s: Story) -> None:
    s.deploy("s6-us", "search-api", "prod", -5, region="us-east-1")
    s.deploy("s6-culprit", "search-api", "prod", -25, region="eu-west-1")
    s.deploy("s6-old", "search-api", "prod", -240)
    s.incident("INC-S6", ["search-api"], region="eu-west-1")


@scenario
def unauthorized_migration_vs_deploy(s: Story) -> None:
    s.change(171, SENIOR, -200, repo="shop/billing", lines_added=6, files=["src/billing/copy.py"])
    s.review(171, PRINCIPAL, -180, repo="shop/billing")
    s.deploy("s7-deploy", "billing", "prod", -3, repo="shop/billing", commit=sha(171))
    s.action("s7-culprit", "apply_migration", -20, True, service="billing", authorized_by=JUNIOR)
    s.action("s7-scale", "scale", -1, False, service="billing")
    s.incident("INC-S7", ["billing"])


@scenario
def authorized_old_migration_vs_fresh_deploy(s: Story) -> None:
    # A migration a principal authorized four hours ago ran fine until now; a risky
    # AI-written deploy went out 5 min before impact.
    s.change(
        181,
        JUNIOR,
        -60,
        repo="shop/ledgerd",
        lines_added=250,
        files=["src/ledger/post.py"],
        ai=ai(),
    )
    s.deploy("s8-culprit", "ledgerd", "prod", -5, repo="shop/ledgerd", commit=sha(181))
    s.action(
        "s8-migration", "apply_migration", -240, True, service="ledgerd", authorized_by=PRINCIPAL
    )
    s.incident("INC-S8", ["ledgerd"])


@scenario
def confirmed_commit_shipped_by_one_of_several(s: Story) -> None:
    for n in (191, 192, 193, 194, 195):
        s.change(n, DEV, -300, repo="shop/reco", lines_added=10, files=[f"src/r{n}.py"])
    commits = [sha(191), sha(192), sha(193)]
    s.deploy("s9-culprit", "reco", "prod", -90, repo="shop/reco", commit=sha(193), commits=commits)
    s.deploy("s9-stg", "reco", "staging", -100, repo="shop/reco", commit=sha(193), commits=commits)
    s.deploy("s9-mid", "reco", "prod", -30, repo="shop/reco", commit=sha(194), commits=[sha(194)])
    s.deploy("s9-near", "reco", "prod", -5, repo="shop/reco", commit=sha(195), commits=[sha(195)])
    s.incident("INC-S9", ["reco"])
    s.attribute("INC-S9", "confirmed", 40, commit=sha(192), repo="shop/reco")


@scenario
def deploy_with_the_culprit_among_many_commits(s: Story) -> None:
    many = list(range(201, 213))
    for n in many:
        if n != 206:
            s.change(n, SENIOR, -400, repo="shop/pricing", lines_added=5, files=[f"src/p{n}.py"])
            s.review(n, PRINCIPAL, -390, repo="shop/pricing")
    # 206: a junior's agent-written rewrite nobody senior approved.
    s.change(
        206,
        JUNIOR,
        -400,
        repo="shop/pricing",
        lines_added=900,
        lines_deleted=200,
        files=[f"src/engine/{n}.py" for n in range(14)],
        ai=ai(),
    )
    s.change(213, SENIOR, -100, repo="shop/pricing", lines_added=5, files=["src/label.py"])
    s.review(213, PRINCIPAL, -90, repo="shop/pricing")
    shas = [sha(n) for n in many]
    s.deploy(
        "s10-culprit", "pricing", "prod", -30, repo="shop/pricing", commit=shas[-1], commits=shas
    )
    s.deploy("s10-small", "pricing", "prod", -20, repo="shop/pricing", commit=sha(213))
    s.deploy("s10-canary", "pricing", "prod", -10, fleet_percent=5)
    s.incident("INC-S10", ["pricing"])


@scenario
def same_version_redeployed(s: Story) -> None:
    s.change(221, DEV, -200, repo="shop/auth", lines_added=80, files=["src/auth/session.py"])
    s.deploy("s11-base", "auth", "prod", -300, version="a3")
    s.deploy("s11-culprit", "auth", "prod", -90, version="a4", repo="shop/auth", commit=sha(221))
    # A restart: the same version again, nothing new shipped.
    s.deploy(
        "s11-redeploy",
        "auth",
        "prod",
        -15,
        version="a4",
        repo="shop/auth",
        commit=sha(221),
        commits=[],
    )
    s.deploy("s11-stg", "auth", "staging", -4, version="a5")
    s.rollback("s11-rb", "auth", "prod", "a4", "a3", 10)
    s.incident("INC-S11", ["auth"], resolved=13)


@scenario
def impact_long_before_the_incident_was_opened(s: Story) -> None:
    # Paged 90 min after impact began: deploys between impact and opening are not causes.
    s.deploy("s12-old", "notify", "prod", -200)
    s.deploy("s12-culprit", "notify", "prod", -10)
    s.deploy("s12-after", "notify", "prod", 30)
    s.deploy("s12-just-before-open", "notify", "prod", 85)
    s.incident("INC-S12", ["notify"], opened=90)


@scenario
def deploy_exactly_at_impact_start(s: Story) -> None:
    s.change(
        241, DEV, -300, repo="shop/gateway", lines_added=40, files=["src/gw.py"], ai=ai("chat")
    )
    s.deploy("s13-earlier", "gateway", "prod", -30, repo="shop/gateway", commit=sha(241))
    s.deploy("s13-culprit", "gateway", "prod", 0)
    s.deploy("s13-after", "gateway", "prod", 1)
    s.action("s13-scale", "scale", -1, False, service="gateway")
    s.incident("INC-S13", ["gateway"])


@scenario
def the_nearer_deploy_was_reverted_before_impact(s: Story) -> None:
    s.deploy("s14-base", "search-ui", "prod", -500, version="u1")
    s.deploy("s14-culprit", "search-ui", "prod", -25, version="u2")
    s.deploy("s14-reverted", "search-ui", "prod", -10, version="u3")
    s.rollback("s14-rb", "search-ui", "prod", "u3", "u2", -5)
    s.incident("INC-S14", ["search-ui"])


@scenario
def rollback_spanning_several_deployments(s: Story) -> None:
    s.change(
        261,
        JUNIOR,
        -200,
        repo="shop/orders",
        lines_added=600,
        files=[f"src/orders/{n}.py" for n in range(12)],
        ai=ai(),
    )
    s.deploy("s15-base", "orders", "prod", -600, version="o1")
    s.deploy(
        "s15-culprit", "orders", "prod", -40, version="o2", repo="shop/orders", commit=sha(261)
    )
    s.deploy("s15-later", "orders", "prod", -9, version="o3")
    s.rollback("s15-rb", "orders", "prod", "o3", "o1", 12)
    s.incident("INC-S15", ["orders"], resolved=15)


@scenario
def out_of_order_arrival(s: Story) -> None:
    # The incident and its resolution reach the ledger before the deployments do.
    s.incident("INC-S16", ["shipping"], resolved=50)
    s.deploy("s16-after", "shipping", "prod", 4)
    s.deploy("s16-old", "shipping", "prod", -70)
    s.deploy("s16-culprit", "shipping", "prod", -8)


@scenario
def confirmed_commit_shipped_through_a_merge_long_ago(s: Story) -> None:
    # The deployment names only the merge commit; the culprit came in with the merge,
    # 30 h before impact (outside the 24 h lookback). A responder confirmed that commit.
    s.change(271, DEV, -2000, repo="shop/tax", lines_added=40, files=["src/tax/round.py"])
    s.change(272, DEV, -1990, repo="shop/tax", lines_added=3, files=["src/tax/log.py"])
    merge = {"repo": "shop/tax", "commit": sha(273), "commits": [sha(271), sha(272)]}
    s.add(
        "change.merged", {**merge, "change": "PR-88", "target_branch": "main"}, "s18-merge", -1900
    )
    s.deploy("s18-culprit", "tax", "prod", -30 * 60, repo="shop/tax", commit=sha(273))
    s.deploy("s18-near", "tax", "prod", -12)
    s.deploy("s18-mid", "tax", "prod", -120)
    s.incident("INC-S18", ["tax"])
    s.attribute("INC-S18", "confirmed", 60, commit=sha(271), repo="shop/tax")


@scenario
def confirmed_commit_shipped_by_artifact(s: Story) -> None:
    s.change(281, DEV, -500, repo="shop/media", lines_added=40, files=["src/media/resize.py"])
    art = "oci://shop/media@sha256:281"
    s.add(
        "artifact.built",
        {"artifact": art, "repo": "shop/media", "commit": sha(281)},
        "s19-art",
        -450,
    )
    s.deploy("s19-culprit", "media", "prod", -300, artifact=art)
    s.deploy("s19-near", "media", "prod", -7)
    s.incident("INC-S19", ["media"])
    s.attribute("INC-S19", "confirmed", 30, commit=sha(281), repo="shop/media")


@scenario
def authorized_destructive_action_minutes_before(s: Story) -> None:
    # Authorized by a principal, still a recreate of the service's environment 10 min before.
    s.deploy("s20-deploy", "search-idx", "prod", -2)
    s.action(
        "s20-culprit",
        "recreate_environment",
        -10,
        True,
        service="search-idx",
        authorized_by=PRINCIPAL,
    )
    s.incident("INC-S20", ["search-idx"])


@scenario
def an_old_deploy_whose_rollback_fixed_it(s: Story) -> None:
    # Six hours old, but rolling it back ended the incident within minutes; a nearer deploy
    # of the other service named by the incident was left alone.
    s.deploy("s21-base", "quotes", "prod", -2000, version="q1")
    s.deploy("s21-culprit", "quotes", "prod", -360, version="q2")
    s.deploy("s21-near", "quote-cache", "prod", -5)
    s.rollback("s21-rb", "quotes", "prod", "q2", "q1", 20)
    s.incident("INC-S21", ["quotes", "quote-cache"], resolved=24)


@scenario
def a_quarter_canary_is_the_only_recent_change(s: Story) -> None:
    s.deploy("s22-full", "avatars", "prod", -180)
    s.deploy("s22-culprit", "avatars", "prod", -5, fleet_percent=25)
    s.incident("INC-S22", ["avatars"])


@scenario
def a_canary_promoted_to_the_whole_fleet(s: Story) -> None:
    # The same version twice is not a redeploy when the second reached more of the fleet.
    s.deploy("s23-base", "feeds", "prod", -400, version="r8")
    s.deploy("s23-canary", "feeds", "prod", -60, version="r9", fleet_percent=5)
    s.deploy("s23-culprit", "feeds", "prod", -10, version="r9", fleet_percent=100)
    s.incident("INC-S23", ["feeds"])


@scenario
def a_restart_after_the_deploy_that_shipped_the_change(s: Story) -> None:
    s.change(301, JUNIOR, -200, repo="shop/cards", lines_added=90, files=["src/cards/pin.py"])
    s.deploy("s24-culprit", "cards", "prod", -45, version="k5", repo="shop/cards", commit=sha(301))
    s.deploy("s24-restart", "cards", "prod", -8, version="k5", repo="shop/cards", commit=sha(301))
    s.deploy("s24-base", "cards", "prod", -900, version="k4")
    s.incident("INC-S24", ["cards"])


def cdevents_story(s: Story) -> None:
    """CDEvents only: a CD system's deploys, its rollback, and a monitor's incident."""

    def deployed(event_id: str, service: str, env: str, minutes: float, artifact: str) -> None:
        content = {"environment": {"id": env}, "artifactId": artifact}
        s.cdevent("service_deployed", event_id, minutes, service, content)

    art = "pkg:oci/stock@sha256%3A{:064x}".format
    deployed("s17-base", "stock", "prod", -120, art(1))
    deployed("s17-culprit", "stock", "prod", -12, art(2))
    deployed("s17-stg", "stock", "staging", -2, art(3))
    deployed("s17-other", "warehouse", "prod", -1, art(4))
    on = {"environment": {"id": "prod"}, "service": {"id": "stock"}}
    s.cdevent("incident_detected", "s17-detected", 0, "INC-S17", on)
    s.cdevent(
        "service_rolledback",
        "s17-rb",
        10,
        "stock",
        {"environment": {"id": "prod"}, "artifactId": art(1)},
    )
    s.cdevent("incident_resolved", "s17-resolved", 14, "INC-S17", on)


def scenario_story() -> Story:
    """Every scenario in one story, after its people (one arriving out of order), and the
    CDEvents one when the shared conformance data is there."""
    s = Story()
    for pid, level in (
        (DEV, "mid"),
        (SENIOR, "senior"),
        (PRINCIPAL, "principal"),
        (JUNIOR, "junior"),
    ):
        s.person(pid, level)
    for build in SCENARIOS:
        start = len(s.events)
        build(s)
        if build is out_of_order_arrival:
            s.events[start:] = s.events[start:][::-1]
    if CONFORMANCE.is_dir():
        cdevents_story(s)
    return s
