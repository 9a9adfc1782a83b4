"""GitLab webhooks: the ``X-Gitlab-Token`` header must equal the secret (compared in constant
time); the delivery id is ``Idempotency-Key`` (the same on every retry of a delivery), else
``X-Gitlab-Event-UUID``.

- merge request ``merge`` → ``change.merged``: ``commit`` is the ``merge_commit_sha`` (absent
  for a fast-forward merge, where the last commit itself lands) and ``commits`` the merge
  request's ``last_commit``, the revision its approvals approved;
- merge request ``approval`` and ``approved`` → ``change.reviewed`` ``approved`` of the
  ``last_commit``, by the ``user`` who approved;
- deployment ``success`` or ``failed`` → ``service.deployed``; the payload names the commit only
  in ``commit_url``, whose last segment is its sha.

Everything else is answered 202 and ignored. docs/webhooks.md gives the reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provenance_ledger.query.api.webhooks.core import (
    Context,
    Delivery,
    Outcome,
    Planned,
    at,
    compact,
    delivery_id,
    dig,
    header,
    ignored,
    one_matches,
    person,
    sha,
    text,
)
from provenance_ledger.query.api.webhooks.mapping import Forge

PROVIDER = "gitlab"
APPROVALS = ("approval", "approved")
DEPLOYED_STATES = ("success", "failed")


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
    """``headers`` with lower-case names; raises BadSignature."""
    given = header(headers, "X-Gitlab-Token")
    one_matches([given], secret, "X-Gitlab-Token is not the configured secret")


def delivery(headers: Mapping[str, str], payload: Any) -> Delivery:
    named = headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid")
    found = delivery_id(named, "Idempotency-Key or X-Gitlab-Event-UUID")
    return Delivery(PROVIDER, found, headers.get("x-gitlab-event"))


def map_payload(payload: Any, delivery: Delivery, context: Context) -> Outcome:
    repo = text(payload, "project", "path_with_namespace")
    source = f"webhook/gitlab/{repo}" if repo else "webhook/gitlab"
    kind = text(payload, "object_kind")
    forge = context.mapping.gitlab
    if kind == "merge_request":
        return _merge_request(payload, repo, source, forge)
    if kind == "deployment":
        return _deployment(payload, repo, source, forge)
    return ignored(source, f"the GitLab event {kind!r} is not one the ledger records")


def _merge_request(payload: Any, repo: str | None, source: str, forge: Forge) -> Outcome:
    attributes = dig(payload, "object_attributes")
    action = text(attributes, "action")
    head = sha(attributes, "last_commit", "id")
    user = _account(forge, payload)
    time = at(attributes, "updated_at")
    data: dict[str, Any]
    if action in APPROVALS:
        data = {
            "repo": repo,
            "commit": head,
            "change": text(attributes, "iid"),
            "reviewer": user,
            "decision": "approved",
        }
        return Outcome(source, (Planned("change.reviewed", compact(data), time),))
    if action != "merge":
        return ignored(source, f"a merge request {action}: only merges and approvals are recorded")
    result = sha(attributes, "merge_commit_sha") or head
    data = {
        "repo": repo,
        "commit": result,
        "commits": [head] if head and head != result else [],
        "change": text(attributes, "iid"),
        "target_branch": text(attributes, "target_branch"),
        "merged_by": user,
    }
    return Outcome(source, (Planned("change.merged", compact(data), time),))


def _deployment(payload: Any, repo: str | None, source: str, forge: Forge) -> Outcome:
    status = text(payload, "status")
    if status not in DEPLOYED_STATES:
        return ignored(source, f"a deployment {status}: only success and failed are recorded")
    commit_url = text(payload, "commit_url") or ""
    commit = sha(commit_url.rstrip("/").rsplit("/", 1)[-1])
    data = {
        "service": forge.services.get(repo or "") or text(payload, "project", "name"),
        "environment": forge.environment(text(payload, "environment")),
        "version": commit or text(payload, "short_sha"),
        "repo": repo,
        "commit": commit,
        "deployer": _account(forge, payload),
        "status": "failure" if status == "failed" else None,
    }
    time = at(payload, "status_changed_at")
    return Outcome(source, (Planned("service.deployed", compact(data), time),))


def _account(forge: Forge, payload: Any) -> dict[str, Any] | None:
    """The payload's ``user`` as a person: the id the mapping file gives the username, else
    the username."""
    login = text(payload, "user", "username")
    return person(forge.person_id(login, login), text(payload, "user", "name")) if login else None
