"""Independent verification (issue #14 item 4): the checkpoints a real `provledger serve`
signs are checked by code this project did not write, Go's golang.org/x/mod/sumdb/note for
the signature and sumdb/tlog for the tree head and the RFC 6962 consistency proof between two
checkpoints (tests/go/verifynote). A changed note or proof must fail there too.

Without Go the test fails under CI and is skipped elsewhere."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support.servers import Running

VERIFIER_SOURCE = Path(__file__).resolve().parents[1] / "go" / "verifynote"


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


def _post_events(running: Running, first: int, count: int) -> None:
    events = [
        {
            "specversion": "1.0",
            "id": f"go-check-{number}",
            "source": "test/go-check",
            "type": "dev.provledger.change.authored.v1",
            "time": datetime.now(UTC).isoformat(),
            "data": {"repo": "shop/go", "commit": f"{number:040x}", "author": {"id": "a@x.io"}},
        }
        for number in range(first, first + count)
    ]
    response = httpx.post(f"{running.url}/v1/events", json=events, timeout=30)
    assert response.status_code == 202, response.text
    running.wait_for_events(first + count)


def _checkpoint(running: Running) -> str:
    response = running.get("/v1/ledger/checkpoint")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def _check(binary: Path, key: str, origin: str, note: Path, *extra: str):
    return subprocess.run(
        [str(binary), "-key", key, "-origin", origin, *extra, str(note)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_go_verifies_the_signed_checkpoints_and_their_consistency(
    start_server, verifynote: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "signing.key"
    running = start_server({"PROVLEDGER_SIGNING_KEY_FILE": str(key_file)})
    # The key file is read on each request: an unreadable one is a 503, never an unsigned note.
    missing = running.get("/v1/ledger/checkpoint")
    assert missing.status_code == 503, missing.text
    verifier_key = running.cli("keys", "create", "--out", str(key_file)).stdout.strip()
    origin = f"provledger/{running.env['PROVLEDGER_TOPIC']}"

    _post_events(running, 0, 5)
    old = tmp_path / "old.note"
    old.write_text(_checkpoint(running))
    _post_events(running, 5, 7)
    new = tmp_path / "new.note"
    new.write_text(_checkpoint(running))
    verified = httpx.post(
        f"{running.url}/v1/ledger/verify", json={"since": old.read_text()}, timeout=60
    ).json()
    assert verified["ok"] and verified["size"] == 12, verified
    # Ed25519 is deterministic: the verified head signs to the very note the route served.
    assert verified["signed_checkpoint"] == new.read_text()
    # So does `verify --checkpoint`, which asks the server holding the file.
    assert running.cli("verify", "--checkpoint").stdout == new.read_text()
    proof = tmp_path / "proof"
    proof.write_text("".join(f"{hash_}\n" for hash_ in verified["proof"]))

    checked = _check(verifynote, verifier_key, origin, new, "-old", str(old), "-proof", str(proof))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines() == [
        "size 12",
        f"root {verified['root']}",
        "consistent from 5 to 12",
    ]

    forged = tmp_path / "forged.note"
    forged.write_text(new.read_text().replace("\n12\n", "\n13\n", 1))
    refused = _check(verifynote, verifier_key, origin, forged)
    assert refused.returncode == 1
    assert "invalid signature for key" in refused.stderr

    bad_proof = tmp_path / "bad-proof"
    first = base64.b64decode(verified["proof"][0])
    changed = [base64.b64encode(bytes([first[0] ^ 1]) + first[1:]).decode(), *verified["proof"][1:]]
    bad_proof.write_text("".join(f"{hash_}\n" for hash_ in changed))
    inconsistent = _check(
        verifynote, verifier_key, origin, new, "-old", str(old), "-proof", str(bad_proof)
    )
    assert inconsistent.returncode == 1
    assert "consistency from 5 to 12" in inconsistent.stderr
