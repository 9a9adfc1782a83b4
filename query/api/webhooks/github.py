"""GitHub webhooks: ``X-Hub-Signature-256`` (HMAC-SHA256 of the body, hex, ``sha256=`` first)
checked on the raw body; ``X-GitHub-Delivery`` is the delivery id, ``X-GitHub-Event`` the kind.

- ``pull_request_review`` submitted → ``change.reviewed`` of the reviewed ``commit_id``;
- ``pull_request`` closed and merged → ``change.merged``: ``commit`` is GitHub's
  ``merge_commit_sha`` (the merge commit, the squash commit, or the last rebased commit) and
  ``commits`` the pull request's head, the revision its reviews approved;
- ``push`` to the default branch → one ``change.authored`` per commit, AI assistance read from
  the commit's trailers and names, except the commits GitHub itself made merging a pull request
  (committer ``web-flow``): the ``pull_request`` event links those to the reviewed head;
- ``deployment_status`` success or failure → ``service.deployed`` of the deployment's sha.

Everything else is answered 202 and ignored. docs/webhooks.md gives the reasons.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from provenance_ledger.producers.ai_detect import CommitText, detect
from provenance_ledger.query.api.webhooks.core import (
    Context,
    Delivery,
    Outcome,
    Planned,
    at,
    compact,
    delivery_id,
    dig,
    hex_hmac,
    ignored,
    items,
    person,
    sha,
    text,
)
from provenance_ledger.query.api.webhooks.mapping import Forge

PROVIDER = "github"
MERGE_COMMITTER = "web-flow"
"""The committer of the commits GitHub makes when a pull request is merged on github.com."""
DECISIONS = ("approved", "changes_requested", "commented")
DEPLOYED_STATES = ("success", "failure")


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
    """``headers`` with lower-case names; raises BadSignature."""
    hex_hmac(headers, "X-Hub-Signature-256", "sha256=", body, secret)


def delivery(headers: Mapping[str, str], payload: Any) -> Delivery:
    found = delivery_id(headers.get("x-github-delivery"), "X-GitHub-Delivery")
    return Delivery(PROVIDER, found, headers.get("x-github-event"))


def map_payload(payload: Any, delivery: Delivery, context: Context) -> Outcome:
    repo = text(payload, "repository", "full_name")
    source = f"webhook/github/{repo}" if repo else "webhook/github"
    mapper = _MAPPERS.get(delivery.kind or "")
    if mapper is None:
        return ignored(source, f"the GitHub event {delivery.kind!r} is not one the ledger records")
    return mapper(payload, repo, source, context)


def _review(payload: Any, repo: str | None, source: str, context: Context) -> Outcome:
    action = text(payload, "action")
    if action != "submitted":
        return ignored(source, f"a review {action}: only submitted reviews are recorded")
    state = (text(payload, "review", "state") or "").lower()
    if state not in DECISIONS:
        return ignored(source, f"a review in state {state!r} is no decision")
    login = text(payload, "review", "user", "login")
    data = {
        "repo": repo,
        "commit": sha(payload, "review", "commit_id"),
        "change": text(payload, "pull_request", "number"),
        "reviewer": _account(context.mapping.github, login),
        "decision": state,
    }
    time = at(payload, "review", "submitted_at")
    return Outcome(source, (Planned("change.reviewed", compact(data), time),))


def _pull_request(payload: Any, repo: str | None, source: str, context: Context) -> Outcome:
    action = text(payload, "action")
    pull = dig(payload, "pull_request")
    if action != "closed":
        return ignored(source, f"a pull request {action}: only a merge is recorded")
    if dig(pull, "merged") is not True:
        return ignored(source, "a pull request closed without merging")
    result = sha(pull, "merge_commit_sha")
    head = sha(pull, "head", "sha")
    data = {
        "repo": repo,
        "commit": result,
        "commits": [head] if head and head != result else [],
        "change": text(pull, "number"),
        "target_branch": text(pull, "base", "ref"),
        "merged_by": _account(context.mapping.github, text(pull, "merged_by", "login")),
    }
    return Outcome(source, (Planned("change.merged", compact(data), at(pull, "merged_at")),))


def _push(payload: Any, repo: str | None, source: str, context: Context) -> Outcome:
    ref = text(payload, "ref")
    default = text(payload, "repository", "default_branch")
    if dig(payload, "deleted") is True:
        return ignored(source, f"a push deleting {ref}")
    if default is None or ref != f"refs/heads/{default}":
        return ignored(source, f"a push to {ref}, not to the default branch {default}")
    commits = [
        commit
        for commit in items(payload, "commits")
        if text(commit, "committer", "username") != MERGE_COMMITTER
    ]
    if not commits:
        return ignored(source, "a push with no commit but those GitHub made merging")
    planned = [_authored(commit, index, repo, context) for index, commit in enumerate(commits)]
    return Outcome(source, tuple(planned))


def _authored(commit: Any, index: int, repo: str | None, context: Context) -> Planned:
    email = text(commit, "author", "email")
    login = text(commit, "author", "username")
    message = text(commit, "message") or ""
    changed = [*items(commit, "added"), *items(commit, "modified"), *items(commit, "removed")]
    text_of = CommitText(_ident(commit, "author"), message, _ident(commit, "committer"))
    ai = detect(text_of, context.ai_rules)
    commit_sha = sha(commit, "id")
    data = {
        "repo": repo,
        "commit": commit_sha,
        "author": person(
            context.mapping.github.person_id(login, email or login), text(commit, "author", "name")
        ),
        "files": sorted({path for path in changed if isinstance(path, str)}),
        "message": message or None,
        "ai": ai,
    }
    key = commit_sha or f"commit-{index}"
    return Planned("change.authored", compact(data), at(commit, "timestamp"), key)


def _ident(commit: Any, role: str) -> str:
    """``Name <email>`` of the commit's author or committer, as git prints it."""
    return f"{text(commit, role, 'name') or ''} <{text(commit, role, 'email') or ''}>"


def _deployment_status(payload: Any, repo: str | None, source: str, context: Context) -> Outcome:
    state = text(payload, "deployment_status", "state")
    if state not in DEPLOYED_STATES:
        return ignored(source, f"a deployment {state}: only success and failure are recorded")
    forge = context.mapping.github
    deployment = dig(payload, "deployment")
    commit = sha(deployment, "sha")
    service = text(deployment, "payload", "service") or forge.services.get(repo or "")
    environment = text(payload, "deployment_status", "environment")
    login = text(deployment, "creator", "login")
    kind = "automation" if text(deployment, "creator", "type") == "Bot" else "human"
    data = {
        "service": service or text(payload, "repository", "name"),
        "environment": forge.environment(environment or text(deployment, "environment")),
        "version": text(deployment, "payload", "version") or commit,
        "repo": repo,
        "commit": commit,
        "deployer": _account(forge, login, kind=kind),
        "status": "failure" if state == "failure" else None,
    }
    time = at(payload, "deployment_status", "updated_at")
    return Outcome(source, (Planned("service.deployed", compact(data), time),))


def _account(forge: Forge, login: str | None, **extra: str) -> dict[str, Any] | None:
    """A GitHub account as a person: the id the mapping file gives its login, else the login."""
    return person(forge.person_id(login, login), login, **extra) if login else None


_MAPPERS: dict[str, Callable[[Any, str | None, str, Context], Outcome]] = {
    "pull_request_review": _review,
    "pull_request": _pull_request,
    "push": _push,
    "deployment_status": _deployment_status,
}
