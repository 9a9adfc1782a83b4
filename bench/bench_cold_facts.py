"""What a first ("cold") suspects call pays to read its commits' facts: through the index on
``commit`` against two layouts kept in deployment order, measured apart. The second,
"packed", is what the ledger keeps since (``commit_packs``, ledger/commit_packs.py;
``make bench-pack`` measures its cost, ``bench/bench_query.py --without-packs`` the call).

A cold call reads, for the deployments its window kept, the commits they named
(``deployment_changes`` by seq), those commits' ``commit_facts`` rows (through the index on
``commit``) and the ids and origins of their events (``events`` by seq): three look-ups whose
index nodes and data blocks come from the file. Hashes scatter a release's commits over the
index, so each commit costs blocks of its own. The two layouts measured here hold the same
facts ordered by the deployment that named the commit, so one look-up by deployment seq
reads them from a few neighbouring blocks:

- **rows**: one row per deployment-fact pair (the columns ``fetch_facts`` reads plus the
  event's id and origin), ordered by deployment seq, with an index on it;
- **packed**: one row per deployment-commit pair, its facts as one JSON text, same order and
  index (the reader decodes the JSON).

Both are built from the bench ledger into a scratch file, for the deployments within
``--neighbours`` deployments of those the sampled calls read (the layouts' blocks around the
read rows are then what a full copy would hold, and the build takes minutes). The calls
are first run in a child process, which records which deployments and commits each read;
this process then opens the files afresh and times, incident by incident (the layouts in
turn, so none warms the blocks of another), the first read and the same read again. CPU
milliseconds of this process, DuckDB's threads included.

Then it times what a writer keeping the packed layout would look up per batch
(``writer_lookups``): the facts of each commit the batch's deployments name, and the earlier
deployments that named the commit of each fact it writes.

Last it times the other way to keep the packed layout (``bulk_packing``): behind the
writer, a stretch of ``--pack-deployments`` deployments at a time, in one SQL pass over the
ledger (their commits joined to ``commit_facts``, the facts made JSON and gathered per
deployment-commit pair, sorted), in the ways DuckDB offers, CPU per event of the stretch.

    python bench/bench_cold_facts.py /tmp/provledger-bench/ledger-1m.duckdb \\
        [--incidents 200] [--neighbours 3000] [--scratch /tmp/provledger-bench/cold-facts.duckdb]
        [--batches 20] [--batch-events 1000] [--pack-deployments 100000]

What it leaves out: the disk such a layout costs (a commit deployed N times is stored N
times), and the cold call end to end (the layouts are not read by the suspects call).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import msgspec
from bench_pack import events_per_deployment
from bench_query import LOOKBACK, cuts, incidents_sample

from provenance_ledger.ledger.attach import attach_read_only
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.readmodels.changes import FACT_COLUMNS, fetch_facts, fetch_named
from provenance_ledger.query.readmodels.incidents import in_list, rows_as_dicts
from provenance_ledger.query.suspects.finder import suspects_for
from provenance_ledger.query.suspects.keptfacts import kept_facts

# What fetch_facts reads of a fact, and what it then reads of the fact's event.
_ROW_COLUMNS = f"{FACT_COLUMNS}, event_seq, event_id, origin"

# The same, as struct_pack names its fields.
_PACKED_FIELDS = _ROW_COLUMNS.replace(
    "epoch_us(fact_at) AS fact_at", "fact_at := epoch_us(fact_at)"
)

_PACKED_PER_INSERT = 50_000


@dataclass(frozen=True)
class CallReads:
    """What one cold suspects call read: the deployments whose named commits it looked up,
    and the commits whose facts it looked up."""

    incident: str
    deployments: list[int]
    commits: list[str]


def record_reads(path: str, count: int) -> list[CallReads]:
    """Runs the suspects call for ``count`` incidents and records what each looked up."""
    ledger = Ledger.open(path, read_only=True)
    cur = ledger.cursor()
    position = ledger.read_position()
    kept = kept_facts(cur, path, position.ledger_id, position.newest)
    assert kept is not None, "a ledger file keeps its facts"
    reads: list[CallReads] = []
    named_seqs: list[int] = []
    fetched: list[str] = []
    named, fetch = kept.named, kept.fetch

    def recording_named(c: duckdb.DuckDBPyConnection, seqs: list[int]) -> Any:
        named_seqs.extend(seqs)
        return named(c, seqs)

    def recording_fetch(c: duckdb.DuckDBPyConnection, commits: list[str]) -> Any:
        fetched.extend(commits)
        return fetch(c, commits)

    # The call finds this very object (one per ledger file and process) and reads through it.
    kept.named = recording_named  # type: ignore[method-assign]
    kept.fetch = recording_fetch  # type: ignore[method-assign]
    for incident in incidents_sample(ledger, count):
        named_seqs.clear()
        fetched.clear()
        suspects_for(cur, incident, LOOKBACK, 10, position)
        if named_seqs:
            reads.append(CallReads(incident, sorted(set(named_seqs)), sorted(set(fetched))))
    return reads


def build_layouts(ledger_path: str, scratch: Path, reads: list[CallReads], neighbours: int) -> None:
    """Both layouts, into ``scratch``, for the deployments the calls read and their
    ``neighbours`` on either side (in seq order)."""
    scratch.unlink(missing_ok=True)
    con = duckdb.connect(str(scratch))
    attach_read_only(con, ledger_path, "l")
    wanted = sorted({seq for read in reads for seq in read.deployments})
    con.execute("CREATE TEMP TABLE wanted AS SELECT unnest(?::BIGINT[]) AS seq", [wanted])
    con.execute(
        """
        CREATE TEMP TABLE near AS
        WITH ordered AS (
            SELECT event_seq AS seq, row_number() OVER (ORDER BY event_seq) AS n
            FROM l.deployments)
        SELECT DISTINCT other.seq FROM ordered AS one JOIN wanted USING (seq)
        JOIN ordered AS other ON other.n BETWEEN one.n - $near AND one.n + $near
        """,
        {"near": neighbours},
    )
    con.execute(
        """
        CREATE TABLE facts_rows AS
        SELECT d.deployment_seq, f.fact, d.repo, d.commit, f.person_id, f.person_name, f.fact_at,
               f.files, f.lines_added, f.lines_deleted, f.message, f.tool, f.model, f.mode,
               f.lines, f.session, f.change_ref, f.decision, f.merged_commit, f.event_seq,
               e.id AS event_id, e.origin
        FROM l.deployment_changes AS d JOIN near ON d.deployment_seq = near.seq
        LEFT JOIN l.commit_facts AS f ON f.commit = d.commit
        LEFT JOIN l.events AS e ON e.seq = f.event_seq AND f.fact IN ('authored', 'reviewed')
        ORDER BY d.deployment_seq, d.commit, f.event_seq
        """
    )
    con.execute("CREATE INDEX facts_rows_seq_idx ON facts_rows (deployment_seq)")
    con.execute(
        "CREATE TABLE facts_packed (deployment_seq BIGINT, repo VARCHAR, commit VARCHAR, "
        "facts VARCHAR)"
    )
    seqs = [seq for (seq,) in con.execute("SELECT seq FROM near ORDER BY seq").fetchall()]
    # A range of deployments at a time: aggregating all at once runs out of memory here.
    for first in range(0, len(seqs), _PACKED_PER_INSERT):
        span = seqs[first : first + _PACKED_PER_INSERT]
        con.execute(
            f"""
            INSERT INTO facts_packed
            SELECT deployment_seq, repo, commit,
                   to_json(coalesce(list(struct_pack({_PACKED_FIELDS}))
                       FILTER (WHERE fact IS NOT NULL), []))::VARCHAR
            FROM facts_rows WHERE deployment_seq BETWEEN $first AND $last
            GROUP BY deployment_seq, repo, commit ORDER BY deployment_seq, commit
            """,
            {"first": span[0], "last": span[-1]},
        )
    con.execute("CREATE INDEX facts_packed_seq_idx ON facts_packed (deployment_seq)")
    rows, packed, text = con.execute(
        "SELECT (SELECT count(*) FROM facts_rows), count(*), avg(strlen(facts)) FROM facts_packed"
    ).fetchone()
    print(
        f"layouts: {rows:,} rows (deployment-fact pair), {packed:,} packed rows (deployment-commit "
        f"pair, {text:.0f} bytes of JSON each) for {len(wanted):,} deployments read and "
        f"their neighbours"
    )
    con.close()


Facts = set[tuple[Any, ...]]  # each fact read: kind, commit, event seq, person, tool


def _fact(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["fact"], row["commit"], row["event_seq"], row["person_id"], row["tool"]


def _today(con: duckdb.DuckDBPyConnection, read: CallReads) -> Facts:
    named = fetch_named(con, read.deployments)
    commits = sorted({commit for _, _, commit in named})
    return {_fact(row) for row in fetch_facts(con, commits)}


def _rows(con: duckdb.DuckDBPyConnection, read: CallReads) -> Facts:
    seqs = read.deployments
    query = f"SELECT {_ROW_COLUMNS} FROM layouts.facts_rows WHERE deployment_seq IN {in_list(seqs)}"
    rows = rows_as_dicts(con.execute(query, seqs))
    return {_fact(row) for row in rows if row["fact"]}


_DECODE = msgspec.json.Decoder()


def _packed(con: duckdb.DuckDBPyConnection, read: CallReads) -> Facts:
    seqs = read.deployments
    query = (
        "SELECT deployment_seq, repo, commit, facts FROM layouts.facts_packed "
        f"WHERE deployment_seq IN {in_list(seqs)}"
    )
    found = con.execute(query, seqs).fetchall()
    # A reader would sort each commit's facts by event seq (the aggregate keeps no order).
    return {_fact(fact) for *_, text in found for fact in _DECODE.decode(text)}


LAYOUTS: dict[str, Callable[[duckdb.DuckDBPyConnection, CallReads], Facts]] = {
    "today (named, then commit_facts by commit, then events)": _today,
    "rows in deployment order": _rows,
    "packed per deployment-commit pair": _packed,
}


def measure(ledger_path: str, scratch: Path, reads: list[CallReads]) -> None:
    con = duckdb.connect(ledger_path, read_only=True)
    attach_read_only(con, scratch, "layouts")
    first: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    again: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    facts_read = 0
    names = list(LAYOUTS)
    for turn, read in enumerate(reads):
        # Each layout goes first in turn, so none is always read right after another.
        found: list[Facts] = []
        for name in names[turn % 3 :] + names[: turn % 3]:
            for samples in (first[name], again[name]):
                began = time.process_time()
                found.append(LAYOUTS[name](con, read))
                samples.append((time.process_time() - began) * 1000)
        if any(facts != found[0] for facts in found):
            raise SystemExit(f"{read.incident}: the layouts read different facts")
        facts_read += len(found[0])
    print(
        f"{len(reads)} calls' reads: {statistics.mean(len(r.deployments) for r in reads):.1f} "
        f"deployments, {statistics.mean(len(r.commits) for r in reads):.1f} commits and "
        f"{facts_read / len(reads):.1f} facts a call (the same in every layout); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print("CPU ms per call's read          first p50 / p95 / p99        again p50 / p95")
    today_p95 = cuts(first[names[0]])[1]
    for name in names:
        cold, warm = cuts(first[name]), cuts(again[name])
        versus = f"    first p95 {cold[1] / today_p95:.2f}x today's" if name != names[0] else ""
        print(
            f"  {name}\n    {cold[0]:6.1f} / {cold[1]:6.1f} / {cold[2]:6.1f}    "
            f"{warm[0]:6.1f} / {warm[1]:6.1f}{versus}"
        )


def writer_lookups(ledger_path: str, batches: int, batch_events: int) -> None:
    """What keeping the packed layout would add to the writer, per event: for a batch of
    events, the facts of the commits its deployments named (and their events' ids and
    origins), and the earlier deployments that named the commits its facts are about (to add
    those facts to them). bench/gen_ledger.py writes deployments and facts in separate seq
    ranges, so a batch here is what a live ledger would receive in one stretch of time:
    the deployments and commit facts of a time window holding ``batch_events`` of them."""
    con = duckdb.connect(ledger_path, read_only=True)
    earliest, latest, rows = con.execute(
        "SELECT min(deployed_at), max(deployed_at), "
        "count(*) + (SELECT count(*) FROM commit_facts WHERE fact <> 'assisted') "
        "FROM deployments"
    ).fetchall()[0]
    stretch = (latest - earliest) * batch_events / rows
    first_us: list[float] = []
    again_us: list[float] = []
    looked_up = events = 0
    for batch in range(batches):
        # Windows spread over the newest tenth of the ledger's time, oldest first.
        start = latest - (latest - earliest) * (batches - batch) / (10 * batches)
        span = [start, start + stretch]
        named = con.execute(
            "SELECT DISTINCT c.commit FROM deployments AS d JOIN deployment_changes AS c "
            "ON c.deployment_seq = d.event_seq WHERE d.deployed_at >= ? AND d.deployed_at < ?",
            span,
        ).fetchall()
        deployed = con.execute(
            "SELECT count(*) FROM deployments WHERE deployed_at >= ? AND deployed_at < ?", span
        ).fetchall()[0][0]
        about = con.execute(
            # An event is one fact, but for a change's AI assistance, which comes with it.
            "SELECT commit, count(*) FILTER (WHERE fact <> 'assisted') FROM commit_facts "
            "WHERE fact_at >= ? AND fact_at < ? GROUP BY commit",
            span,
        ).fetchall()
        in_batch = deployed + sum(facts for _, facts in about)
        events += in_batch
        named_commits = [commit for (commit,) in named]
        fact_commits = [commit for commit, _ in about]
        looked_up += len(named_commits) + len(fact_commits)
        for samples in (first_us, again_us):
            began = time.process_time()
            if named_commits:
                facts = con.execute(
                    "SELECT event_seq, * EXCLUDE (event_seq) FROM commit_facts "
                    f"WHERE commit IN {in_list(named_commits)}",
                    named_commits,
                ).fetchall()
                seqs = sorted({row[0] for row in facts})
                con.execute(
                    f"SELECT id, origin FROM events WHERE seq IN {in_list(seqs)}", seqs
                ).fetchall()
            if fact_commits:
                con.execute(
                    "SELECT deployment_seq, commit FROM deployment_changes "
                    f"WHERE commit IN {in_list(fact_commits)}",
                    fact_commits,
                ).fetchall()
            samples.append((time.process_time() - began) * 1e6 / in_batch)
    print(
        f"the writer's look-ups for the packed layout, {batches} batches of "
        f"{events / batches:.0f} deployments and facts ({looked_up / batches:.0f} commits "
        "looked up a batch): CPU µs per event "
        f"first p50 {statistics.median(first_us):.1f}, max {max(first_us):.1f}; "
        f"again p50 {statistics.median(again_us):.1f}, max {max(again_us):.1f}"
    )
    con.close()


# Ways to make the packed rows of the deployments with seqs in ($first, $last]: each a list of
# statements, the last one leaving the rows in table ``packed``.
_JOINED = """
    SELECT d.deployment_seq, d.repo, d.commit, {fields}
    FROM l.deployment_changes AS d JOIN l.commit_facts AS f ON f.commit = d.commit
    WHERE d.deployment_seq > $first AND d.deployment_seq <= $last
"""
_FACT = ", ".join(
    "fact_at := epoch_us(f.fact_at)" if "fact_at" in column else f"{column} := f.{column}"
    for column in (c.strip() for c in f"{FACT_COLUMNS}, event_seq".split(","))
)
PACKINGS: dict[str, list[str]] = {
    "the facts of a pair as one list, made JSON": [
        f"""CREATE TABLE packed AS
        SELECT deployment_seq, repo, commit, to_json(list(fact ORDER BY fact.event_seq))::VARCHAR
        FROM ({_JOINED.format(fields=f"struct_pack({_FACT}) AS fact")})
        GROUP BY ALL ORDER BY deployment_seq, commit"""
    ],
    "each fact made JSON, joined per pair": [
        f"""CREATE TEMP TABLE each_fact AS
        {_JOINED.format(fields=f"to_json(struct_pack({_FACT}))::VARCHAR AS fact")}""",
        """CREATE TEMP TABLE gathered AS SELECT deployment_seq, repo, commit,
        '[' || string_agg(fact, ',') || ']' AS facts FROM each_fact GROUP BY ALL""",
        "CREATE TABLE packed AS SELECT * FROM gathered ORDER BY deployment_seq, commit",
    ],
    "(no packing: the joined rows alone, sorted)": [
        f"CREATE TABLE packed AS {_JOINED.format(fields='f.*')} ORDER BY deployment_seq, event_seq"
    ],
}


def bulk_packing(ledger_path: str, scratch: Path, deployments: int) -> None:
    """CPU per event of making the packed rows of the newest ``deployments`` deployments in
    bulk, each way of ``PACKINGS`` into a scratch file of its own. An event is a deployment or
    a fact (an AI assistance comes with its change), the ledger's mix of the two."""
    con = duckdb.connect(ledger_path, read_only=True)
    newest = con.execute("SELECT max(event_seq) FROM deployments").fetchall()[0][0]
    ratio = events_per_deployment(con)
    con.close()
    span = {"first": newest - deployments, "last": newest}
    events = deployments * ratio
    for name, statements in PACKINGS.items():
        scratch.unlink(missing_ok=True)
        con = duckdb.connect(str(scratch))
        attach_read_only(con, ledger_path, "l")
        began = time.process_time()
        for statement in statements:
            con.execute(statement, span if "$first" in statement else {})
        cpu = time.process_time() - began
        rows = con.execute("SELECT count(*) FROM packed").fetchall()[0][0]
        con.close()
        scratch.unlink(missing_ok=True)
        print(
            f"packed in bulk, {name}: {deployments:,} deployments ({events:,.0f} events, "
            f"{rows:,} rows) in {cpu:.1f} s CPU, {cpu * 1e6 / events:.1f} µs per event"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a ledger made by bench/gen_ledger.py")
    parser.add_argument(
        "--incidents", type=int, default=200, help="suspects calls (0: the writer's side only)"
    )
    parser.add_argument("--neighbours", type=int, default=3000)
    parser.add_argument("--batches", type=int, default=20, help="writer batches timed")
    parser.add_argument("--batch-events", type=int, default=1000)
    parser.add_argument(
        "--pack-deployments", type=int, default=100_000, help="deployments packed in bulk"
    )
    parser.add_argument(
        "--scratch", type=Path, default=Path("/tmp/provledger-bench/cold-facts.duckdb")
    )
    args = parser.parse_args()
    ledger_path = str(args.path)
    if args.incidents:
        compare_layouts(ledger_path, args)
    writer_lookups(ledger_path, args.batches, args.batch_events)
    bulk_packing(ledger_path, args.scratch, args.pack_deployments)


def compare_layouts(ledger_path: str, args: argparse.Namespace) -> None:
    began = time.perf_counter()
    # In a child process, so this one opens the ledger with nothing of it read yet.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        reads = pool.apply(record_reads, (ledger_path, args.incidents))
    print(f"{len(reads)} suspects calls recorded in {time.perf_counter() - began:.0f} s")
    began = time.perf_counter()
    build_layouts(ledger_path, args.scratch, reads, args.neighbours)
    print(f"layouts built in {time.perf_counter() - began:.0f} s")
    try:
        measure(ledger_path, args.scratch, reads)
    finally:
        args.scratch.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
