"""Deployments' named commits (and the commit a configuration change was applied from) and
those commits' facts, read from the packs kept in deployment order (ledger/commit_packs.py)
instead of through the index on ``commit``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import msgspec

from provenance_ledger.ledger.commit_packs import Marks
from provenance_ledger.query.readmodels.changes import with_origins
from provenance_ledger.query.readmodels.incidents import utc_from_micros

_DECODE = msgspec.json.Decoder(list[dict[str, Any]])

# One statement, so the marks and the rows come from one snapshot: every row read belongs to
# a deployment up to the marks, and holds its facts up to them. Both tables are read through
# their index on deployment_seq, which DuckDB uses for an IN list of constants (the seqs are
# integers, written into the statement). The AI tools of the configuration changes asked
# for them come along (as ``gather.config_ai`` reads them: written with the change, in seq
# order, so the range of those seqs alone lets zone maps skip row groups; a deployment's seq
# in it could stretch it over the whole table), which saves a cold call another statement.
_READ = """
SELECT 0 AS part, deployments_through, facts_through, NULL, NULL, NULL FROM commit_pack_marks
UNION ALL
SELECT 1, deployment_seq, position, repo, commit, facts FROM commit_packs
WHERE deployment_seq IN ({seqs})
UNION ALL
SELECT 2, deployment_seq, NULL, NULL, commit, facts FROM commit_pack_additions
WHERE deployment_seq IN ({seqs})
"""
_READ_AI = """
UNION ALL
SELECT 3, event_seq, rowid, NULL, NULL,
       to_json(struct_pack(tool := tool, model := model, mode := mode, lines := lines,
                           session := session))::VARCHAR
FROM config_change_ai WHERE event_seq BETWEEN {low} AND {high} AND event_seq IN ({seqs})
"""
_DECODE_TOOL = msgspec.json.Decoder(dict[str, Any])


@dataclass
class Packed:
    """What the packs hold of some deployments: ``marks``; per packed deployment seq its
    named (repo, commit) pairs in the order ``fetch_named`` gives; per commit its facts up to
    ``marks.facts_through`` as ``fetch_facts`` gives them (in ledger order); ``ai``."""

    marks: Marks
    named: dict[int, list[tuple[str | None, str]]] = field(default_factory=dict)
    facts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Per configuration change asked for its AI tools: its tools, as config_ai gives ([] for
    # none).
    ai: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def packed(self, seq: int) -> bool:
        return seq <= self.marks.deployments_through


def _ledger_order(fact: dict[str, Any]) -> tuple[int, int]:
    return fact["event_seq"], fact["fact_row"]


def read_packs(
    cur: duckdb.DuckDBPyConnection, seqs: list[int], ai_of: list[int] | None = None
) -> Packed:
    """The packs of these deployment seqs (those beyond the marks are not packed yet), and
    the AI tools of the configuration changes ``ai_of``."""
    if not seqs:
        return Packed(Marks(-1, -1))
    ai_of = ai_of or []
    sql = _READ.format(seqs=_listed(seqs))
    if ai_of:
        sql += _READ_AI.format(seqs=_listed(ai_of), low=min(ai_of), high=max(ai_of))
    rows = cur.execute(sql).fetchall()
    marks = next((Marks(d, f) for part, d, f, *_ in rows if part == 0), Marks(-1, -1))
    found = Packed(marks, {seq: [] for seq in seqs if seq <= marks.deployments_through})
    found.ai = {seq: [] for seq in ai_of}
    # A deployment's pack and additions of a commit hold each of its facts up to the marks
    # once; another deployment (or position) naming the commit holds them again. Additions
    # count only beside their pack: a configuration change a provledger before such packs
    # passed over has none, and its commit is read the old way.
    texts: dict[tuple[int, str], list[str]] = {}
    for part, seq, _, repo, commit, text in sorted(rows, key=lambda row: row[:3]):
        if part == 1:
            found.named[seq].append((repo, commit))
            if (seq, commit) not in texts:
                texts[seq, commit] = [text]
        elif part == 2 and (seq, commit) in texts:
            texts[seq, commit].append(text)
        elif part == 3:
            found.ai[seq].append(_DECODE_TOOL.decode(text))
    chosen: dict[str, list[str]] = {}
    for (_, commit), parts in texts.items():
        chosen.setdefault(commit, parts)
    without_ids: list[dict[str, Any]] = []
    for commit, parts in chosen.items():
        facts = [fact for text in parts for fact in _DECODE.decode(text)]
        facts.sort(key=_ledger_order)
        for fact in facts:
            del fact["fact_row"]
            if "event_id" in fact:
                fact["fact_at"] = utc_from_micros(fact["fact_at"])
            else:
                without_ids.append(fact)
        found.facts[commit] = facts
    # Facts packed before the packs held their events' ids and origins (by an earlier
    # provledger) have them looked up.
    with_origins(cur, without_ids)
    return found


def _listed(seqs: list[int]) -> str:
    return ", ".join(str(int(seq)) for seq in seqs)
