"""The log defined by the topic, end to end on the real broker with `provledger serve`: a
rebuild from a 3-partition topic has the very same head (so a kept checkpoint still proves
growth), inclusion proofs (events and dead letters) verify offline before and after it, a
tampered proof does not, GET /v1/ledger/proof answers over HTTP, a file from before the log
is refused by serve and migrated by `provledger rebuild`, and an event row rewritten with its
hashes is caught by the record value the log holds, whichever mode carried it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import duckdb
import httpx
import pytest

from provenance_ledger.ledger import proofs, signednote
from provenance_ledger.ledger.checkpoint import parse
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from tests.support import eventmix
from tests.support.ledgerproc import ConsumerThread, cli, produce
from tests.support.servers import (
    Running,
    free_port,
    launch_serve,
    server_env,
    start_provledger,
)
from tests.support.signedheads import create_signing_key
from tests.support.waiting import wait_until

POISON = (None, [], b"\xff not an event")


@pytest.fixture
def three_partitions(
    settings: Settings, topic_factory: Callable[..., str], tmp_path: Path
) -> tuple[Settings, dict[str, str], str]:
    """Settings on a fresh 3-partition topic, the CLI's environment with a signing key, and
    the key's verifier."""
    settings = replace(settings, topic=topic_factory(partitions=3))
    env = server_env(settings)
    key_file = tmp_path / "keys" / "signing.key"
    verifier_key = create_signing_key(settings, key_file)
    env["PROVLEDGER_SIGNING_KEY_FILE"] = str(key_file)
    return settings, env, verifier_key


def _serve(settings: Settings, env: dict[str, str]) -> Running:
    return launch_serve(
        settings, {"PROVLEDGER_SIGNING_KEY_FILE": env["PROVLEDGER_SIGNING_KEY_FILE"]}
    )


def _wait_for_records(running: Running, records: int) -> None:
    """Until the ledger has consumed ``records`` records (duplicates count, unlike /healthz)."""
    query = "SELECT coalesce(sum(next_offset), 0) FROM kafka_offsets"
    wait_until(lambda: running.sql(query)[0][0] >= records, 120, f"{records} records consumed")


def _prove(env: dict[str, str], folder: Path, name: str, *what: str) -> tuple[Path, Path]:
    """`provledger prove`: the proof's file and its checkpoint's."""
    proof, note = folder / f"{name}.json", folder / f"{name}.note"
    made = cli(env, "prove", *what, "--checkpoint-out", str(note))
    assert made.returncode == 0, made.stdout + made.stderr
    proof.write_text(made.stdout)
    return proof, note


def _verify_proof(env: dict[str, str], proof: Path, note: Path, key: str):
    return cli(env, "verify-proof", str(proof), "--checkpoint", str(note), "--key", key)


def _dead_letter(path: Path) -> tuple[int, int, str]:
    """(partition, offset, reason) of the poison record's dead letter."""
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT kafka_partition, kafka_offset, reason FROM dead_letters"
        ).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def _flip_a_hash(proof: Path, folder: Path) -> Path:
    document = json.loads(proof.read_text())
    path = document["partition_proof"]["path"]
    assert path, "a partition of hundreds of records has an audit path"
    node = bytearray(base64.b64decode(path[0]))
    node[0] ^= 0x01
    path[0] = base64.b64encode(bytes(node)).decode()
    tampered = folder / "tampered.json"
    tampered.write_text(json.dumps(document))
    return tampered


def test_a_rebuild_keeps_the_head_and_the_proofs_of_a_3_partition_topic(
    three_partitions, tmp_path: Path
) -> None:
    settings, env, key = three_partitions
    first = list(eventmix.messages(600, "avro", seed=41))
    produce(settings.kafka_bootstrap, settings.topic, [*first, POISON, first[5]])
    running = _serve(settings, env)
    try:
        _wait_for_records(running, 602)
        kept = tmp_path / "kept.note"
        # Through the server that holds the file.
        served = cli(running.env, "verify", "--checkpoint")
        assert served.returncode == 0, served.stdout + served.stderr
        kept.write_text(served.stdout)
        signed_off = signednote.open_note(kept.read_text(), signednote.parse_verifier_key(key))
        assert parse(signed_off).size == 602
        source, event_id = _named(first[7])
        served_proof, served_note = _prove(
            running.env, tmp_path, "served", "--source", source, "--id", event_id
        )
        assert _verify_proof(env, served_proof, served_note, key).returncode == 0
        produce(
            settings.kafka_bootstrap,
            settings.topic,
            list(eventmix.messages(300, "json", seed=42)),
        )
        _wait_for_records(running, 902)
    finally:
        running.stop()

    before = cli(env, "verify", "--checkpoint")
    assert before.returncode == 0, before.stderr
    assert "\n902\n" in before.stdout and "partitions 0:" in before.stdout
    source, event_id = _named(first[123])
    event_proof, event_note = _prove(env, tmp_path, "event", "--source", source, "--id", event_id)
    partition, offset, reason = _dead_letter(settings.db_path)
    dead_proof, dead_note = _prove(
        env, tmp_path, "dead", "--partition", str(partition), "--offset", str(offset)
    )
    proven = _verify_proof(env, event_proof, event_note, key)
    assert proven.returncode == 0, proven.stdout + proven.stderr
    assert f"is in the log of 902 records: event {source} {event_id} (" in proven.stdout
    dead = _verify_proof(env, dead_proof, dead_note, key)
    assert dead.returncode == 0, dead.stdout + dead.stderr
    assert f"partition {partition} offset {offset} is in the log of 902 records" in dead.stdout
    assert f"({reason}: " in dead.stdout  # the reason the ledger refused it for
    tampered = _verify_proof(env, _flip_a_hash(event_proof, tmp_path), event_note, key)
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert "audit path does not lead to its partition's root" in tampered.stderr

    rebuilt = cli(env, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "DIFFERS" not in rebuilt.stdout
    assert "log root: the same" in rebuilt.stdout
    assert cli(env, "verify", "--checkpoint").stdout == before.stdout
    grown = cli(env, "verify", "--since", str(kept), "--key", key)
    assert grown.returncode == 0, grown.stdout + grown.stderr
    assert "consistent: the ledger only grew since the checkpoint of size 602" in grown.stdout
    # The proofs made before the rebuild hold against its head, and new ones are made.
    for proof, note in ((event_proof, event_note), (dead_proof, dead_note)):
        assert _verify_proof(env, proof, note, key).returncode == 0
    again, again_note = _prove(env, tmp_path, "again", "--source", source, "--id", event_id)
    assert again_note.read_text() == event_note.read_text()
    assert _verify_proof(env, again, again_note, key).returncode == 0


def _attribute(message: tuple, name: str) -> str:
    """A CloudEvents attribute of an Avro message (binary mode: the ce_ headers)."""
    return dict(message[1])[f"ce_{name}"].decode()


def _named(message: tuple) -> tuple[str, str]:
    return _attribute(message, "source"), _attribute(message, "id")


def test_get_proof_over_http_is_checked_against_the_served_checkpoint(three_partitions) -> None:
    settings, env, key = three_partitions
    messages = list(eventmix.messages(90, "avro", seed=43))
    produce(settings.kafka_bootstrap, settings.topic, messages)
    running = _serve(settings, env)
    try:
        _wait_for_records(running, 90)
        source, event_id = _named(messages[17])
        answer = running.get("/v1/ledger/proof", source=source, id=event_id)
        assert answer.status_code == 200, answer.text
        note = running.get("/v1/ledger/checkpoint")
        assert note.status_code == 200, note.text
        checkpoint = parse(signednote.open_note(note.text, signednote.parse_verifier_key(key)))
        document = answer.json()
        assert document["checkpoint"] == note.text
        shown = proofs.check(document, checkpoint)
        record = document["record"]
        assert shown.startswith(
            f"partition {record['partition']} offset {record['offset']} is in the log of 90 "
        )
        assert f"event {source} {event_id} ({_attribute(messages[17], 'type')})" in shown
        assert "accepted" in shown
        by_place = running.get(
            "/v1/ledger/proof",
            partition=record["partition"],
            offset=record["offset"],
        )
        assert by_place.json()["record"] == record

        unknown = running.get("/v1/ledger/proof", source=source, id="no-such-id")
        assert unknown.status_code == 404
        assert unknown.json() == {
            "ok": False,
            "error": f"no record of the log is the event (source {source!r}, id 'no-such-id')",
            "status": 404,
        }
        for params in ({}, {"source": source}, {"partition": 0}):
            refused = running.get("/v1/ledger/proof", **params)
            assert refused.status_code == 422, (params, refused.text)
            body = refused.json()
            assert (body["ok"], body["status"]) == (False, 422)
            assert "source and id, or partition and offset" in body["error"]
    finally:
        running.stop()


def _ingest(settings: Settings, messages: list) -> None:
    produce(settings.kafka_bootstrap, settings.topic, messages)
    ledger = Ledger.open(settings.db_path, migrate=True)
    try:
        consumer = ConsumerThread(ledger, settings)
        wait_until(
            lambda: sum(ledger.committed_offsets(settings.topic).values()) == len(messages),
            120,
            "every record",
        )
        consumer.stop()
    finally:
        ledger.close()


def test_a_file_from_before_the_log_is_refused_by_serve_and_migrated_by_rebuild(
    three_partitions,
) -> None:
    settings, env, _ = three_partitions
    _ingest(settings, [*eventmix.messages(400, "avro", seed=44), POISON])
    current = cli(env, "verify", "--checkpoint")
    assert current.returncode == 0, current.stderr
    # What a file written before the log looks like: events, but no log of their records.
    with duckdb.connect(str(settings.db_path)) as conn:
        conn.execute("DELETE FROM log_heads")
        conn.execute("DELETE FROM log_records")
        conn.execute("DELETE FROM log_nodes")

    serve = start_provledger(["serve", "--port", str(free_port())], env)
    try:
        output, _ = serve.communicate(timeout=60)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert serve.returncode != 0, output
    assert "holds 400 events but no log of the records they came from" in output
    assert "provledger rebuild" in output

    migrated = cli(env, "rebuild")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "rebuilt 400 events" in migrated.stdout
    verified = cli(env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("ok: 401 records (400 events), root ")
    # The log the migration made is the one the ledger would have kept all along.
    assert cli(env, "verify", "--checkpoint").stdout == current.stdout
    running = _serve(settings, env)
    try:
        assert httpx.get(f"{running.url}/healthz", timeout=10).json()["events"] == 400
    finally:
        running.stop()


@pytest.mark.parametrize("fmt", ["json", "avro"])
def test_a_row_rewritten_with_its_hashes_is_caught_whatever_the_record_carried(
    settings: Settings, fmt: str
) -> None:
    """The ledger keeps the value of a record that is not its event's canonical JSON (every
    Avro record; not the JSON provledger's emitter sends, which is the canonical JSON): the
    row must be tied to the value either way."""
    _ingest(settings, list(eventmix.messages(40, fmt, seed=45)))
    env = server_env(settings)
    assert cli(env, "verify").returncode == 0
    with duckdb.connect(str(settings.db_path), read_only=True) as conn:
        kept = conn.execute("SELECT count(*) FROM log_records WHERE value IS NOT NULL").fetchone()
    assert kept == ((40,) if fmt == "avro" else (0,))
    forged = "replace(canonical, '\"ci/acme', '\"ci/evil')"
    with duckdb.connect(str(settings.db_path)) as conn:
        conn.execute(
            f"UPDATE events SET canonical = {forged}, "
            "source = replace(source, 'ci/acme', 'ci/evil') WHERE seq = 17"
        )
        conn.execute("UPDATE events SET content_hash = sha256(canonical) WHERE seq = 17")
    result = cli(env, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("TAMPERED: row seq 17 was changed")
