"""A Terraform plan (``terraform show -json PLANFILE``) → ``config.changed`` data. Pure.

One change per resource address the plan creates, updates, replaces, deletes or forgets
(``no-op`` and ``read`` changes, and data sources, are not changes), rather than one summary
of the run: the ledger then has a row per address, so a later apply that puts an address
back is seen as undoing it, a destroyed database stands out by itself among an incident's
suspects, and "what did this apply do" is still one ``GROUP BY``.

Each change has kind ``infrastructure`` (``secret`` for secret-holding resource types), key
the address, the extension field ``action`` (``create``, ``update``, ``replace``, ``delete``,
``forget``), and for updates and replacements ``from``/``to``: the top-level attributes that
change, leaving out every attribute Terraform marks sensitive or not known until apply, and
leaving both out when they would be larger than :data:`MAX_VALUES_BYTES`. Secrets never
carry values.
"""

from __future__ import annotations

import json
import re
from typing import Any

from provenance_ledger.schemas.errors import UsageProblem

MAX_VALUES_BYTES = 4096
# What Terraform marks an attribute with when its value must not, or cannot, be shown.
MARKERS = ("before_sensitive", "after_sensitive", "after_unknown")
SECRET_TYPE = re.compile(r"secret|password|private_key|_token\b|credential", re.IGNORECASE)
ACTIONS = {
    ("create",): "create",
    ("update",): "update",
    ("delete",): "delete",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
    ("forget",): "forget",
}


class PlanError(ValueError, UsageProblem):
    """Not the JSON of a Terraform plan."""


def _marked(flags: Any) -> bool:
    """True if a sensitivity/unknown marker (a bool, or a structure of them) marks anything."""
    if isinstance(flags, dict):
        return any(_marked(value) for value in flags.values())
    if isinstance(flags, list):
        return any(_marked(value) for value in flags)
    return flags is True


def _changed_values(change: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    before, after = change.get("before"), change.get("after")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return None
    markers = [change.get(name) or {} for name in MARKERS]
    if not all(isinstance(flags, dict) for flags in markers):
        return None  # the whole object is sensitive or unknown
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for name in sorted(set(before) | set(after)):
        if any(_marked(flags.get(name)) for flags in markers):
            continue
        if before.get(name) != after.get(name):
            old[name], new[name] = before.get(name), after.get(name)
    size = len(json.dumps([old, new], ensure_ascii=False, default=str))
    if not old or size > MAX_VALUES_BYTES:
        return None
    return old, new


def _resource_change(entry: Any) -> dict[str, Any] | None:
    if not isinstance(entry, dict) or entry.get("mode", "managed") != "managed":
        return None
    change = entry.get("change")
    address = entry.get("address")
    if not isinstance(change, dict) or not isinstance(address, str):
        raise PlanError("a resource_changes entry has no address or change")
    action = ACTIONS.get(tuple(change.get("actions") or ()))
    if action is None:
        return None
    secret = bool(SECRET_TYPE.search(str(entry.get("type", ""))))
    data: dict[str, Any] = {
        "kind": "secret" if secret else "infrastructure",
        "key": address,
        "action": action,
    }
    values = None if secret or action not in ("update", "replace") else _changed_values(change)
    if values is not None:
        data["from"], data["to"] = values
    return data


def plan_changes(plan: Any) -> list[dict[str, Any]]:
    """The ``config.changed`` data (without target, actor, repo and commit) of each changed
    resource of a plan, in the plan's order."""
    if not isinstance(plan, dict) or not {"resource_changes", "format_version"} & set(plan):
        raise PlanError(
            "not a Terraform plan in JSON: give the output of `terraform show -json PLANFILE`"
        )
    entries = plan.get("resource_changes") or []
    if not isinstance(entries, list):
        raise PlanError("resource_changes is not a list")
    return [data for entry in entries if (data := _resource_change(entry)) is not None]
