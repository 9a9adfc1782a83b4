"""A commit's provenance, and deployments with what they shipped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from provenance_ledger.query.policy.inforce import seniority_in_force
from provenance_ledger.query.policy.levels import load_levels
from provenance_ledger.query.readmodels.changes import fetch_facts, shipped_with_details
from provenance_ledger.query.readmodels.commitfacts import CommitFacts
from provenance_ledger.query.readmodels.incidents import events_by_seq, in_list, rows_as_dicts
from provenance_ledger.query.readmodels.rollbacks import rollbacks_of


def commit_provenance(
    cur: duckdb.DuckDBPyConnection, sha: str, repo: str | None = None
) -> dict[str, Any] | None:
    """Everything the ledger knows about one commit; None when it knows nothing. Whether it
    was senior-approved is as the policy in force says who is senior."""
    sha = sha.lower()
    authored, ai, reviews, artifacts = _commit_rows(cur, sha, repo)
    merges = _merges(cur, sha, repo)
    deployments = _shipping(cur, sha, repo)
    if not (authored or reviews or merges or artifacts or deployments or ai):
        return None
    levels = load_levels(cur, [a["author"] for a in authored] + [r["reviewer"] for r in reviews])
    for a in authored:
        a["author_level"] = levels.at(a["author"], a["authored_at"])
    for r in reviews:
        r["reviewer_level"] = levels.at(r["reviewer"], r["reviewed_at"])
    first = authored[0] if authored else None
    known = CommitFacts(
        repo or (first["repo"] if first else None),
        sha,
        author=first["author"] if first else None,
        author_level=first["author_level"] if first else None,
        ai=tuple(ai),
        reviews=tuple(reviews),
        known=first is not None,
        seniority=seniority_in_force(),
    )
    return {
        "commit": sha,
        "repo": known.repo,
        "authored": authored,
        "ai": ai,
        "reviews": reviews,
        "senior_approved": known.senior_approved,
        "merges": merges,
        "artifacts": artifacts,
        "deployments": deployments,
        "rollbacks": _rollbacks_of(cur, deployments),
        "incidents": _incidents(cur, sha, repo, [d["event_id"] for d in deployments]),
    }


# The API's names for a commit_facts row's columns, per kind of fact.
_AUTHORED = {
    "repo": "repo", "commit": "commit", "author": "person_id", "author_name": "person_name",
    "files": "files", "lines_added": "lines_added", "lines_deleted": "lines_deleted",
    "message": "message", "authored_at": "fact_at", "event_id": "event_id", "origin": "origin",
}  # fmt: skip
_ASSISTED = {name: name for name in ("repo", "tool", "model", "mode", "lines", "session")}
_REVIEWED = {
    "repo": "repo", "reviewer": "person_id", "reviewer_name": "person_name",
    "decision": "decision", "change": "change_ref", "reviewed_at": "fact_at",
    "event_id": "event_id", "origin": "origin",
}  # fmt: skip


def _commit_rows(
    cur: duckdb.DuckDBPyConnection, sha: str, repo: str | None
) -> tuple[list[dict[str, Any]], ...]:
    """The commit's change.authored, AI assistance, reviews and artifacts, in ledger order.
    The first three come from ``commit_facts`` (one look-up by its index; ``changes``,
    ``change_ai`` and ``reviews`` have none, to spare the writer three index inserts)."""
    facts = [f for f in fetch_facts(cur, [sha]) if repo is None or f["repo"] == repo]
    # Reviews in the order they were given, not the order they arrived in.
    reviewed = sorted(
        (f for f in facts if f["fact"] == "reviewed"), key=lambda f: (f["fact_at"], f["event_seq"])
    )
    artifacts = _with_origin(
        cur,
        rows_as_dicts(
            cur.execute(
                "SELECT artifact, repo, pipeline_run, built_at, event_id, event_seq FROM artifacts "
                "WHERE commit = ? AND (?::VARCHAR IS NULL OR repo = ?) ORDER BY event_seq",
                [sha, repo, repo],
            )
        ),
    )
    return (
        _named([f for f in facts if f["fact"] == "authored"], _AUTHORED),
        _named([f for f in facts if f["fact"] == "assisted"], _ASSISTED),
        _named(reviewed, _REVIEWED),
        artifacts,
    )


def _named(facts: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    return [{api: fact[column] for api, column in names.items()} for fact in facts]


def _rollbacks_of(
    cur: duckdb.DuckDBPyConnection, deployments: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    _, reverted = rollbacks_of(cur, deployments)
    rollbacks = [
        {**_rollback(rb), "deployment_event_id": d["event_id"]}
        for d in deployments
        for rb, _ in reverted.get(d["event_seq"], [])
    ]
    rollbacks.sort(key=lambda r: (r["rolled_back_at"], r["rollback_event_id"]))
    return rollbacks


def _incidents(
    cur: duckdb.DuckDBPyConnection, sha: str, repo: str | None, deployment_ids: list[str]
) -> list[dict[str, Any]]:
    """Standing verdicts that name the commit or a deployment that shipped it."""
    return rows_as_dicts(
        cur.execute(
            "SELECT incident, verdict, by_id AS by, target_kind, deployment_event_id, "
            "attributed_at, event_id FROM attribution_verdicts "
            "WHERE (target_kind = 'commit' AND commit = ? AND (?::VARCHAR IS NULL OR repo = ?)) "
            f"OR deployment_event_id IN {in_list(deployment_ids)} ORDER BY attributed_at, incident",
            [sha, repo, repo, *deployment_ids],
        )
    )


def _merges(cur: duckdb.DuckDBPyConnection, sha: str, repo: str | None) -> list[dict[str, Any]]:
    return _with_origin(
        cur,
        rows_as_dicts(
            cur.execute(
                "SELECT repo, commit AS merge_commit, merged_commit, change_ref AS change, "
                "target_branch, merged_by_id AS merged_by, merged_at, event_id, event_seq "
                "FROM merges WHERE (commit = ? OR merged_commit = ?) "
                "AND (?::VARCHAR IS NULL OR repo = ?) ORDER BY event_seq",
                [sha, sha, repo, repo],
            )
        ),
    )


def _shipping(cur: duckdb.DuckDBPyConnection, sha: str, repo: str | None) -> list[dict[str, Any]]:
    """Deployments that shipped the commit: naming it, by an artifact built from it, or by
    shipping a merge commit that brought it in (the rules of ``deployment_shipped``)."""
    via: dict[int, str] = {}
    merged_into = [
        row[0]
        for row in cur.execute(
            "SELECT DISTINCT commit FROM merges WHERE merged_commit = ? AND commit <> ? "
            "AND (?::VARCHAR IS NULL OR repo = ?)",
            [sha, sha, repo, repo],
        ).fetchall()
    ]
    for kind, commits in (("deployment", [sha]), ("merge", merged_into)):
        # By the commits alone, so that DuckDB uses the index; the repo is checked here.
        for seq, named_repo in cur.execute(
            "SELECT deployment_seq, repo FROM deployment_changes "
            f"WHERE commit IN {in_list(commits)}",
            commits,
        ).fetchall():
            if repo is None or named_repo in (None, repo):
                via.setdefault(seq, kind)
    for (seq,) in cur.execute(
        "SELECT d.event_seq FROM deployments d JOIN artifacts a ON a.artifact = d.artifact "
        "WHERE a.commit = ? AND (?::VARCHAR IS NULL OR a.repo = ?)",
        [sha, repo, repo],
    ).fetchall():
        via.setdefault(seq, "artifact")
    if not via:
        return []
    seqs = sorted(via)
    rows = rows_as_dicts(
        cur.execute(
            "SELECT event_id, event_seq, service, environment, region, version, deployed_at "
            f"FROM deployments WHERE event_seq IN {in_list(seqs)} ORDER BY deployed_at, event_seq",
            seqs,
        )
    )
    return [{**row, "via": via[row["event_seq"]]} for row in _with_origin(cur, rows, keep_seq=True)]


def _with_origin(
    cur: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], keep_seq: bool = False
) -> list[dict[str, Any]]:
    """Each row's ``origin``: how its event reached the ledger (ledger/origin.py), looked up by
    ``event_seq`` through the events' index. As a subquery per row, DuckDB joined the whole
    ``events`` table instead (~55 ms a query at 1M events, three per provenance)."""
    found = events_by_seq(cur, sorted({row["event_seq"] for row in rows}))
    for row in rows:
        row["origin"] = found.get(row["event_seq"], (None, None))[1]
        if not keep_seq:
            del row["event_seq"]
    return rows


def _rollback(rb: dict[str, Any]) -> dict[str, Any]:
    keys = ("service", "environment", "from_version", "to_version", "reason", "rolled_back_at")
    return {"rollback_event_id": rb["event_id"], **{k: rb[k] for k in keys}}


def list_deployments(
    cur: duckdb.DuckDBPyConnection,
    service: str | None,
    environment: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The latest ``limit`` deployments in [since, until), in time order, with changes."""
    rows = rows_as_dicts(
        cur.execute(
            "SELECT event_id, event_seq, event_source AS source, service, environment, region, "
            "version, repo, commit, artifact, deployer_id AS deployer, deployer_kind, "
            "fleet_percent, deployed_at FROM deployments "
            "WHERE (?::VARCHAR IS NULL OR service = ?) AND (?::VARCHAR IS NULL OR environment = ?) "
            "AND (?::TIMESTAMPTZ IS NULL OR deployed_at >= ?) "
            "AND (?::TIMESTAMPTZ IS NULL OR deployed_at < ?) "
            "ORDER BY deployed_at DESC, event_seq DESC LIMIT ?",
            [service, service, environment, environment, since, since, until, until, limit],
        )
    )
    rows.reverse()
    shipped, details = shipped_with_details(cur, rows, seniority_in_force())
    _, reverted = rollbacks_of(cur, rows)
    for row in rows:
        seq = row.pop("event_seq")
        row["changes"] = [details[c].as_api() for _, c in shipped.get(seq, []) if c in details]
        row["rolled_back_by"] = [rb["event_id"] for rb, _ in reverted.get(seq, [])]
    return rows
