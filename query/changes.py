"""What deployments shipped, and who wrote, assisted and approved each change.

Gathers by key (deployment seq, commit, person id) so every look-up is an index scan;
the relation rules are the same as the views in ledger/views/50_provenance.sql.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import duckdb

from query.incidents import concurrently, in_list, rows_by_key
from query.levels import load_levels
from query.ranking import SENIOR, ChangeFacts

Pair = tuple[str | None, str]
_CHANGE_COLUMNS = (
    "repo, commit, author_id, author_name, files, lines_added, lines_deleted, message, "
    "authored_at, ai_assisted"
)
_REVIEW_COLUMNS = "repo, commit, change_ref, reviewer_id, reviewer_name, decision, reviewed_at"
_AI_COLUMNS = "repo, commit, tool, model, mode, lines, session"


def shipped_by(
    cur: duckdb.DuckDBPyConnection, deployments: list[dict[str, Any]]
) -> dict[int, list[Pair]]:
    """Per deployment seq: commits it names, its artifact's commit, commits merges brought in."""
    seqs = [d["event_seq"] for d in deployments]
    shipped: dict[int, list[Pair]] = defaultdict(list)
    if not seqs:
        return shipped
    names = sorted({d["artifact"] for d in deployments if d.get("artifact")})
    rows, built = concurrently(
        cur,
        lambda c: c.execute(
            "SELECT deployment_seq, repo, commit FROM deployment_changes "
            f"WHERE deployment_seq IN {in_list(seqs)}",
            seqs,
        ).fetchall(),
        lambda c: _built_from(c, names),
    )
    for seq, repo, commit in rows:
        shipped[seq].append((repo, commit))
    by_artifact: dict[str, list[Pair]] = {name: [] for name in names}
    for artifact, repo, commit in built:
        by_artifact[artifact].append((repo, commit))
    for d in deployments:
        for pair in by_artifact.get(d.get("artifact"), []):
            shipped[d["event_seq"]].append(pair)
    heads = sorted({commit for pairs in shipped.values() for _, commit in pairs})
    if heads:
        merged = [
            (m["repo"], m["commit"], m["merged_commit"])
            for m in rows_by_key(cur, "merges", "commit", heads, "repo, commit, merged_commit")
            if m["merged_commit"] != m["commit"]
        ]
        brought: dict[str, list[Pair]] = defaultdict(list)
        for repo, commit, merged_commit in merged:
            brought[commit].append((repo, merged_commit))
        for seq, pairs in shipped.items():
            shipped[seq] = pairs + [p for _, c in pairs for p in brought.get(c, [])]
    return {seq: _unique(pairs) for seq, pairs in shipped.items()}


def _built_from(cur: duckdb.DuckDBPyConnection, names: list[str]) -> list[tuple[Any, ...]]:
    """(artifact, repo, commit) for these artifacts, in ledger order."""
    if not names:
        return []
    # An artifact names its commit, or (CDEvents artifact.packaged) only its change:
    # then the merge of that change says which commits it brought in.
    return cur.execute(
        "SELECT a.artifact, coalesce(a.repo, m.repo), coalesce(a.commit, m.merged_commit) "
        "FROM artifacts a LEFT JOIN merges m ON a.commit IS NULL AND m.change_ref = "
        "a.change_ref AND (a.repo IS NULL OR m.repo = a.repo) "
        f"WHERE a.artifact IN {in_list(names)} "
        "AND coalesce(a.commit, m.merged_commit) IS NOT NULL ORDER BY a.event_seq",
        names,
    ).fetchall()


def _unique(pairs: list[Pair]) -> list[Pair]:
    seen: dict[str, Pair] = {}
    for repo, commit in pairs:
        if commit not in seen or (seen[commit][0] is None and repo is not None):
            seen[commit] = (repo, commit)
    return list(seen.values())


def change_details(
    cur: duckdb.DuckDBPyConnection, pairs: list[Pair]
) -> dict[str, tuple[dict[str, Any], ChangeFacts]]:
    """Per commit: the API's change object and the facts the ranking uses."""
    commits = sorted({commit for _, commit in pairs})
    if not commits:
        return {}
    authored_rows, review_rows = concurrently(
        cur,
        lambda c: rows_by_key(c, "changes", "commit", commits, _CHANGE_COLUMNS, wide=True),
        lambda c: rows_by_key(c, "reviews", "commit", commits, _REVIEW_COLUMNS, wide=True),
    )
    authored = _by_commit(authored_rows)
    reviews = _by_commit(sorted(review_rows, key=lambda r: (r["reviewed_at"], r["event_seq"])))
    # Only AI-assisted changes have change_ai rows: look those up alone.
    assisted = sorted({c for c, rows in authored.items() if any(r["ai_assisted"] for r in rows)})
    people = [a["author_id"] for rows in authored.values() for a in rows]
    people += [r["reviewer_id"] for rows in reviews.values() for r in rows]
    assist_rows, levels = concurrently(
        cur,
        lambda c: rows_by_key(c, "change_ai", "commit", assisted, _AI_COLUMNS),
        lambda c: load_levels(c, people),
    )
    assists = _by_commit(assist_rows)
    out: dict[str, tuple[dict[str, Any], ChangeFacts]] = {}
    for repo_hint, commit in pairs:
        first = (authored.get(commit) or [None])[0]
        repo = repo_hint or (first["repo"] if first else None)
        author = first["author_id"] if first else None
        author_level = levels.at(author, first["authored_at"]) if first else None
        ai = [_strip(a) for a in assists.get(commit, []) if _same_repo(a, repo)]
        if first and not _same_repo(first, repo):
            first, author, author_level = None, None, None
        revs = []
        for r in reviews.get(commit, []):
            if _same_repo(r, repo):
                level = levels.at(r["reviewer_id"], r["reviewed_at"])
                revs.append(
                    {
                        "reviewer": r["reviewer_id"],
                        "reviewer_name": r["reviewer_name"],
                        "reviewer_level": level,
                        "decision": r["decision"],
                        "change": r["change_ref"],
                        "reviewed_at": r["reviewed_at"],
                    }
                )
        senior = any(
            r["decision"] == "approved"
            and r["reviewer_level"] in SENIOR
            and r["reviewer"] != author
            for r in revs
        )
        lines = None
        if first and (first["lines_added"] is not None or first["lines_deleted"] is not None):
            lines = (first["lines_added"] or 0) + (first["lines_deleted"] or 0)
        api = {
            "repo": repo,
            "commit": commit,
            "author": author,
            "author_name": first["author_name"] if first else None,
            "author_level": author_level,
            "message": first["message"] if first else None,
            "lines_added": first["lines_added"] if first else None,
            "lines_deleted": first["lines_deleted"] if first else None,
            "files": list(first["files"] or []) if first else [],
            "ai": ai,
            "reviews": revs,
            "senior_approved": senior,
        }
        facts = ChangeFacts(
            repo=repo,
            commit=commit,
            author=author,
            author_level=author_level,
            known=first is not None,
            ai=tuple(ai),
            reviews=tuple(revs),
            senior_approved=senior,
            lines=lines,
            files=tuple(first["files"] or []) if first else (),
            changes_requested=bool(revs) and revs[-1]["decision"] == "changes_requested",
        )
        out[commit] = (api, facts)
    return out


def _same_repo(row: dict[str, Any], repo: str | None) -> bool:
    return repo is None or row["repo"] == repo


def _strip(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("tool", "model", "mode", "lines", "session")}


def _by_commit(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["commit"]].append(row)
    return grouped
