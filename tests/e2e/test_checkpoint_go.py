"""Independent verification (issue #14 item 4): what a real `provledger serve` signs and
proves is checked by code this project did not write (tests/go/verifynote): Go's
golang.org/x/mod/sumdb/note for the signature and sumdb/tlog for every hash, on a topic of 3
partitions (a tree per partition, a head over them). A checkpoint, the consistency of two
checkpoints, and the inclusion of an accepted event and of a dead letter must verify there;
a changed note or proof must fail there too, with its reason.

Without Go the test fails under CI and is skipped elsewhere."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaProducer

from tests.support.servers import Running

VERIFIER_SOURCE = Path(__file__).resolve().parents[1] / "go" / "verifynote"
PARTITIONS = 3


def _go() -> str:
    found = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("go is not installed: the independent checkpoint check cannot run")
        pytest.skip("go is not installed")
    return found


@pytest.fixture(scope="module")
def verifynote(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/go/verifynote built once; its modules come from GOPROXY as the environment sets."""
    binary = tmp_path_factory.mktemp("go") / "verifynote"
    flags = os.environ.get("GOFLAGS", "")
    built = subprocess.run(
        [_go(), "build", "-o", str(binary), "."],
        cwd=VERIFIER_SOURCE,
        env={**os.environ, "GOFLAGS": f"{flags} -mod=mod".strip()},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    return binary


@pytest.fixture
def topic(topic_factory: Callable[..., str]) -> str:
    return topic_factory(partitions=PARTITIONS)


class Signed:
    """A started server with a signing key, and the Go verifier for its log."""

    def __init__(self, running: Running, binary: Path, verifier_key: str) -> None:
        self.running = running
        self.binary = binary
        self.verifier_key = verifier_key
        self.origin = f"provledger/{running.env['PROVLEDGER_TOPIC']}"
        self.identity = ("-key", verifier_key, "-origin", self.origin)

    def go(self, command: str, note: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), command, *self.identity, *extra, str(note)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def refuses(self, command: str, note: Path, *extra: str) -> str:
        """What Go says when it refuses (it must)."""
        refused = self.go(command, note, *extra)
        assert refused.returncode == 1, (refused.stdout, refused.stderr)
        assert refused.stdout == ""
        return refused.stderr

    def checkpoint(self, path: Path) -> Path:
        response = self.running.get("/v1/ledger/checkpoint")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        path.write_text(response.text)
        return path

    def proof(self, **wanted: Any) -> dict:
        response = self.running.get("/v1/ledger/proof", **wanted)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def signed(start_server, verifynote: Path, tmp_path: Path) -> Signed:
    key_file = tmp_path / "signing.key"
    running = start_server({"PROVLEDGER_SIGNING_KEY_FILE": str(key_file)})
    # The key file is read on each request: an unreadable one is a 503, never an unsigned note.
    missing = running.get("/v1/ledger/checkpoint")
    assert missing.status_code == 503, missing.text
    verifier_key = running.cli("keys", "create", "--out", str(key_file)).stdout.strip()
    return Signed(running, verifynote, verifier_key)


def _post_events(running: Running, first: int, count: int) -> None:
    """Events of 5 repos (the partition key), so that every partition gets some."""
    events = [
        {
            "specversion": "1.0",
            "id": f"go-check-{number}",
            "source": "test/go-check",
            "type": "dev.provledger.change.authored.v1",
            "time": datetime.now(UTC).isoformat(),
            "data": {
                "repo": f"shop/go-{number % 5}",
                "commit": f"{number:040x}",
                "author": {"id": "a@x.io"},
            },
        }
        for number in range(first, first + count)
    ]
    response = httpx.post(f"{running.url}/v1/events", json=events, timeout=30)
    assert response.status_code == 202, response.text
    running.wait_for_events(first + count)


def _flipped(b64: str) -> str:
    raw = base64.b64decode(b64)
    return base64.b64encode(bytes([raw[0] ^ 1]) + raw[1:]).decode()


def _flip(document: Any, *where: str | int) -> Any:
    """A copy of the document with one bit changed in the base64 at ``where``."""
    changed = json.loads(json.dumps(document))
    *steps, last = where
    holder = changed
    for step in steps:
        holder = holder[step]
    holder[last] = _flipped(holder[last])
    return changed


def _write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_go_verifies_the_signed_checkpoints_and_their_consistency(
    signed: Signed, tmp_path: Path
) -> None:
    running = signed.running
    _post_events(running, 0, 10)
    old = signed.checkpoint(tmp_path / "old.note")
    shown = signed.go("checkpoint", old)
    assert shown.returncode == 0, shown.stderr
    size, root, partitions = shown.stdout.splitlines()
    assert size == "size 10"
    assert root == f"root {old.read_text().splitlines()[2]}"
    pairs = dict(pair.split(":") for pair in partitions.removeprefix("partitions ").split())
    assert sorted(pairs) == ["0", "1", "2"] and sum(map(int, pairs.values())) == 10, partitions

    _post_events(running, 10, 7)
    new = signed.checkpoint(tmp_path / "new.note")
    verified = httpx.post(
        f"{running.url}/v1/ledger/verify", json={"since": old.read_text()}, timeout=60
    ).json()
    assert verified["ok"] and verified["size"] == 17, (verified, running.output.text[-5000:])
    # Ed25519 is deterministic: the verified head signs to the very note the route served.
    assert verified["signed_checkpoint"] == new.read_text()
    # So does `verify --checkpoint`, which asks the server holding the file.
    assert running.cli("verify", "--checkpoint").stdout == new.read_text()
    proof = _write_json(tmp_path / "proof.json", verified["proof"])

    checked = signed.go("consistency", new, "-old", str(old), "-proof", str(proof))
    assert checked.returncode == 0, checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[-1] == "consistent from 10 to 17"
    assert [line.split()[1] for line in lines[:-1]] == ["0", "1", "2"]
    _consistency_refusals(signed, tmp_path, old, new, verified["proof"])


def _consistency_refusals(
    signed: Signed, tmp_path: Path, old: Path, new: Path, parts: list[dict]
) -> None:
    forged = tmp_path / "forged.note"
    forged.write_text(new.read_text().replace("\n17\n", "\n18\n", 1))
    assert "invalid signature for key" in signed.refuses("checkpoint", forged)

    grown = next(i for i, part in enumerate(parts) if part["new_size"] > part["old_size"])
    bad_proof = _write_json(tmp_path / "bad-proof.json", _flip(parts, grown, "proof", 0))
    reason = signed.refuses("consistency", new, "-old", str(old), "-proof", str(bad_proof))
    part = parts[grown]
    assert (
        f"partition {part['partition']}: consistency from {part['old_size']} to "
        f"{part['new_size']}: invalid transparency proof" in reason
    )

    bad_root = _write_json(tmp_path / "bad-root.json", _flip(parts, 0, "old_root"))
    reason = signed.refuses("consistency", new, "-old", str(old), "-proof", str(bad_root))
    assert "old.note: the partition roots of the proof give root" in reason

    # The proof from `old` proves nothing from `new`, whose sizes it does not have.
    proof = _write_json(tmp_path / "proof-again.json", parts)
    reason = signed.refuses("consistency", new, "-old", str(new), "-proof", str(proof))
    assert "the proof has partition 0 at" in reason


def _produce(running: Running, partition: int, value: bytes | None, header: bytes) -> int:
    """A record straight to the topic (the ledger keeps a dead letter for what is not an
    event): its offset."""
    producer = KafkaProducer(bootstrap_servers=running.env["PROVLEDGER_KAFKA_BOOTSTRAP"])
    try:
        sent = producer.send(
            running.env["PROVLEDGER_TOPIC"],
            key=b"go-check-garbage",
            value=value,
            headers=[("x-go-check", header)],
            partition=partition,
        )
        return sent.get(timeout=30).offset
    finally:
        producer.close()


def _digest_lookalike() -> tuple[bytes, bytes]:
    """A value X, and a header that makes the entry of a record with a null value end as the
    entry of a record with value X would: 0x01 || SHA-256(X), its last byte the 0x00 that
    stands for the null value."""
    candidates = (b'{"forged": %d}' % number for number in itertools.count())
    value = next(v for v in candidates if hashlib.sha256(v).digest()[-1] == 0)
    return value, b"\x01" + hashlib.sha256(value).digest()[:-1]


def test_go_verifies_inclusion_of_an_event_and_of_a_dead_letter(
    signed: Signed, tmp_path: Path
) -> None:
    running = signed.running
    _post_events(running, 0, 8)
    before = signed.checkpoint(tmp_path / "before.note")
    dead_offset = _produce(running, 1, b"{not json", b"garbage")
    lookalike_value, lookalike_header = _digest_lookalike()
    null_offset = _produce(running, 0, None, lookalike_header)
    assert running.wait_for_events(10)["dead_letters"] == 2

    event = signed.proof(source="test/go-check", id="go-check-3")
    note = tmp_path / "head.note"
    note.write_text(event["checkpoint"])
    # The proof's checkpoint is the head the route serves, signed alike.
    assert signed.checkpoint(tmp_path / "served.note").read_text() == note.read_text()
    event_file = _write_json(tmp_path / "event.json", event)
    checked = signed.go("inclusion", note, "-proof", str(event_file))
    assert checked.returncode == 0, checked.stderr
    record = event["record"]
    assert record["outcome"] == "accepted" and record["value"] is not None
    assert checked.stdout == (
        f"partition {record['partition']} offset {record['offset']} (index {record['index']}) "
        "is in the log of 10 records; its value matches the entry's digest\n"
    )

    dead = signed.proof(partition=1, offset=dead_offset)
    assert dead["record"]["dead_letter"] is not None and dead["record"]["value"] is None
    checked = signed.go("inclusion", note, "-proof", str(_write_json(tmp_path / "dead.json", dead)))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"partition 1 offset {dead_offset} (index ")
    assert checked.stdout.endswith(" is in the log of 10 records; no value shown\n")

    # A record with no value cannot be shown with one, whatever its last 33 bytes look like.
    null = signed.proof(partition=0, offset=null_offset)
    null["record"]["value"] = base64.b64encode(lookalike_value).decode()
    reason = signed.refuses(
        "inclusion", note, "-proof", str(_write_json(tmp_path / "null.json", null))
    )
    assert "a value is shown, but the entry's record has none" in reason

    # A proof against the head of 10 records says nothing of the checkpoint of 8.
    reason = signed.refuses("inclusion", before, "-proof", str(event_file))
    assert "get a proof against this checkpoint" in reason
    _inclusion_refusals(signed, tmp_path, note, event)


def _inclusion_refusals(signed: Signed, tmp_path: Path, note: Path, proof: dict) -> None:
    path = tmp_path / "changed.json"

    def reason(changed: dict) -> str:
        return signed.refuses("inclusion", note, "-proof", str(_write_json(path, changed)))

    other = json.loads(json.dumps(proof))
    value = base64.b64decode(proof["record"]["value"]).replace(b"a@x.io", b"b@x.io")
    other["record"]["value"] = base64.b64encode(value).decode()
    assert "the value shown is not the one the entry commits to" in reason(other)
    other = json.loads(json.dumps(proof))
    other["record"]["offset"] += 1
    assert "the entry names partition" in reason(other)
    changed = _flip(proof, "record", "entry")
    assert "leaf_hash is not SHA-256(0x00 || entry)" in reason(changed)
    message = reason(_flip(proof, "partition_proof", "root"))
    assert "audit path" in message and "does not lead to its partition's root" in message
    changed = _flip(proof, "head_proof", "path", 0)
    assert "does not lead to the checkpoint's root: invalid transparency proof" in reason(changed)

    forged = tmp_path / "forged.note"
    forged.write_text(note.read_text().replace("\n10\n", "\n11\n", 1))
    proof_file = _write_json(tmp_path / "intact.json", proof)
    assert "invalid signature for key" in signed.refuses(
        "inclusion", forged, "-proof", str(proof_file)
    )
