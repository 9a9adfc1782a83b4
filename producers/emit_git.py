"""What ``provledger emit`` reads from git: HEAD as a change, commits new since a deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers import journal
from provenance_ledger.producers.ai_detect import RuleSet
from provenance_ledger.producers.attribution import AttributionReport, Sources, rank
from provenance_ledger.producers.backfill import change_data, repo_name
from provenance_ledger.producers.gitlog import GitError, git, iter_commits, repo_info
from provenance_ledger.producers.gitproc import is_sha
from provenance_ledger.schemas.errors import LocalFailure, ProvledgerError

PAGE = 1000
MAX_PAGES = 100


def change_from_git(
    path: Path, repo: str | None, rules: RuleSet, rev: str = "HEAD"
) -> dict[str, Any]:
    """``change.authored`` data for ``rev``: files, lines, message, and AI from its git-ai
    note, the Agent Trace records made for it, its trailers and its author."""
    report = AttributionReport()
    try:
        commit = next(iter_commits(path, revs=["--max-count=1", rev]))
        root = repo_info(path).root
        with Sources(root, rules.aliases, report, only=commit.sha) as sources:
            data = change_data(commit, repo or repo_name(path), rules, sources)
    except (GitError, StopIteration) as exc:
        raise LocalFailure(f"cannot read {rev} from git in {path}: {exc}") from exc
    for line in report.problems():
        click.echo(f"warning: {line}", err=True)
    return data


def head_of(path: Path) -> dict[str, str]:
    """``commit`` (and ``repo``) of the work tree at ``path``; nothing if it is not one."""
    try:
        return {"commit": git(path, "rev-parse", "HEAD").strip(), "repo": repo_name(path)}
    except GitError:
        return {}


def merge_ai(found: list[dict[str, Any]], folded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hook journal's entries (with line counts) first, then what git shows (``found``:
    notes, traces, trailers), ranked as :func:`attribution.rank` ranks sources: another
    session of a journaled tool is added, a trailer only fills in a model or mode."""
    return rank(folded, found)


def fold_journal(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The data with the hook journal folded into ``ai`` for its commit, when it is local."""
    found = journal.find_repo(path.resolve())
    if found is None or not data.get("commit"):
        return data
    root, git_dir = found
    try:
        folded = journal.fold(root, git_dir, data["commit"])
    except GitError:
        return data
    if not folded:
        return data
    return {**data, "ai": merge_ai(list(data.get("ai") or []), folded)}


def previous_deployed(settings: Settings, service: str, environment: str) -> str | None:
    """The commit of the latest deployment the API knows (it lists oldest first, in pages)."""
    from provenance_ledger.query.cli.client import api_get

    params: dict[str, Any] = {"service": service, "environment": environment, "limit": PAGE}
    latest: str | None = None
    for _ in range(MAX_PAGES):
        try:
            body = api_get(settings, "/v1/deployments", params)
        except ProvledgerError as exc:  # the API is away or refused: emit goes on
            click.echo(f"warning: no previous deployment from the API ({exc.message})", err=True)
            return latest
        page = body.get("deployments", []) if isinstance(body, dict) else []
        latest = next((d["commit"] for d in reversed(page) if d.get("commit")), latest)
        if len(page) < PAGE:
            return latest
        params["since"] = page[-1]["deployed_at"]
    return latest


def deployed_commits(
    settings: Settings, path: Path, data: dict[str, Any], since_commit: str | None
) -> list[str]:
    """Commits in ``previous..head``; just the head when the previous one is unknown."""
    head = data["commit"]
    previous = since_commit or previous_deployed(settings, data["service"], data["environment"])
    if previous is None or previous == head:
        return [head]
    if not since_commit and not is_sha(previous):  # from events anyone may send: no git option
        click.echo(f"warning: the previous deployment's commit {previous[:80]!r} is not a sha",
                   err=True)  # fmt: skip
        return [head]
    try:
        return git(path, "rev-list", f"{previous}..{head}").split()
    except GitError as exc:
        click.echo(f"warning: cannot list {previous[:12]}..{head[:12]}: {exc}", err=True)
        return [head]
