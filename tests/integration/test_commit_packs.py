"""Commit facts packed per deployment (ledger/commit_packs.py) and read back by the suspects
call (query/readmodels/packs.py, query/suspects/keptfacts.py), on real DuckDB files.

What must hold: after any sequence of passes (each packing fewer deployments than were
written, facts arriving before and after their deployment was packed, the file closed and
opened between passes), every packed deployment reads back the commits ``fetch_named``
gives, in its order, each with exactly the facts ``fetch_facts`` gives; and the suspects
call answers the same with packs as without, reading neither ``deployment_changes`` nor
``commit_facts``' index for what is packed.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from provenance_ledger.ledger import packer as packer_module
from provenance_ledger.ledger.commit_packs import TABLES, Marks, marks, pack, pack_all, unpacked
from provenance_ledger.ledger.packer import Packer
from provenance_ledger.ledger.snapshot import write_snapshot
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.readmodels import changes, packs
from provenance_ledger.query.readmodels.packs import read_packs
from provenance_ledger.query.suspects import keptfacts
from provenance_ledger.query.suspects.finder import suspects_for
from tests.support.provstory import Story, sha, write_direct
from tests.support.scenarios import DEV, JUNIOR, PRINCIPAL, SENIOR, scenario_story

# Text a JSON pack must carry unchanged.
HOSTILE = 'fix "quotes", back\\slash, tab\t, newline\n, NUL-free ünïcødé 🚀, </script> ]}'
REPOS = ("shop/checkout", "shop/cards")


def _recorded(monkeypatch: pytest.MonkeyPatch, name: str) -> list[list]:
    """What each call of the kept facts' read ``name`` asked for (its keys), as it is called;
    the read itself goes on."""
    asked: list[list] = []
    read = getattr(keptfacts, name)

    def recording(cur, keys: list):
        asked.append(keys)
        return read(cur, keys)

    monkeypatch.setattr(keptfacts, name, recording)
    return asked


@pytest.fixture
def fact_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The commits the kept facts read through the ``commit_facts`` index, a list a read."""
    return _recorded(monkeypatch, "fetch_facts")


def _deployments_seqs(ledger: Ledger) -> list[int]:
    rows = ledger.cursor().execute("SELECT event_seq FROM deployments ORDER BY 1").fetchall()
    return [seq for (seq,) in rows]


def _releases(s: Story, first: int, count: int, minutes: float) -> None:
    """``count`` deployments, each shipping four commits (one shared with the one before)
    in two repos, their changes written before them and some reviews only after."""
    for n in range(first, first + count):
        commits = [4 * n, 4 * n + 1, 4 * n + 2, 4 * (n - 1) + 3]
        for at, c in enumerate(commits[:3]):
            # Facts of one event: a change with two AI tools.
            ai = [{"tool": "cursor", "mode": "agent", "lines": 5}] if c % 3 == 0 else []
            ai += [{"tool": "copilot", "mode": "completion", "lines": 2}] if c % 6 == 0 else []
            s.change(
                c,
                JUNIOR if c % 2 else DEV,
                minutes - 30,
                repo=REPOS[at % 2],
                message=HOSTILE if c % 5 == 0 else f"change {c}",
                files=[f"src/f{c}.py"],
                lines_added=c % 97,
                ai=ai,
            )
            if c % 4 == 0:
                s.review(c, SENIOR, minutes - 10, repo=REPOS[at % 2])
        s.deploy(
            f"rel-{n}",
            "checkout",
            "prod",
            minutes,
            repo=REPOS[n % 2],
            commits=[sha(c) for c in commits],
        )
        minutes += 1


def _late_reviews(s: Story, first: int, count: int, minutes: float) -> None:
    for n in range(first, first + count):
        s.review(4 * n + 1, PRINCIPAL, minutes, repo=REPOS[1], decision="changes_requested")


def _additions(ledger: Ledger) -> int:
    return ledger.cursor().execute("SELECT count(*) FROM commit_pack_additions").fetchall()[0][0]


def _assert_packs_match(ledger: Ledger) -> int:
    """Every packed deployment reads back as the index gives it; returns how many."""
    cur = ledger.cursor()
    seqs = _deployments_seqs(ledger)
    packed = read_packs(cur, seqs)
    done = [seq for seq in seqs if packed.packed(seq)]
    for seq in done:
        named = [(repo, commit) for _, repo, commit in changes.fetch_named(cur, [seq])]
        assert packed.named[seq] == named, seq
    commits = sorted({commit for seq in done for _, commit in packed.named[seq]})
    expected = {commit: [] for commit in commits}
    for row in changes.fetch_facts(cur, commits):
        if row["event_seq"] <= packed.marks.facts_through:
            expected[row["commit"]].append(row)
    assert packed.facts == expected
    return len(done)


def test_passes_smaller_than_the_ledger_and_facts_after_packing_read_back_exactly(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.duckdb"
    s = Story()
    s.people({DEV: "mid", SENIOR: "senior", PRINCIPAL: "principal", JUNIOR: "junior"})
    # A deployment naming a commit twice, which a later review is about.
    s.deploy("rel-twice", "checkout", "prod", -6000, repo=REPOS[1], commits=[sha(5), sha(5)])
    _releases(s, 1, 30, -5000)
    ledger = Ledger.open(path, migrate=True)
    try:
        write_direct(ledger, s.events)
        assert marks(ledger.cursor()).deployments_through == -1
        assert unpacked(ledger.cursor()) == 31
        first = pack(ledger.cursor(), most=7)
        assert _assert_packs_match(ledger) == 7
        assert unpacked(ledger.cursor()) == 24
        assert first.facts_through >= 0
    finally:
        ledger.close()

    # Later: reviews of commits packed already, new releases, passes on a reopened file.
    later = Story()
    _late_reviews(later, 1, 12, -100)
    _releases(later, 31, 9, -90)
    ledger = Ledger.open(path, migrate=True)
    try:
        assert marks(ledger.cursor()) == first  # the marks outlive the process
        write_direct(ledger, later.events)
        pack(ledger.cursor(), most=7)
        assert _additions(ledger) > 0  # late reviews of the first seven deployments
        assert _assert_packs_match(ledger) == 14
        final = pack_all(ledger.cursor(), most=7)
        assert _assert_packs_match(ledger) == 40
        assert unpacked(ledger.cursor()) == 0
        assert pack(ledger.cursor(), most=7) == final  # nothing new: nothing written
    finally:
        ledger.close()


def test_packed_facts_carry_their_events_ids_and_those_packed_without_are_looked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[list[dict]] = []

    def recorded_origins(cur, rows):
        looked_up.append(list(rows))
        return changes.with_origins(cur, rows)

    monkeypatch.setattr(packs, "with_origins", recorded_origins)
    s = Story()
    s.people({DEV: "mid", SENIOR: "senior", PRINCIPAL: "principal", JUNIOR: "junior"})
    _releases(s, 1, 6, -500)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, s.events)
        cur = ledger.cursor()
        pack_all(cur)
        assert _assert_packs_match(ledger) == 6
        assert looked_up and all(rows == [] for rows in looked_up)  # no event read
        shown = cur.execute(
            "SELECT count(*) FROM commit_packs, unnest(CAST(facts AS JSON[])) AS f(fact) "
            "WHERE fact->>'fact' = 'reviewed' AND fact->>'event_id' LIKE 'rev-%'"
        ).fetchall()[0][0]
        assert shown > 0
        # As an earlier provledger packed them: without the events' ids and origins.
        cur.execute(
            "UPDATE commit_packs SET facts = CAST(list_transform(CAST(facts AS JSON[]), "
            'lambda fact: json_merge_patch(fact, \'{"event_id": null, "origin": null}\')) '
            "AS JSON)::VARCHAR"
        )
        looked_up.clear()
        assert _assert_packs_match(ledger) == 6
        assert any(rows for rows in looked_up)
    finally:
        ledger.close()


def _answers(ledger: Ledger) -> dict[str, object]:
    cur = ledger.cursor()
    incidents = [i for (i,) in cur.execute("SELECT DISTINCT incident FROM incidents").fetchall()]
    assert len(incidents) >= 20
    return {i: suspects_for(cur, i, timedelta(hours=24), 10) for i in sorted(incidents)}


def test_suspects_answer_the_same_from_packs_and_read_nothing_packed_through_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fact_reads: list[list[str]]
) -> None:
    named_reads = _recorded(monkeypatch, "fetch_named")

    packed_commits: set[str] = set()

    def recorded_packs(cur, seqs: list[int], ai_of: list[int] | None = None):
        found = read_packs(cur, seqs, ai_of)
        packed_commits.update(found.facts)
        return found

    monkeypatch.setattr(keptfacts, "read_packs", recorded_packs)
    plain = Ledger.open(tmp_path / "plain.duckdb", migrate=True)
    packed = Ledger.open(tmp_path / "packed.duckdb", migrate=True)
    try:
        for ledger in (plain, packed):
            write_direct(ledger, scenario_story().events)
        expected = _answers(plain)
        assert named_reads and fact_reads  # the plain ledger reads the old way
        pack_all(packed.cursor(), most=5)
        named_reads.clear()
        fact_reads.clear()
        assert _answers(packed) == expected
        assert named_reads == []
        # What the packs gave is not read again through the index; other commits are (those
        # a merge or an artifact brought in, or a configuration change was applied from).
        assert packed_commits and fact_reads
        assert not packed_commits & {commit for read in fact_reads for commit in read}
    finally:
        plain.close()
        packed.close()


def test_a_fact_written_after_its_deployment_was_packed_counts_at_once_and_after_the_next_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fact_reads: list[list[str]]
) -> None:
    s = Story()
    s.people({DEV: "mid", SENIOR: "senior", JUNIOR: "junior"})
    s.change(1, JUNIOR, -300, ai=[{"tool": "claude-code", "mode": "agent"}], lines_added=400)
    s.deploy("dep-1", "checkout", "prod", -20, repo="shop/checkout", commit=sha(1))
    s.incident("INC-P", ["checkout"])
    path = tmp_path / "ledger.duckdb"
    ledger = Ledger.open(path, migrate=True)
    try:
        write_direct(ledger, s.events)
        pack_all(ledger.cursor())

        def reviews() -> list[str]:
            found = suspects_for(ledger.cursor(), "INC-P", timedelta(hours=24), 10)
            assert found is not None
            return [r["reviewer"] for r in found[1][0]["changes"][0]["reviews"]]

        assert reviews() == []
        assert fact_reads == []  # from the pack
        late = Story()
        late.review(1, SENIOR, -10)
        write_direct(ledger, late.events)
        assert reviews() == [SENIOR]  # past the packs' mark: read through the index
        assert fact_reads == [[sha(1)]]
        pack_all(ledger.cursor())
        assert _additions(ledger) == 1
    finally:
        ledger.close()
    # A new process (nothing kept) reads the review from the pass's addition.
    monkeypatch.setattr(keptfacts, "_KEPT", {})
    fact_reads.clear()
    ledger = Ledger.open(path, migrate=True)
    try:
        found = suspects_for(ledger.cursor(), "INC-P", timedelta(hours=24), 10)
        assert found is not None
        assert [r["reviewer"] for r in found[1][0]["changes"][0]["reviews"]] == [SENIOR]
        assert fact_reads == []
    finally:
        ledger.close()


def test_a_configuration_changes_commit_and_ai_tools_come_with_the_packs_and_a_late_review_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fact_reads: list[list[str]]
) -> None:
    tool_reads = _recorded(monkeypatch, "config_ai")
    s = Story()
    s.people({DEV: "mid", SENIOR: "senior", JUNIOR: "junior"})
    s.change(7, JUNIOR, -300, repo="shop/infra", ai=[{"tool": "claude-code", "mode": "agent"}])
    applied = {"repo": "shop/infra", "commit": sha(7), "key": "aws_lb.payments"}
    s.config("tf-apply", -15, "infrastructure", "payments", "prod", action="update", **applied)
    two_tools = [{"tool": "cursor", "model": "m-1", "lines": 3}, {"tool": "claude-code"}]
    s.config("flag-flip", -14, service="payments", key="new-checkout", to=True, ai=two_tools)
    s.incident("INC-C", ["payments"])
    path = tmp_path / "ledger.duckdb"

    def answer(ledger: Ledger) -> list[dict]:
        found = suspects_for(ledger.cursor(), "INC-C", timedelta(hours=24), 10)
        assert found is not None
        return found[1]

    def applied_from(ledger: Ledger) -> dict:
        [change] = next(c for c in answer(ledger) if c["event_id"] == "tf-apply")["changes"]
        return change

    ledger = Ledger.open(path, migrate=True)
    try:
        write_direct(ledger, s.events)
        expected = answer(ledger)
        assert fact_reads == [[sha(7)]]  # not packed yet: through the index
        assert tool_reads  # and the AI tools by a statement of their own
        assert unpacked(ledger.cursor()) == 1  # the change without a commit is not taken
        pack_all(ledger.cursor())
        monkeypatch.setattr(keptfacts, "_KEPT", {})
        fact_reads.clear()
        tool_reads.clear()
        assert answer(ledger) == expected
        flag = next(c for c in expected if c["event_id"] == "flag-flip")
        assert [(t["tool"], t["model"], t["lines"]) for t in flag["config"]["ai"]] == [
            ("cursor", "m-1", 3),
            ("claude-code", None, None),
        ]
        assert applied_from(ledger)["author"] == JUNIOR
        assert fact_reads == []  # from the change's pack
        assert tool_reads == []  # with the packs' statement
        seq_of = dict(
            ledger.cursor().execute("SELECT event_id, event_seq FROM config_changes").fetchall()
        )
        asked = [seq_of["tf-apply"], seq_of["flag-flip"]]
        # Only the changes asked for their AI tools get them, [] when they have none.
        tools = read_packs(ledger.cursor(), asked, asked).ai
        assert [len(tools[seq]) for seq in asked] == [0, 2]
        assert read_packs(ledger.cursor(), asked, [seq_of["tf-apply"]]).ai == {asked[0]: []}
        assert read_packs(ledger.cursor(), asked).ai == {}
        late = Story()
        late.review(7, SENIOR, -10, repo="shop/infra")
        write_direct(ledger, late.events)
        pack_all(ledger.cursor())
        assert _additions(ledger) == 1
    finally:
        ledger.close()
    monkeypatch.setattr(keptfacts, "_KEPT", {})
    ledger = Ledger.open(path, migrate=True)
    try:
        reviewed = applied_from(ledger)
        assert [r["reviewer"] for r in reviewed["reviews"]] == [SENIOR]
        assert fact_reads == []  # the review from the pass's addition
    finally:
        ledger.close()


def test_a_configuration_change_an_earlier_provledger_did_not_pack_is_read_whole(
    tmp_path: Path,
) -> None:
    s = Story()
    s.people({DEV: "mid", SENIOR: "senior", JUNIOR: "junior"})
    s.change(7, JUNIOR, -300, repo="shop/infra", ai=[{"tool": "claude-code", "mode": "agent"}])
    s.config(
        "tf-apply", -15, "infrastructure", "payments", "prod", commit=sha(7), repo="shop/infra"
    )
    s.incident("INC-O", ["payments"])
    late = Story()
    late.review(7, SENIOR, -10, repo="shop/infra")
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, s.events)
        cur = ledger.cursor()
        pack_all(cur)
        # As a provledger that packed deployments only left it: the change below the marks,
        # without a pack; a later pass still adds the review to it.
        cur.execute("DELETE FROM commit_packs WHERE commit = ?", [sha(7)])
        write_direct(ledger, late.events)
        pack_all(cur)
        assert _additions(ledger) == 1
        found = suspects_for(cur, "INC-O", timedelta(hours=24), 10)
        assert found is not None
        [change] = next(c for c in found[1] if c["event_id"] == "tf-apply")["changes"]
        assert change["author"] == JUNIOR and change["ai"][0]["tool"] == "claude-code"
        assert [r["reviewer"] for r in change["reviews"]] == [SENIOR]
    finally:
        ledger.close()


def test_the_packer_packs_behind_a_writer(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    packer = Packer(ledger, look_every_s=0.05, at_least=5, idle_s=3600, most=4)
    try:
        packer.start()
        s = Story()
        s.people({DEV: "mid", SENIOR: "senior", JUNIOR: "junior"})
        _releases(s, 1, 40, -5000)
        writer = threading.Thread(
            target=lambda: [write_direct(ledger, [e]) for e in s.events], daemon=True
        )
        writer.start()
        writer.join(timeout=120)
        assert not writer.is_alive()
        deadline = time.monotonic() + 60
        while unpacked(ledger.cursor()) >= 5:  # fewer wait for the idle pass, an hour away
            assert time.monotonic() < deadline, marks(ledger.cursor())
            time.sleep(0.05)
        assert _assert_packs_match(ledger) >= 36
    finally:
        packer.stop()
        ledger.close()


def test_a_snapshot_holds_the_packs_empty_and_reads_the_old_way(tmp_path: Path) -> None:
    s = Story()
    s.people({DEV: "mid", SENIOR: "senior", JUNIOR: "junior"})
    _releases(s, 1, 6, -500)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        write_direct(ledger, s.events)
        pack_all(ledger.cursor())
        info = write_snapshot(ledger.cursor(), tmp_path / "copy.duckdb")
    finally:
        ledger.close()
    assert {table: info.tables[table] for table in TABLES} == dict.fromkeys(TABLES, 0)
    copy = Ledger.open(tmp_path / "copy.duckdb", read_only=True)
    try:
        assert marks(copy.cursor()) == Marks(-1, -1)
        assert _assert_packs_match(copy) == 0
        seqs = _deployments_seqs(copy)
        assert read_packs(copy.cursor(), seqs).named == {}
    finally:
        copy.close()


def test_a_failed_pass_is_logged_and_the_next_takes_half_as_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sizes: list[int] = []

    def failing_once(cur, most: int):
        sizes.append(most)
        if len(sizes) == 1:
            raise duckdb.OutOfMemoryException("injected: the pass did not fit")
        return pack(cur, most)

    monkeypatch.setattr(packer_module, "pack", failing_once)
    s = Story()
    s.people({DEV: "mid", SENIOR: "senior", JUNIOR: "junior"})
    _releases(s, 1, 10, -500)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    packer = Packer(ledger, look_every_s=0.05, at_least=1, idle_s=3600, most=8)
    try:
        write_direct(ledger, s.events)
        packer.start()
        deadline = time.monotonic() + 30
        while unpacked(ledger.cursor()):
            assert time.monotonic() < deadline, sizes
            time.sleep(0.05)
    finally:
        packer.stop()
        ledger.close()
    assert sizes[:3] == [8, 4, 4]
    assert "packing commit facts failed; the next pass takes 4 deployments" in caplog.text


def test_stopping_the_packer_interrupts_a_pass_under_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()

    def endless_pass(cur, most: int):
        started.set()
        cur.begin()
        cur.execute("SELECT count(*) FROM range(1000000000000) AS t(n) WHERE n % 7 = 3")
        raise AssertionError("the pass was not interrupted")

    monkeypatch.setattr(packer_module, "pack", endless_pass)
    s = Story()
    s.people({DEV: "mid", JUNIOR: "junior"})
    _releases(s, 1, 3, -500)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    packer = Packer(ledger, look_every_s=0.05, at_least=1, idle_s=3600)
    try:
        write_direct(ledger, s.events)
        packer.start()
        assert started.wait(30)
        began = time.monotonic()
        packer.stop()
        assert time.monotonic() - began < 10
        assert not packer._thread.is_alive()
        write_direct(ledger, Story().events)  # the ledger still writes
    finally:
        ledger.close()
