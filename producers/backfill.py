"""``change.authored`` for git history: one event per commit, with the AI assistance its
git-ai note, Agent Trace records, trailers and author show (:mod:`producers.attribution`).

Event ids are derived from repo + commit, and the source is fixed per repo, so a second run
sends the same (source, id) pairs with the same content: the ledger stores nothing new.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provenance_ledger.producers.ai_detect import (
    CommitText,
    RuleSet,
    default_rules,
    detect_sources,
    split_ident,
)
from provenance_ledger.producers.attribution import AttributionReport, Sources, cap_lines, rank
from provenance_ledger.producers.ci_context import repo_from_remote
from provenance_ledger.producers.gitlog import (
    Commit,
    GitError,
    Skipped,
    git,
    iter_commits,
    repo_info,
)
from provenance_ledger.schemas.codec import DecodedEvent
from provenance_ledger.schemas.events import ChangeAuthored, CloudEvent, full_type

CHANGE_AUTHORED = full_type("change.authored")


def event_id(repo: str, sha: str) -> str:
    """Readable and stable: the same commit of the same repo always has the same id."""
    return f"{repo}@{sha}"


def backfill_source(repo: str) -> str:
    return f"git/backfill/{repo}"


def change_event(event_id: str, data: dict[str, Any], source: str, at: str) -> DecodedEvent:
    """The validated event. The envelope is ours and known good, so only the data is checked
    (pydantic on the whole envelope would double the cost per commit)."""
    fact = ChangeAuthored.model_validate(data)
    event = CloudEvent.model_construct(
        specversion="1.0", id=event_id, source=source, type=CHANGE_AUTHORED,
        time=datetime.fromisoformat(at).astimezone(UTC), data=data,
    )  # fmt: skip
    return DecodedEvent(event, fact)


def repo_name(path: Path | str) -> str:
    """``org/name`` from the ``origin`` remote, else ``local/<folder>``."""
    try:
        url = git(path, "remote", "get-url", "origin").strip()
    except GitError:
        url = ""
    name = repo_from_remote(url)
    if name:
        return name
    root = git(path, "rev-parse", "--show-toplevel").strip()
    return f"local/{Path(root).name}"


def change_data(
    commit: Commit, repo: str, rules: RuleSet, sources: Sources | None = None
) -> dict[str, Any]:
    """The ``change.authored`` data of one commit (lines absent where unknown). An agent
    that commits for someone (Copilot's coding agent) leaves that person as the author."""
    author = f"{commit.author_name} <{commit.author_email}>"
    committer = f"{commit.committer_name} <{commit.committer_email}>"
    data: dict[str, Any] = {
        "repo": repo,
        "commit": commit.sha,
        "author": {"id": commit.author_email or commit.author_name, "name": commit.author_name},
        "message": commit.message,
    }
    if commit.files is not None:
        data["files"] = list(commit.files)
    if commit.lines_added is not None and not commit.is_merge:
        data["lines_added"] = commit.lines_added
        data["lines_deleted"] = commit.lines_deleted
    found = detect_sources(CommitText(author, commit.message, committer), rules)
    if found.requester:
        name, email = split_ident(found.requester)
        data["author"] = {"id": email or name, "name": name}
    note, traced = (
        sources.recorded(commit.sha, commit.parents, commit.files) if sources else ([], [])
    )
    ai = cap_lines(rank(note, traced, found.stated, found.suggested), data.get("lines_added"))
    if ai:
        data["ai"] = ai
    return data


@dataclass
class Report:
    commits: int = 0
    ai_commits: int = 0
    tools: Counter[str] = field(default_factory=Counter)
    skipped: Skipped = field(default_factory=Skipped)
    attribution: AttributionReport = field(default_factory=AttributionReport)
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.commits / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        tools = ", ".join(f"{tool} {count}" for tool, count in self.tools.most_common()) or "none"
        lines = [
            f"{self.commits} commits in {self.elapsed_s:.1f}s ({self.rate:,.0f} commits/s); "
            f"{self.ai_commits} with AI assistance ({tools})",
            *self.attribution.summary(),
        ]
        if self.skipped.shallow:
            lines.append(
                f"{len(self.skipped.shallow)} shallow-boundary commits: files and lines unknown "
                f"(fetch more history with `git fetch --deepen`), e.g. {self.skipped.shallow[0]}"
            )
        if self.skipped.missing_trees:
            lines.append(
                f"{len(self.skipped.missing_trees)} commits need trees or blobs that are not "
                f"in this clone: files and lines unknown, e.g. {self.skipped.missing_trees[0]}"
            )
        if self.skipped.missing_blobs:
            lines.append(
                f"{len(self.skipped.missing_blobs)} commits in this partial clone need blobs "
                f"that are not local: lines unknown, e.g. {self.skipped.missing_blobs[0]}"
            )
        if self.skipped.unreadable:
            sha, why = self.skipped.unreadable[0]
            lines.append(
                f"{len(self.skipped.unreadable)} commits could not be read and were not "
                f"emitted, e.g. {sha}: {why}"
            )
        return "\n".join(lines)


def changes(
    path: Path | str,
    repo: str,
    since: str | None = None,
    rules: RuleSet | None = None,
    report: Report | None = None,
    revs: list[str] | None = None,
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(event id, data, author time) per commit, newest first, counting into ``report``."""
    ruleset = rules or default_rules()
    stats = report if report is not None else Report()
    root = repo_info(path).root
    with Sources(root, ruleset.aliases, stats.attribution) as sources:
        for commit in iter_commits(path, revs=revs, since=since, skipped=stats.skipped):
            data = change_data(commit, repo, ruleset, sources)
            stats.commits += 1
            if data.get("ai"):
                stats.ai_commits += 1
                stats.tools.update({entry["tool"] for entry in data["ai"]})
            yield event_id(repo, commit.sha), data, commit.author_time
