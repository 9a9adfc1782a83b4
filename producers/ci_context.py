"""Who, what and where from the CI environment: GitHub Actions, GitLab CI, Jenkins, Buildkite.

Pure: give it the environment, get a :class:`CiContext` (or None outside CI). The CLI uses it
to fill ``source``, ``repo``, ``commit``, the actor and the run URL when they are not given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CiContext:
    provider: str
    source: str
    repo: str | None = None
    commit: str | None = None
    actor: str | None = None
    run_url: str | None = None
    ref: str | None = None

    @property
    def actor_person(self) -> dict[str, Any] | None:
        return {"id": self.actor} if self.actor else None

    @property
    def actor_kind(self) -> str:
        actor = (self.actor or "").lower()
        return "automation" if actor.endswith("[bot]") or actor.startswith("bot") else "human"


def repo_from_remote(url: str | None) -> str | None:
    """``git@github.com:acme/shop.git`` or ``https://host/group/sub/shop`` → ``acme/shop``…"""
    if not url:
        return None
    url = url.strip()
    if "://" in url:
        rest = url.split("://", 1)[1]
        path = rest.split("/", 1)[1] if "/" in rest else ""
    elif ":" in url:
        path = url.split(":", 1)[1]
    else:
        return None
    path = path.strip("/").removesuffix(".git").strip("/")
    return path if "/" in path else None


def _github(env: dict[str, str]) -> CiContext:
    repo = env.get("GITHUB_REPOSITORY")
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    run_url = None
    if repo and env.get("GITHUB_RUN_ID"):
        run_url = f"{server}/{repo}/actions/runs/{env['GITHUB_RUN_ID']}"
        if env.get("GITHUB_RUN_ATTEMPT", "1") != "1":
            run_url += f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
    return CiContext(
        provider="github",
        source=f"ci/github/{repo or 'unknown'}",
        repo=repo,
        commit=env.get("GITHUB_SHA"),
        actor=env.get("GITHUB_TRIGGERING_ACTOR") or env.get("GITHUB_ACTOR"),
        run_url=run_url,
        ref=env.get("GITHUB_REF_NAME"),
    )


def _gitlab(env: dict[str, str]) -> CiContext:
    repo = env.get("CI_PROJECT_PATH")
    return CiContext(
        provider="gitlab",
        source=f"ci/gitlab/{repo or 'unknown'}",
        repo=repo,
        commit=env.get("CI_COMMIT_SHA"),
        actor=env.get("GITLAB_USER_EMAIL") or env.get("GITLAB_USER_LOGIN"),
        run_url=env.get("CI_JOB_URL") or env.get("CI_PIPELINE_URL"),
        ref=env.get("CI_COMMIT_REF_NAME"),
    )


def _jenkins(env: dict[str, str]) -> CiContext:
    repo = repo_from_remote(env.get("GIT_URL") or env.get("GIT_URL_1"))
    job = env.get("JOB_NAME") or repo or "unknown"
    return CiContext(
        provider="jenkins",
        source=f"ci/jenkins/{job}",
        repo=repo,
        commit=env.get("GIT_COMMIT"),
        actor=env.get("BUILD_USER_EMAIL")
        or env.get("BUILD_USER_ID")
        or env.get("CHANGE_AUTHOR_EMAIL")
        or env.get("CHANGE_AUTHOR"),
        run_url=env.get("BUILD_URL"),
        ref=env.get("BRANCH_NAME") or env.get("GIT_BRANCH"),
    )


def _buildkite(env: dict[str, str]) -> CiContext:
    repo = repo_from_remote(env.get("BUILDKITE_REPO"))
    org = env.get("BUILDKITE_ORGANIZATION_SLUG", "unknown")
    pipeline = env.get("BUILDKITE_PIPELINE_SLUG", "unknown")
    return CiContext(
        provider="buildkite",
        source=f"ci/buildkite/{org}/{pipeline}",
        repo=repo,
        commit=env.get("BUILDKITE_COMMIT"),
        actor=env.get("BUILDKITE_BUILD_CREATOR_EMAIL")
        or env.get("BUILDKITE_BUILD_AUTHOR_EMAIL")
        or env.get("BUILDKITE_BUILD_CREATOR"),
        run_url=env.get("BUILDKITE_BUILD_URL"),
        ref=env.get("BUILDKITE_BRANCH"),
    )


def detect(environ: dict[str, str] | None = None) -> CiContext | None:
    env = dict(os.environ if environ is None else environ)
    if env.get("GITHUB_ACTIONS") == "true":
        return _github(env)
    if env.get("GITLAB_CI") == "true":
        return _gitlab(env)
    if env.get("BUILDKITE") == "true":
        return _buildkite(env)
    if env.get("JENKINS_URL") or env.get("JENKINS_HOME"):
        return _jenkins(env)
    return None


REPO_COMMIT_TYPES = ("change.authored", "change.merged", "artifact.built", "service.deployed")


def fill_defaults(short_type: str, data: dict[str, Any], ctx: CiContext) -> dict[str, Any]:
    """The data with what CI knows filled in where the caller left it out."""
    filled = dict(data)
    if short_type in REPO_COMMIT_TYPES:
        if ctx.repo and "repo" not in filled:
            filled["repo"] = ctx.repo
        if ctx.commit and "commit" not in filled:
            filled["commit"] = ctx.commit
    if short_type == "artifact.built" and ctx.run_url:
        filled.setdefault("pipeline_run", ctx.run_url)
    if short_type == "service.deployed" and ctx.actor:
        filled.setdefault("deployer", {"id": ctx.actor, "kind": ctx.actor_kind})
    if short_type == "change.merged" and ctx.actor:
        filled.setdefault("merged_by", {"id": ctx.actor})
    return filled
