"""CI context from each provider's documented environment variables."""

from __future__ import annotations

import pytest

from provenance_ledger.producers.ci_context import detect, fill_defaults, repo_from_remote

SHA = "3f99bc675f4519e7b707711 7cc069718 40ed803d".replace(" ", "")


def test_github_actions():
    ctx = detect({
        "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/shop", "GITHUB_SHA": SHA,
        "GITHUB_ACTOR": "alice", "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2",
    })  # fmt: skip
    assert ctx is not None
    assert (ctx.source, ctx.repo, ctx.commit, ctx.actor) == (
        "ci/github/acme/shop",
        "acme/shop",
        SHA,
        "alice",
    )
    assert ctx.run_url == "https://github.com/acme/shop/actions/runs/42/attempts/2"


def test_gitlab_ci():
    ctx = detect({
        "GITLAB_CI": "true", "CI_PROJECT_PATH": "group/sub/shop", "CI_COMMIT_SHA": SHA,
        "GITLAB_USER_EMAIL": "bob@acme.example", "CI_JOB_URL": "https://gitlab.example/j/1",
    })  # fmt: skip
    assert ctx is not None
    assert (ctx.source, ctx.repo, ctx.actor) == (
        "ci/gitlab/group/sub/shop",
        "group/sub/shop",
        "bob@acme.example",
    )
    assert ctx.run_url == "https://gitlab.example/j/1"


def test_jenkins():
    ctx = detect({
        "JENKINS_URL": "https://ci.example/", "JOB_NAME": "shop/main", "GIT_COMMIT": SHA,
        "GIT_URL": "git@github.com:acme/shop.git", "BUILD_URL": "https://ci.example/job/7/",
        "BUILD_USER_ID": "carol",
    })  # fmt: skip
    assert ctx is not None
    assert (ctx.source, ctx.repo, ctx.actor, ctx.run_url) == (
        "ci/jenkins/shop/main",
        "acme/shop",
        "carol",
        "https://ci.example/job/7/",
    )


def test_buildkite():
    ctx = detect({
        "BUILDKITE": "true", "BUILDKITE_REPO": "https://github.com/acme/shop.git",
        "BUILDKITE_COMMIT": SHA, "BUILDKITE_BUILD_CREATOR_EMAIL": "dave@acme.example",
        "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/shop/builds/9",
        "BUILDKITE_ORGANIZATION_SLUG": "acme", "BUILDKITE_PIPELINE_SLUG": "shop",
    })  # fmt: skip
    assert ctx is not None
    assert (ctx.source, ctx.repo, ctx.actor) == (
        "ci/buildkite/acme/shop",
        "acme/shop",
        "dave@acme.example",
    )


def test_outside_ci():
    assert detect({"HOME": "/root"}) is None


@pytest.mark.parametrize(
    ("url", "repo"),
    [
        ("git@github.com:acme/shop.git", "acme/shop"),
        ("https://github.com/acme/shop", "acme/shop"),
        ("https://gitlab.example/group/sub/shop.git", "group/sub/shop"),
        ("ssh://git@host:22/acme/shop.git", "acme/shop"),
        ("/srv/git/shop", None),
    ],
)
def test_repo_from_remote(url, repo):
    assert repo_from_remote(url) == repo


def test_fill_defaults_keeps_what_was_given():
    ctx = detect({"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/shop", "GITHUB_SHA": SHA,
                  "GITHUB_ACTOR": "deploy-bot[bot]", "GITHUB_RUN_ID": "1"})  # fmt: skip
    assert ctx is not None
    filled = fill_defaults("service.deployed", {"service": "s", "repo": "other/repo"}, ctx)
    assert filled["repo"] == "other/repo"
    assert filled["commit"] == SHA
    assert filled["deployer"] == {"id": "deploy-bot[bot]", "kind": "automation"}
    built = fill_defaults("artifact.built", {"artifact": "a"}, ctx)
    assert built["pipeline_run"].endswith("/actions/runs/1")
