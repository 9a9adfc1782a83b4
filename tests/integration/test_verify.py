"""`provledger verify` on a real DuckDB file: it finds the first changed, inserted or deleted
row, and a consistency proof against a kept checkpoint fails after tampering and passes after
honest growth."""

from __future__ import annotations

import base64
import json
import signal
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from provenance_ledger.ledger import merkle, recordlog, verify_rows
from provenance_ledger.ledger.batch import Incoming
from provenance_ledger.ledger.checkpoint import parse
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.ledger.verify import verify
from provenance_ledger.query.cli.main import cli as cli_group
from provenance_ledger.schemas import avro
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix
from tests.support.ledgerproc import cli, fill, health, run_sql, start_serve
from tests.support.servers import free_port, server_env
from tests.support.waiting import wait_until


@pytest.fixture
def ledger_file(tmp_path: Path) -> tuple[Settings, dict[str, str]]:
    settings = replace(
        Settings(), db_path=tmp_path / "ledger.duckdb", topic="verify.test", group_id="verify-test"
    )
    ledger = Ledger.open(settings.db_path, migrate=True)
    fill(ledger, eventmix.events(300, seed=1), batch=64)
    ledger.close()
    return settings, server_env(settings)


def _leaves(path: Path) -> list[bytes]:
    """The log's leaves as ledgerproc.fill's records make them (partition 0, value = the
    canonical event), computed from the events table alone."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        rows = conn.execute("SELECT kafka_offset, canonical FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [
        merkle.leaf_hash(recordlog.record_entry(KafkaRecord("t", 0, offset, None, text.encode())))
        for offset, text in rows
    ]


def _root_of(leaves: list[bytes]) -> bytes:
    return recordlog.head_root([(0, len(leaves), merkle.root_from_leaves(leaves))])


def test_an_untouched_ledger_verifies_and_its_checkpoint_is_c2sp(ledger_file) -> None:
    settings, env = ledger_file
    result = cli(env, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    root = base64.b64encode(_root_of(_leaves(settings.db_path))).decode()
    assert result.stdout.strip() == f"ok: 300 records (300 events), root {root}"
    body = cli(env, "verify", "--checkpoint").stdout
    assert body == f"provledger/verify.test\n300\n{root}\npartitions 0:300\n"


@pytest.mark.parametrize(
    ("tamper", "kind"),
    [
        ('UPDATE events SET data = \'{"repo":"acme/other"}\' WHERE seq = 137', "changed"),
        ("UPDATE events SET source = 'ci/forged' WHERE seq = 137", "changed"),
        ("UPDATE events SET time = time + INTERVAL 1 HOUR WHERE seq = 137", "changed"),
        (
            "UPDATE events SET canonical = replace(canonical, '\"ci/acme', '\"ci/evil') "
            "WHERE seq = 137",
            "changed",
        ),
        ("DELETE FROM events WHERE seq = 137", "deleted"),
        # no longer JSON, or a time that no longer parses: reported, not a crash
        ("UPDATE events SET canonical = 'garbage' WHERE seq = 137", "changed"),
        (
            'UPDATE events SET canonical = regexp_replace(canonical, \'"time":"[^"]*"\', '
            '\'"time":"not a time"\') WHERE seq = 137',
            "changed",
        ),
    ],
)
def test_tampering_is_caught_at_the_row(ledger_file, tamper: str, kind: str) -> None:
    settings, env = ledger_file
    run_sql(settings.db_path, tamper)
    result = cli(env, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"TAMPERED: row seq 137 was {kind}")


def test_an_inserted_row_is_caught(ledger_file) -> None:
    settings, env = ledger_file
    run_sql(
        settings.db_path,
        "INSERT INTO events SELECT * REPLACE (300 AS seq, 'forged-1' AS id, "
        'replace(canonical, \'"id":"1-5"\', \'"id":"forged-1"\') AS canonical) '
        "FROM events WHERE seq = 5",
    )
    result = cli(env, "verify")
    assert result.returncode == 1
    assert result.stdout.startswith("TAMPERED: row seq 300 was inserted")
    assert "forged-1" in result.stdout


def test_a_row_rewritten_with_its_hashes_is_caught_by_its_record_in_the_log(ledger_file) -> None:
    settings, env = ledger_file
    forged = "replace(canonical, '\"ci/acme', '\"ci/evil')"
    run_sql(
        settings.db_path,
        f"UPDATE events SET canonical = {forged}, source = replace(source, 'ci/acme', 'ci/evil') "
        "WHERE seq = 137",
        "UPDATE events SET content_hash = sha256(canonical) WHERE seq = 137",
    )
    result = cli(env, "verify")
    assert result.returncode == 1
    assert result.stdout.startswith("TAMPERED: row seq 137 was changed")
    assert "not the value of the record the log holds" in result.stdout


def test_a_record_entry_rewritten_is_caught_by_the_stored_tree(ledger_file) -> None:
    settings, env = ledger_file
    leaves = _leaves(settings.db_path)
    forged = merkle.leaf_hash(b"forged entry")
    with duckdb.connect(str(settings.db_path)) as conn:
        conn.execute(
            "UPDATE log_records SET entry = ?, leaf_hash = ? WHERE idx = 137",
            [b"forged entry", forged],
        )
    assert leaves[137] != forged
    result = cli(env, "verify")
    assert result.returncode == 1
    assert result.stdout.startswith("TAMPERED: partition 0 record 137 was changed")


def _reseal(path: Path) -> None:
    """What a thorough attacker would do: recompute every hash so the file agrees with
    itself (the log rebuilt from the events rows as they now are). Only a checkpoint kept
    elsewhere can tell."""
    leaves = _leaves(path)
    conn = duckdb.connect(str(path))
    try:
        entries = [
            recordlog.record_entry(KafkaRecord("t", 0, offset, None, text.encode()))
            for offset, text in conn.execute(
                "SELECT kafka_offset, canonical FROM events ORDER BY seq"
            ).fetchall()
        ]
        conn.execute("UPDATE events SET content_hash = sha256(canonical)")
        conn.execute("DELETE FROM log_records")
        conn.executemany(
            "INSERT INTO log_records VALUES (0, ?, ?, ?, ?, 'accepted', ?, NULL)",
            [
                [seq, recordlog.entry_position(entry)[1], entry, leaf, seq]
                for seq, (entry, leaf) in enumerate(zip(entries, leaves, strict=True))
            ],
        )
        conn.execute(
            "UPDATE events SET leaf_hash = (SELECT leaf_hash FROM log_records r "
            "WHERE r.event_seq = events.seq)"
        )
        tree = merkle.CompactRange()
        nodes = [(0, *node) for leaf in leaves for node in tree.append(leaf)]
        conn.execute("DELETE FROM log_nodes")
        conn.executemany("INSERT INTO log_nodes VALUES (?, ?, ?, ?)", nodes)
        conn.execute("DELETE FROM log_heads")
        conn.execute(
            "INSERT INTO log_heads VALUES (?, ?, ?, ?, now())",
            [tree.size, _root_of(leaves), f"0:{tree.size}", tree.size],
        )
    finally:
        conn.close()


def test_consistency_with_a_kept_checkpoint(ledger_file, tmp_path: Path) -> None:
    settings, env = ledger_file
    kept = tmp_path / "checkpoint.txt"
    kept.write_text(cli(env, "verify", "--checkpoint").stdout)
    assert parse(kept.read_text()).size == 300

    ledger = Ledger.open(settings.db_path, migrate=True)
    fill(ledger, eventmix.events(77, seed=2), batch=30)
    ledger.close()
    grown = cli(env, "verify", "--since", str(kept))
    assert grown.returncode == 0, grown.stdout + grown.stderr
    assert "consistent: the ledger only grew since the checkpoint of size 300" in grown.stdout
    assert "partition 0: 300 -> 377 records, proof " in grown.stdout
    assert grown.stdout.rstrip().endswith("ok: 377 records (377 events), root " + _root(env))

    # Rewrite an old event and reseal every hash: the file agrees with itself again...
    run_sql(
        settings.db_path,
        "UPDATE events SET canonical = replace(canonical, '\"ci/acme', '\"ci/evil'), "
        "source = replace(source, 'ci/acme', 'ci/evil') WHERE seq = 42",
    )
    _reseal(settings.db_path)
    assert cli(env, "verify").returncode == 0
    # ...but not with what the auditor kept.
    rewritten = cli(env, "verify", "--since", str(kept))
    assert rewritten.returncode == 1
    assert "NOT CONSISTENT: the first records of the checkpoint (size 300)" in rewritten.stdout


def test_a_checkpoint_from_a_bigger_tree_means_the_ledger_shrank(ledger_file, tmp_path) -> None:
    settings, env = ledger_file
    kept = tmp_path / "checkpoint.txt"
    kept.write_text(cli(env, "verify", "--checkpoint").stdout)
    run_sql(settings.db_path, "DELETE FROM events WHERE seq >= 250")
    _reseal(settings.db_path)
    result = cli(env, "verify", "--since", str(kept))
    assert result.returncode == 1
    assert "the ledger shrank" in result.stdout


def _root(env: dict[str, str]) -> str:
    return cli(env, "verify").stdout.split()[-1]


def test_verify_goes_through_the_server_that_holds_the_file(settings: Settings) -> None:
    """DuckDB lets no other process open a file a server writes: verify asks the server."""
    ledger = Ledger.open(settings.db_path, migrate=True)
    fill(ledger, eventmix.events(120, seed=3), batch=50)
    ledger.close()
    port = free_port()
    env = server_env(settings, port)
    log = settings.db_path.with_name("serve.log")
    server = start_serve(env, port, log)
    try:
        wait_until(lambda: health(port) is not None, 30, "serve to answer")
        with pytest.raises(duckdb.IOException):
            duckdb.connect(str(settings.db_path), read_only=True)
        result = cli(env, "verify")
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("ok: 120 records (120 events), root ")
        body = cli(env, "verify", "--checkpoint").stdout
        assert body.startswith(f"provledger/{settings.topic}\n120\n")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def _random_bytes(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 40)


def _empty_duckdb(path: Path) -> None:
    duckdb.connect(str(path)).close()


def _other_apps_duckdb(path: Path) -> None:
    run_sql(
        path, "CREATE TABLE events (id INTEGER, name VARCHAR)", "INSERT INTO events VALUES (1, 'x')"
    )


NOT_LEDGERS = {
    "random bytes": _random_bytes,
    "an empty file": lambda path: path.write_bytes(b""),
    "an empty DuckDB database": _empty_duckdb,
    "another app's DuckDB database": _other_apps_duckdb,
    "a directory": lambda path: path.mkdir(),
}


@pytest.mark.parametrize("make", NOT_LEDGERS.values(), ids=NOT_LEDGERS.keys())
@pytest.mark.parametrize("command", ["verify", "rebuild"])
def test_a_file_that_is_not_a_ledger_is_a_one_line_local_failure(
    tmp_path: Path, make, command: str
) -> None:
    """Exit 5 (exit 1 means tampered), one line, no traceback; rebuild leaves the file alone."""
    path = tmp_path / "not-a-ledger.duckdb"
    make(path)
    before = path.read_bytes() if path.is_file() else None
    settings = replace(Settings(), db_path=path, topic="verify.test", group_id="verify-test")
    result = CliRunner().invoke(cli_group, [command], env=server_env(settings))
    assert result.exit_code == 5, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("provledger: ")]
    assert errors == [result.stderr.strip().splitlines()[-1]]
    assert f"{path} is not a provledger ledger" in errors[0]
    assert "Traceback" not in result.output
    if before is not None:
        assert path.read_bytes() == before
    assert not path.with_name(path.name + ".rebuild").exists()


def test_a_since_file_that_is_not_a_checkpoint_is_a_usage_error(ledger_file, tmp_path) -> None:
    _, env = ledger_file
    binary = tmp_path / "checkpoint.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = CliRunner().invoke(cli_group, ["verify", "--since", str(binary)], env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"provledger: {binary}: not a checkpoint")


def _binary_mode_ledger(path: Path, count: int, seed: int) -> None:
    """A ledger of ``count`` events sent in binary mode (Avro data, ce_* headers): the log
    keeps each record's value, which is not its event's canonical JSON."""
    ledger = Ledger.open(path, migrate=True)
    pending = []
    for offset, decoded in enumerate(eventmix.events(count, seed=seed)):
        headers, value = avro.binary_message(decoded)
        record = KafkaRecord("t", 0, offset, None, value, tuple(headers))
        pending.append(Incoming(record, decoded))
    ledger.write_batch(pending, [], {("t", 0): len(pending)})
    ledger.close()


def test_a_binary_mode_event_is_tied_to_its_avro_value(tmp_path: Path) -> None:
    """An event sent in binary mode (Avro data, ce_* headers) is not stored as its value:
    verify decodes the value the log kept and compares it with the row."""
    settings = replace(
        Settings(), db_path=tmp_path / "avro.duckdb", topic="verify.test", group_id="verify-avro"
    )
    _binary_mode_ledger(settings.db_path, 40, seed=8)
    env = server_env(settings)
    with duckdb.connect(str(settings.db_path), read_only=True) as conn:
        kept = conn.execute("SELECT count(*) FROM log_records WHERE value IS NOT NULL").fetchone()
    assert kept == (40,)
    assert cli(env, "verify").returncode == 0
    run_sql(
        settings.db_path,
        "UPDATE events SET canonical = replace(canonical, '\"ci/acme', '\"ci/evil'), "
        "source = replace(source, 'ci/acme', 'ci/evil') WHERE seq = 17",
        "UPDATE events SET content_hash = sha256(canonical) WHERE seq = 17",
    )
    result = cli(env, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("TAMPERED: row seq 17 was changed")
    assert "decodes to" in result.stdout


def test_a_partition_empty_at_the_checkpoint_is_in_the_proof_from_size_0(tmp_path: Path) -> None:
    """A verifier rebuilds the new root from the proof's parts alone, so a partition that
    had no record when the checkpoint was kept has its part too."""
    settings = replace(
        Settings(), db_path=tmp_path / "grow.duckdb", topic="verify.test", group_id="verify-grow"
    )
    events = list(eventmix.events(30, seed=11))

    def write(partition: int, decoded_events: list) -> None:
        ledger = Ledger.open(settings.db_path, migrate=True)
        start = ledger.committed_offsets("t").get(partition, 0)
        batch = [
            Incoming(KafkaRecord("t", partition, start + at, None, decoded.canonical), decoded)
            for at, decoded in enumerate(decoded_events)
        ]
        ledger.write_batch(batch, [], {("t", partition): start + len(batch)})
        ledger.close()

    write(0, events[:10])
    write(1, events[10:20])
    env = server_env(settings)
    kept = tmp_path / "kept.txt"
    kept.write_text(cli(env, "verify", "--checkpoint").stdout)
    assert kept.read_text().endswith("partitions 0:10 1:10\n")
    write(2, events[20:])
    result = cli(env, "verify", "--since", str(kept), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["consistent"] is True
    parts = {part["partition"]: part for part in report["proof"]}
    assert sorted(parts) == [0, 1, 2]
    assert (parts[2]["old_size"], parts[2]["new_size"], parts[2]["proof"]) == (0, 10, [])
    new_heads = [
        (p, part["new_size"], base64.b64decode(part["new_root"])) for p, part in parts.items()
    ]
    assert base64.b64encode(recordlog.head_root(new_heads)).decode() == report["root"]


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        ((), None),
        # Two ranges tampered: the first problem by seq is reported.
        (
            (
                "DELETE FROM events WHERE seq = 250",
                "UPDATE events SET source = 'ci/forged' WHERE seq = 137",
            ),
            ("row seq 137", "changed"),
        ),
        # On the first seq of a range, and on the last.
        (("DELETE FROM events WHERE seq = 144",), ("row seq 144", "deleted")),
        (("UPDATE events SET source = 'ci/forged' WHERE seq = 143",), ("row seq 143", "changed")),
        # A record that names a seq beyond every event row: the ranges reach it.
        (
            (
                "DELETE FROM events WHERE seq = 200",
                "UPDATE log_records SET event_seq = 5000 WHERE event_seq = 200",
            ),
            ("row seq 5000", "deleted"),
        ),
    ],
)
def test_rows_are_checked_a_range_of_seqs_at_a_time(
    ledger_file, monkeypatch: pytest.MonkeyPatch, tamper: tuple[str, ...], found
) -> None:
    """verify ties rows to the log a range of seqs at a time (so that its joins keep to its
    memory cap at any size): ranges of 16 over 300 events find what one range would."""
    monkeypatch.setattr(verify_rows, "ROW_SPAN", 16)
    settings, _ = ledger_file
    if tamper:
        run_sql(settings.db_path, *tamper)
    with duckdb.connect(str(settings.db_path), read_only=True) as conn:
        report = verify(conn.cursor(), settings.topic)
    problem = report.problem
    assert (None if problem is None else (problem.where, problem.kind)) == found


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        ((), None),
        # In two ranges of decoding: the first by seq is reported.
        (("UPDATE events SET subject = 'forged' WHERE seq IN (37, 100)",), "row seq 37"),
        # On the last seq of a range, and the first of the next.
        (("UPDATE events SET subject = 'forged' WHERE seq = 47",), "row seq 47"),
        (("UPDATE events SET subject = 'forged' WHERE seq = 48",), "row seq 48"),
    ],
)
def test_kept_values_are_decoded_a_range_of_seqs_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tamper: tuple[str, ...], found
) -> None:
    """verify decodes the values the log kept (Avro) a few seqs at a time: the join holds each
    event's canonical JSON and value, and a whole range of a million-event Avro ledger ran out
    of verify's memory cap. Ranges of 16 over 120 events find what one range would; the rows
    are rewritten with their hashes, so only decoding the value tells."""
    monkeypatch.setattr(verify_rows, "DECODE_SPAN", 16)
    path = tmp_path / "avro.duckdb"
    _binary_mode_ledger(path, 120, seed=12)
    if tamper:
        run_sql(
            path,
            *tamper,
            "UPDATE events SET canonical = json_merge_patch(canonical, "
            "json_object('subject', subject))::VARCHAR WHERE subject = 'forged'",
            "UPDATE events SET content_hash = sha256(canonical) WHERE subject = 'forged'",
        )
    with duckdb.connect(str(path), read_only=True) as conn:
        report = verify(conn.cursor(), "verify.test")
    problem = report.problem
    assert (None if problem is None else problem.where) == found
    if problem is not None:
        assert "decodes to" in problem.detail
