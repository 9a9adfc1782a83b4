"""What deployments shipped, and who wrote, assisted and approved each change.

Gathers by key (deployment seq, commit, person id) so every look-up is an index scan;
the relation rules are the same as the views in ledger/views/50_provenance.sql.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import duckdb

from provenance_ledger.ledger.commit_packs import FACTS_WITH_ORIGIN
from provenance_ledger.query.policy.definitions import Seniority
from provenance_ledger.query.policy.levels import Levels, load_levels
from provenance_ledger.query.readmodels.commitfacts import CommitFacts
from provenance_ledger.query.readmodels.incidents import (
    events_by_seq,
    in_list,
    rows_by_key,
    utc_from_micros,
)

Pair = tuple[str | None, str]
# Gives the ``commit_facts`` rows of commits, in ledger order (``fetch_facts``, or a copy
# kept in memory: query/suspects/keptfacts.py).
FactsOf = Callable[[duckdb.DuckDBPyConnection, list[str]], list[dict[str, Any]]]
# Gives (deployment seq, repo, commit) for the commits deployments name (``fetch_named``, or
# a copy kept in memory).
NamedBy = Callable[[duckdb.DuckDBPyConnection, list[int]], list[tuple[int, str | None, str]]]
# (artifact, repo, commit) for these artifacts, in ledger order (``built_from``).
BuiltBy = Callable[[duckdb.DuckDBPyConnection, list[str]], list[tuple[Any, ...]]]
# ledger/commit_facts.py: everything about a commit in one table, so one look-up by key.
FACT_COLUMNS = (
    "fact, repo, commit, person_id, person_name, epoch_us(fact_at) AS fact_at, files, "
    "lines_added, lines_deleted, "
    "message, tool, model, mode, lines, session, change_ref, decision, merged_commit"
)


def shipped_by(
    cur: duckdb.DuckDBPyConnection, deployments: list[dict[str, Any]]
) -> dict[int, list[Pair]]:
    """Per deployment seq: commits it names, its artifact's commit, commits merges brought in."""
    direct = _shipped_direct(cur, deployments, fetch_named, built_from, [])
    return _with_merged(direct, _merges_of(cur, _commits(direct)))


def shipped_with_details(
    cur: duckdb.DuckDBPyConnection,
    deployments: list[dict[str, Any]],
    seniority: Seniority,
    levels: Levels | None = None,
) -> tuple[dict[int, list[Pair]], dict[str, CommitFacts]]:
    """``shipped_by`` and ``change_details`` at once: one look-up of the commits deployments
    name gives their merges and their authors, assistants and reviews; only commits those
    merges brought in need a second one."""
    shipped, details, _ = shipped_and_applied(cur, deployments, [], seniority, levels)
    return shipped, details


def shipped_and_applied(
    cur: duckdb.DuckDBPyConnection,
    deployments: list[dict[str, Any]],
    applied: list[Pair],
    seniority: Seniority,
    levels: Levels | None = None,
    facts_of: FactsOf | None = None,
    named_by: NamedBy | None = None,
    built_by: BuiltBy | None = None,
    configs_asked: list[int] | None = None,
) -> tuple[dict[int, list[Pair]], dict[str, CommitFacts], dict[str, CommitFacts]]:
    """``shipped_with_details``, and ``change_details`` of ``applied`` (the commits
    configuration changes were applied from), with the commits of both in one look-up
    (``facts_of``, ``named_by`` and ``built_by``: ``fetch_facts``, ``fetch_named`` and
    ``built_from`` unless given). ``configs_asked``: the seqs of the configuration changes
    the caller will want details of, asked of ``named_by`` with the deployments' (kept facts
    read their packs and AI tools in the same statement and keep them)."""
    facts_of = facts_of or fetch_facts
    direct = _shipped_direct(
        cur, deployments, named_by or fetch_named, built_by or built_from, configs_asked or []
    )
    looked_up = {*_commits(direct), *(commit for _, commit in applied)}
    facts = facts_of(cur, sorted(looked_up))
    merges = [f for f in facts if f["fact"] == "merged" and f["merged_commit"] != f["commit"]]
    shipped = _with_merged(direct, merges)
    brought_in = sorted(set(_commits(shipped)) - looked_up)
    facts += facts_of(cur, brought_in) if brought_in else []
    pairs = [pair for pairs in shipped.values() for pair in pairs]
    details = _assemble(cur, pairs, facts, seniority, levels)
    return shipped, details, _assemble(cur, applied, facts, seniority, levels) if applied else {}


def _commits(shipped: dict[int, list[Pair]]) -> list[str]:
    return sorted({commit for pairs in shipped.values() for _, commit in pairs})


def fetch_named(
    cur: duckdb.DuckDBPyConnection, seqs: list[int]
) -> list[tuple[int, str | None, str]]:
    """(deployment seq, repo, commit) of the commits these deployments name, as
    ``deployment_changes`` holds them."""
    return cur.execute(
        "SELECT deployment_seq, repo, commit FROM deployment_changes "
        f"WHERE deployment_seq IN {in_list(seqs)}",
        seqs,
    ).fetchall()


def _shipped_direct(
    cur: duckdb.DuckDBPyConnection,
    deployments: list[dict[str, Any]],
    named_by: NamedBy,
    built_by: BuiltBy,
    also_asked: list[int],
) -> dict[int, list[Pair]]:
    """Per deployment seq: the commits it names and those its artifact was built from
    (``also_asked``: more seqs asked of ``named_by``, whose rows are not shipped)."""
    seqs = [d["event_seq"] for d in deployments]
    shipped: dict[int, list[Pair]] = defaultdict(list)
    asked = [*seqs, *also_asked]
    if not asked:
        return shipped
    names = sorted({d["artifact"] for d in deployments if d.get("artifact")})
    rows = named_by(cur, asked)
    built = built_by(cur, names) if names else []
    deployed = set(seqs)
    for seq, repo, commit in rows:
        if seq in deployed:
            shipped[seq].append((repo, commit))
    by_artifact: dict[str, list[Pair]] = {name: [] for name in names}
    for artifact, repo, commit in built:
        by_artifact[artifact].append((repo, commit))
    for d in deployments:
        if d.get("artifact"):
            shipped[d["event_seq"]] += by_artifact[d["artifact"]]
    return shipped


def _merges_of(cur: duckdb.DuckDBPyConnection, heads: list[str]) -> list[dict[str, Any]]:
    """The merges whose commit is one of ``heads`` and brought in another commit."""
    return [
        m
        for m in rows_by_key(
            cur, "commit_facts", "commit", heads, "fact, repo, commit, merged_commit"
        )
        if m["fact"] == "merged" and m["merged_commit"] != m["commit"]
    ]


def _with_merged(
    shipped: dict[int, list[Pair]], merges: list[dict[str, Any]]
) -> dict[int, list[Pair]]:
    brought: dict[str, list[Pair]] = defaultdict(list)
    for m in merges:
        brought[m["commit"]].append((m["repo"], m["merged_commit"]))
    return {
        seq: _unique(pairs + [p for _, c in pairs for p in brought.get(c, [])])
        for seq, pairs in shipped.items()
    }


def built_from(cur: duckdb.DuckDBPyConnection, names: list[str]) -> list[tuple[Any, ...]]:
    """(artifact, repo, commit) for these artifacts, in ledger order."""
    if not names:
        return []
    artifacts = rows_by_key(
        cur, "artifacts", "artifact", names, "artifact, repo, commit, change_ref"
    )
    # An artifact names its commit, or (CDEvents artifact.packaged) only its change: then
    # the merge of that change says which commits it brought in. merges has no index on
    # change_ref, so it is read only when such an artifact is in the list.
    refs = sorted({a["change_ref"] for a in artifacts if a["commit"] is None and a["change_ref"]})
    merged: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if refs:
        for ref, repo, commit in cur.execute(
            "SELECT change_ref, repo, merged_commit FROM merges "
            f"WHERE change_ref IN {in_list(refs)} ORDER BY event_seq",
            refs,
        ).fetchall():
            merged[ref].append((repo, commit))
    out: list[tuple[Any, ...]] = []
    for a in artifacts:
        if a["commit"] is not None:
            out.append((a["artifact"], a["repo"], a["commit"]))
            continue
        out += [
            (a["artifact"], repo, commit)
            for repo, commit in merged.get(a["change_ref"], [])
            if a["repo"] is None or repo == a["repo"]
        ]
    return out


def _unique(pairs: list[Pair]) -> list[Pair]:
    seen: dict[str, Pair] = {}
    for repo, commit in pairs:
        if commit not in seen or (seen[commit][0] is None and repo is not None):
            seen[commit] = (repo, commit)
    return list(seen.values())


def change_details(
    cur: duckdb.DuckDBPyConnection,
    pairs: list[Pair],
    seniority: Seniority,
    levels: Levels | None = None,
    facts_of: FactsOf | None = None,
) -> dict[str, CommitFacts]:
    """Per commit: what the ledger knows of it, judged by ``seniority`` (``facts_of``:
    ``fetch_facts`` unless given)."""
    commits = sorted({commit for _, commit in pairs})
    if not commits:
        return {}
    return _assemble(cur, pairs, (facts_of or fetch_facts)(cur, commits), seniority, levels)


def fetch_facts(cur: duckdb.DuckDBPyConnection, commits: list[str]) -> list[dict[str, Any]]:
    """The ``commit_facts`` rows of these commits, in ledger order, with their events'
    origins (those of authored and reviewed facts: nothing reads the others')."""
    # One look-up per commit in the index, each hit fetched row by row: on the 1M-deployment
    # bench ledger that beat reading the row groups holding the hits (~10 ms against ~15 ms
    # for ~46 commits), even when all of them sit in one group (the group's wide columns are
    # decoded whole).
    return with_origins(cur, rows_by_key(cur, "commit_facts", "commit", commits, FACT_COLUMNS))


_NONE = (None, None)


def with_origins(
    cur: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``rows`` of ``commit_facts`` (``FACT_COLUMNS`` and ``event_seq``) as ``fetch_facts``
    gives them: the time as a datetime, and the event's id and origin of those that show it."""
    events = events_by_seq(
        cur, sorted({row["event_seq"] for row in rows if row["fact"] in FACTS_WITH_ORIGIN})
    )
    for row in rows:
        row["fact_at"] = utc_from_micros(row["fact_at"])
        shown = row["fact"] in FACTS_WITH_ORIGIN
        row["event_id"], row["origin"] = events.get(row["event_seq"], _NONE) if shown else _NONE
    return rows


def _assemble(
    cur: duckdb.DuckDBPyConnection,
    pairs: list[Pair],
    facts: list[dict[str, Any]],
    seniority: Seniority,
    levels: Levels | None,
) -> dict[str, CommitFacts]:
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in facts:
        kinds[row["fact"]].append(row)
    authored = _by_commit(kinds["authored"])
    reviews = _by_commit(sorted(kinds["reviewed"], key=lambda r: (r["fact_at"], r["event_seq"])))
    assists = _by_commit(kinds["assisted"])
    people = [row["person_id"] for row in kinds["authored"] + kinds["reviewed"]]
    levels = levels or load_levels(cur, people)
    out: dict[str, CommitFacts] = {}
    for repo_hint, commit in pairs:
        # The first change.authored in the repo the deployment names (any, when it names none).
        first = next((a for a in authored.get(commit, []) if _same_repo(a, repo_hint)), None)
        repo = repo_hint or (first["repo"] if first else None)
        out[commit] = CommitFacts(
            repo,
            commit,
            ai=tuple(_strip(a) for a in assists.get(commit, []) if _same_repo(a, repo)),
            reviews=tuple(
                _review(r, levels) for r in reviews.get(commit, []) if _same_repo(r, repo)
            ),
            seniority=seniority,
            levels=levels,
            **(_authored(first, levels) if first else {}),
        )
    return out


def _authored(row: dict[str, Any], levels: Levels) -> dict[str, Any]:
    """What a ``change.authored`` says of its commit, as ``CommitFacts`` fields."""
    return {
        "author": row["person_id"],
        "author_level": levels.at(row["person_id"], row["fact_at"]),
        "known": True,
        "author_name": row["person_name"],
        "message": row["message"],
        "lines_added": row["lines_added"],
        "lines_deleted": row["lines_deleted"],
        "files": tuple(row["files"] or ()),
        "authored_at": row["fact_at"],
        "origin": row["origin"],
    }


def _review(row: dict[str, Any], levels: Levels) -> dict[str, Any]:
    return {
        "reviewer": row["person_id"],
        "reviewer_name": row["person_name"],
        "reviewer_level": levels.at(row["person_id"], row["fact_at"]),
        "decision": row["decision"],
        "change": row["change_ref"],
        "reviewed_at": row["fact_at"],
        "event_id": row["event_id"],
        "origin": row["origin"],
    }


def _same_repo(row: dict[str, Any], repo: str | None) -> bool:
    return repo is None or row["repo"] == repo


def _strip(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("tool", "model", "mode", "lines", "session")}


def _by_commit(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["commit"]].append(row)
    return grouped
